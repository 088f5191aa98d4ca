import { type CorruptFn, NEED_MORE, RdbByteReader } from './byte-reader.js';
import { CollectionDecoder, CollectionPhase } from './collection-decoder.js';
import { ModuleOpcode, RDB_VERSION_MAX, RdbOpcode, RdbType, valueTypeOf } from './constants.js';
import type { DecoderHost } from './decoder-host.js';
import { BlobCorruptError } from './encodings/blob-error.js';
import { printableKey, RdbError, RdbErrorCodes } from './errors.js';
import type { RdbEvent, RdbKeyInfo } from './events.js';
import { LzfError } from './lzf.js';
import { skipModuleValue } from './module-decoder.js';
import { decodeModuleId } from './module-id.js';
import { StreamDecoder } from './stream-decoder.js';

/*
 * The RDB parser, split as node-postgres splits pg-protocol: the byte level (buffering across
 * chunks, lengths, strings, CRC, raw capture) is byte-reader.ts; this file is the top level: the
 * header, the opcodes and the key dispatcher; the values are read by the type decoders
 * (collection-decoder.ts: lists, sets, sorted sets, hashes in every encoding; stream-decoder.ts;
 * module-decoder.ts).
 */

export interface RdbParserOptions {
  /** Most elements per chunk event (default 1000). */
  maxChunkItems?: number;
  /** A chunk is also cut once its elements add up to this many bytes (default 8 MiB). */
  maxChunkBytes?: number;
  /** Check the CRC64 after EOF when the file has one (default true). */
  verifyChecksum?: boolean;
  /**
   * Attach to key events the exact RDB bytes of the value (`raw`): concatenating the raw of a
   * key's keyStart, chunks and keyEnd gives the value body a DUMP payload wants, so a value the
   * target can load is restored byte for byte without re-encoding. Default false.
   */
  captureRaw?: boolean;
  /**
   * Module data: 'error' (default) stops with MINIRS_ERR_RDB_UNSUPPORTED naming the module;
   * 'skip' walks over it by its opcodes and reports it (moduleAux events, module keys with no
   * value chunks) so the caller can count what it could not load.
   */
  modules?: 'error' | 'skip';
  /** Refuse RDB versions above this (default 12, the newest this parser knows). */
  maxVersion?: number;
  /** Refuse single strings larger than this many bytes (default 1 GiB; Redis strings stop at 512 MB). */
  maxStringBytes?: number;
}

enum S {
  Header,
  Opcode,
  Checksum,
  Done,
  /** list, set, zset, hash values (CollectionDecoder) */
  Collection,
  /** stream values (StreamDecoder) */
  Stream,
  /** module values and module AUX payloads, walked over */
  ModuleValue,
}

/**
 * A streaming, pull-based RDB parser. Feed bytes with write() as they arrive, in chunks of any
 * size; pull events with read() until it returns null (it needs more input, or the RDB is done);
 * call end() when the input is over. Nothing is parsed ahead of read(), so a consumer that stops
 * pulling stops the parser, and a producer that waits for `needsInput` bounds the buffered bytes.
 *
 * Memory: at most one chunk of elements is materialised. What is held whole: one RDB string
 * (a string value, one element, or one encoded blob — a listpack/ziplist/intset/quicklist node,
 * at most 512 MB in Redis) plus the bytes of the unit being parsed.
 *
 * Size (~600 lines): the opcode and key dispatcher only; bytes, lengths and CRC are
 * byte-reader.ts, the type decoders collection-decoder.ts, stream-decoder.ts, module-decoder.ts.
 */
export class RdbParser implements DecoderHost {
  readonly maxItems: number;
  readonly maxBytes: number;
  private readonly captureRaw: boolean;
  private readonly moduleMode: 'error' | 'skip';
  private readonly maxVersion: number;
  private readonly verifying: boolean;
  readonly r: RdbByteReader;
  private readonly coll: CollectionDecoder;
  private readonly stream: StreamDecoder;

  private ended = false;
  expecting = 'the RDB header';

  private out: RdbEvent[] = [];
  private outHead = 0;

  private state: S = S.Header;
  private _version = 0;
  private db = 0;
  private expireAt: number | null = null;
  private idle: number | null = null;
  private freq: number | null = null;
  private cur: RdbKeyInfo | null = null;
  private moduleAux = false;

  /** AUX fields seen so far (latin1 strings), e.g. aux.get('repl-stream-db'). */
  readonly aux = new Map<string, string>();

  constructor(opts: RdbParserOptions = {}) {
    this.maxItems = Math.max(1, opts.maxChunkItems ?? 1000);
    this.maxBytes = Math.max(1, opts.maxChunkBytes ?? 8 * 1024 * 1024);
    this.captureRaw = opts.captureRaw ?? false;
    this.moduleMode = opts.modules ?? 'error';
    this.maxVersion = opts.maxVersion ?? RDB_VERSION_MAX;
    this.verifying = opts.verifyChecksum ?? true;
    const corrupt: CorruptFn = (m, o, c) => this.corrupt(m, o, c);
    this.r = new RdbByteReader(this.verifying, opts.maxStringBytes ?? 1024 * 1024 * 1024, corrupt);
    this.coll = new CollectionDecoder(this);
    this.stream = new StreamDecoder(this);
  }

  /** The RDB version from the header (0 before it is read). */
  get version(): number {
    return this._version;
  }

  /** Bytes of the RDB fully parsed so far (for progress: bytesConsumed / rdb size). */
  get bytesConsumed(): number {
    return this.r.committedAt;
  }

  /** Bytes written but not parsed yet. */
  get bytesBuffered(): number {
    return this.r.buf.length - this.r.committed + this.r.pendingBytes;
  }

  /** True once the EOF opcode (and checksum) has been parsed. */
  get done(): boolean {
    return this.state === S.Done;
  }

  /** True when the last read() returned null for want of input (write more, or end()). */
  get needsInput(): boolean {
    return this.state !== S.Done && this.r.available < this.r.needAbs;
  }

  write(chunk: Uint8Array): void {
    if (this.ended) throw new RangeError('RdbParser.write() after end()');
    if (chunk.length === 0) return;
    this.r.write(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
  }

  /** No more input will come: read() then throws a truncation error instead of returning null early. */
  end(): void {
    this.ended = true;
  }

  /** Bytes after the end of the RDB (a trailer, or what follows it on a replication link). */
  remainder(): Buffer {
    if (this.state !== S.Done) throw new RangeError('RdbParser.remainder() before the RDB is done');
    return this.r.rest();
  }

  /** The next event, or null when more input is needed (or the RDB is done). */
  read(): RdbEvent | null {
    const r = this.r;
    while (this.outHead === this.out.length) {
      if (this.outHead) {
        this.out = [];
        this.outHead = 0;
      }
      if (this.state === S.Done) return null;
      if (r.base + r.buf.length < r.needAbs) {
        // The last step stopped for want of bytes: retry only once enough have arrived.
        if (r.available >= r.needAbs) r.merge(false);
        else if (this.ended) throw this.truncated();
        else return null;
      }
      const st = this.state;
      const phase = this.phase();
      const at = r.committedAt;
      const need = r.needAbs;
      this.step();
      if (
        this.out.length === 0 &&
        st === this.state &&
        phase === this.phase() &&
        at === r.committedAt &&
        need === r.needAbs
      ) {
        // Every step consumes bytes, emits, changes state or asks for input; anything else would spin.
        throw this.corrupt('parser made no progress (internal error)', at);
      }
    }
    return this.out[this.outHead++]!;
  }

  /** Synchronous convenience: every event of what has been written so far. */
  *events(): Generator<RdbEvent> {
    for (let ev = this.read(); ev !== null; ev = this.read()) yield ev;
  }

  /** The type decoder's own phase: a step may change only that. */
  private phase(): number {
    return this.state === S.Collection ? this.coll.phase : this.state === S.Stream ? this.stream.phase : -1;
  }

  private step(): void {
    this.r.rewind();
    try {
      switch (this.state) {
        case S.Header:
          this.parseHeader();
          return;
        case S.Opcode:
          this.parseOpcode();
          return;
        case S.Checksum:
          this.parseChecksum();
          return;
        case S.Collection:
          this.coll.step();
          return;
        case S.Stream:
          this.stream.step();
          return;
        case S.ModuleValue:
          this.expecting = 'a module value opcode';
          skipModuleValue(this.r, (m, o) => this.corrupt(m, o));
          if (this.moduleAux) {
            this.moduleAux = false;
            this.state = S.Opcode;
          } else {
            this.endKey();
          }
          return;
        case S.Done:
          return;
      }
    } catch (e) {
      if (e !== NEED_MORE) throw this.wrap(e);
      this.r.rewind();
    }
  }

  // ---------------------------------------------------------------- errors

  private wrap(e: unknown): unknown {
    if (e instanceof RdbError) return e;
    if (e instanceof RangeError || e instanceof BlobCorruptError || e instanceof LzfError) {
      return this.corrupt(`${this.expecting}: ${(e as Error).message}`, this.r.at, e);
    }
    return e;
  }

  private truncated(): RdbError {
    const at = this.r.committedAt;
    const need = Math.max(this.r.needAbs, at + 1);
    const have = this.r.available;
    return new RdbError(
      RdbErrorCodes.CORRUPT,
      `RDB truncated at byte ${at}: expected ${this.expecting}${this.keySuffix()} (needs ${need - at} more bytes, ` +
        `input ended after ${have}). The transfer was cut short or the file is incomplete: fetch it again.`,
      { offset: at, expected: this.expecting, key: this.cur ? printableKey(this.cur.key) : undefined },
    );
  }

  corrupt(message: string, offset: number, cause?: unknown): RdbError {
    return new RdbError(
      RdbErrorCodes.CORRUPT,
      `RDB corrupt at byte ${offset}: ${message}${this.keySuffix()}. The source data is damaged; ` +
        'check it with redis-check-rdb or take a new snapshot.',
      { offset, expected: this.expecting, key: this.cur ? printableKey(this.cur.key) : undefined, cause },
    );
  }

  private unsupported(message: string, offset: number, module?: string): RdbError {
    return new RdbError(RdbErrorCodes.UNSUPPORTED, `${message}${this.keySuffix()} (at byte ${offset})`, {
      offset,
      expected: this.expecting,
      key: this.cur ? printableKey(this.cur.key) : undefined,
      module,
    });
  }

  blobCorrupt(e: BlobCorruptError, blobAt: number): RdbError {
    return this.corrupt(`bad encoded value (${e.message}, at byte ${e.at} of the value)`, blobAt, e);
  }

  private keySuffix(): string {
    return this.cur ? ` (key '${printableKey(this.cur.key)}' in db ${this.cur.db})` : '';
  }

  // ---------------------------------------------------------------- events

  emit(ev: RdbEvent): void {
    if (this.r.capturing && (ev.kind === 'keyStart' || ev.kind === 'chunk' || ev.kind === 'keyEnd')) {
      ev.raw = this.r.takeRaw();
    }
    this.out.push(ev);
  }

  key(): RdbKeyInfo {
    return this.cur!;
  }

  // ---------------------------------------------------------------- top level

  private parseHeader(): void {
    this.expecting = "the RDB header ('REDIS' and a 4-digit version)";
    const h = this.r.bytes(9);
    if (h.toString('latin1', 0, 5) !== 'REDIS') {
      throw this.corrupt(`not an RDB file: starts with ${JSON.stringify(h.toString('latin1', 0, 5))}`, 0);
    }
    const vs = h.toString('latin1', 5, 9);
    if (!/^\d{4}$/.test(vs)) throw this.corrupt(`bad RDB version field ${JSON.stringify(vs)}`, 5);
    const v = Number(vs);
    if (v < 1 || v > this.maxVersion) {
      throw this.unsupported(
        `RDB version ${v} is not supported (this parser reads 1 to ${this.maxVersion}); ` +
          'the source runs a newer Redis than minirs knows',
        5,
      );
    }
    this.r.checkpoint();
    this._version = v;
    this.state = S.Opcode;
    this.emit({ kind: 'header', version: v });
  }

  private parseOpcode(): void {
    this.expecting = 'an opcode or a key type';
    const at = this.r.at;
    const t = this.r.u8();
    switch (t) {
      case RdbOpcode.EXPIRETIME_MS: {
        this.expecting = 'an expire time (ms)';
        const v = this.r.i64ms();
        this.r.checkpoint();
        this.expireAt = v;
        return;
      }
      case RdbOpcode.EXPIRETIME: {
        this.expecting = 'an expire time (s)';
        const v = this.r.i32();
        this.r.checkpoint();
        this.expireAt = v * 1000;
        return;
      }
      case RdbOpcode.IDLE: {
        this.expecting = 'an LRU idle time';
        const v = this.r.len();
        this.r.checkpoint();
        this.idle = v;
        return;
      }
      case RdbOpcode.FREQ: {
        this.expecting = 'an LFU frequency';
        const v = this.r.u8();
        this.r.checkpoint();
        this.freq = v;
        return;
      }
      case RdbOpcode.SELECTDB: {
        this.expecting = 'a db number';
        const db = this.r.len();
        this.r.checkpoint();
        this.db = db;
        this.emit({ kind: 'selectDb', db });
        return;
      }
      case RdbOpcode.RESIZEDB: {
        this.expecting = 'RESIZEDB sizes';
        const dbSize = this.r.len();
        const expiresSize = this.r.len();
        this.r.checkpoint();
        this.emit({ kind: 'resizeDb', db: this.db, dbSize, expiresSize });
        return;
      }
      case RdbOpcode.SLOT_INFO: {
        this.expecting = 'SLOT_INFO fields';
        const slot = this.r.len();
        const slotSize = this.r.len();
        const expiresSlotSize = this.r.len();
        this.r.checkpoint();
        this.emit({ kind: 'slotInfo', db: this.db, slot, slotSize, expiresSlotSize });
        return;
      }
      case RdbOpcode.AUX: {
        this.expecting = 'an AUX field';
        const k = this.r.str();
        const v = this.r.str();
        this.r.checkpoint();
        const key = k.toString('latin1');
        this.aux.set(key, v.toString('latin1'));
        this.emit({ kind: 'aux', key, value: v });
        return;
      }
      case RdbOpcode.MODULE_AUX: {
        this.expecting = 'module AUX header';
        const id = this.r.lenBig();
        const whenOp = this.r.len();
        const when = this.r.len();
        const module = decodeModuleId(id);
        if (whenOp !== ModuleOpcode.UINT)
          throw this.corrupt(`module AUX 'when' opcode ${whenOp}, expected 2`, at);
        if (this.moduleMode === 'error') {
          throw this.unsupported(
            `RDB holds auxiliary data of module '${module.name}', which minirs cannot load; ` +
              'replicate from a source without that module',
            at,
            module.name,
          );
        }
        this.r.checkpoint();
        this.moduleAux = true;
        this.state = S.ModuleValue;
        this.emit({ kind: 'moduleAux', module, when });
        return;
      }
      case RdbOpcode.FUNCTION_PRE_GA:
        throw this.unsupported(
          'RDB holds functions in the Redis 7.0 release-candidate format, which Redis itself no longer loads',
          at,
        );
      case RdbOpcode.FUNCTION2: {
        this.expecting = 'a function library';
        const code = this.r.str();
        this.r.checkpoint();
        this.emit({ kind: 'function', code });
        return;
      }
      case RdbOpcode.EOF: {
        this.r.checkpoint();
        if (this._version >= 5) {
          this.state = S.Checksum;
          this.expecting = 'the 8-byte checksum after EOF';
        } else {
          this.finish(null, false);
        }
        return;
      }
      default:
        this.parseKey(t, at);
        return;
    }
  }

  private parseChecksum(): void {
    const sum = this.r.bytes(8);
    const end = this.r.pos - 8; // crc covers everything before the checksum
    let verified = false;
    if (this.verifying && sum.some((x) => x !== 0)) {
      if (!this.r.checksumMatches(sum, end)) {
        throw this.corrupt(
          `checksum mismatch: file says ${sum.toString('hex')}, content gives ${this.r.checksumHex()}`,
          this.r.base + end,
        );
      }
      verified = true;
    }
    this.r.checkpoint();
    this.finish(Buffer.from(sum), verified);
  }

  private finish(checksum: Buffer | null, verified: boolean): void {
    this.state = S.Done;
    this.emit({ kind: 'end', checksum, checksumVerified: verified });
  }

  private parseKey(t: number, at: number): void {
    if (t === RdbType.MODULE_PRE_GA) {
      throw this.unsupported('RDB holds module data in the Redis 4.0 release-candidate format', at);
    }
    if (t > RdbType.HASH_LISTPACK_EX || t === 8) {
      if (t > RdbType.HASH_LISTPACK_EX && t < RdbOpcode.SLOT_INFO && this._version >= RDB_VERSION_MAX) {
        throw this.unsupported(`RDB type ${t} is newer than this parser knows (it reads types up to 25)`, at);
      }
      throw this.corrupt(`unknown opcode or type ${t}`, at);
    }
    this.expecting = 'a key name';
    const key = this.r.str();
    const afterKey = this.r.pos;
    this.expecting = 'the value header';
    const info: RdbKeyInfo = {
      db: this.db,
      key,
      type: valueTypeOf(t),
      rdbType: t,
      expireAt: this.expireAt,
      idle: this.idle,
      freq: this.freq,
      length: null,
      lengthUnit: null,
      offset: at,
    };
    this.cur = info;
    switch (t) {
      case RdbType.STRING: {
        this.expecting = 'a string value';
        const v = this.r.str();
        this.beginKey(afterKey);
        this.emit({ kind: 'keyStart', key: info });
        this.emit({ kind: 'chunk', key: info, value: { type: 'string', value: v } });
        this.endKey();
        return;
      }
      case RdbType.LIST:
      case RdbType.SET:
        this.beginCounted(info, afterKey, CollectionPhase.Plain);
        return;
      case RdbType.ZSET:
      case RdbType.ZSET_2:
        this.beginCounted(info, afterKey, CollectionPhase.Zset);
        return;
      case RdbType.HASH:
        this.beginCounted(info, afterKey, CollectionPhase.Hash);
        return;
      case RdbType.HASH_METADATA:
      case RdbType.HASH_METADATA_PRE_GA: {
        const minExpire = t === RdbType.HASH_METADATA ? this.r.i64ms() : 0;
        this.beginCounted(info, afterKey, CollectionPhase.HashMeta, minExpire);
        return;
      }
      case RdbType.LIST_QUICKLIST:
      case RdbType.LIST_QUICKLIST_2: {
        const nodes = this.r.len();
        this.beginKey(afterKey);
        info.length = nodes;
        info.lengthUnit = 'nodes';
        this.coll.beginQuicklist(nodes, t === RdbType.LIST_QUICKLIST_2);
        this.state = S.Collection;
        this.emit({ kind: 'keyStart', key: info });
        return;
      }
      case RdbType.STREAM_LISTPACKS:
      case RdbType.STREAM_LISTPACKS_2:
      case RdbType.STREAM_LISTPACKS_3: {
        const nodes = this.r.len();
        this.beginKey(afterKey);
        info.length = nodes;
        info.lengthUnit = 'nodes';
        this.stream.begin(
          nodes,
          t === RdbType.STREAM_LISTPACKS ? 1 : t === RdbType.STREAM_LISTPACKS_2 ? 2 : 3,
        );
        this.state = S.Stream;
        this.emit({ kind: 'keyStart', key: info });
        return;
      }
      case RdbType.MODULE_2: {
        const id = this.r.lenBig();
        const module = decodeModuleId(id);
        if (this.moduleMode === 'error') {
          throw this.unsupported(
            `key holds a value of module type '${module.name}', which minirs cannot load; ` +
              'replicate from a source without module data',
            at,
            module.name,
          );
        }
        this.beginKey(afterKey);
        info.module = module;
        this.moduleAux = false;
        this.state = S.ModuleValue;
        this.emit({ kind: 'keyStart', key: info });
        return;
      }
      default:
        this.beginBlob(t, info, afterKey);
        return;
    }
  }

  /** Commit the key header: from here on the key's value is parsed in steps. */
  private beginKey(afterKey: number): void {
    this.r.checkpoint();
    this.expireAt = null;
    this.idle = null;
    this.freq = null;
    // Raw capture starts after the key name: the value body is what DUMP payloads carry.
    if (this.captureRaw) this.r.startRaw(afterKey);
  }

  private beginCounted(info: RdbKeyInfo, afterKey: number, phase: CollectionPhase, minExpire = 0): void {
    const n = this.r.len();
    this.beginKey(afterKey);
    info.length = n;
    info.lengthUnit = 'elements';
    this.coll.beginCounted(phase, n, minExpire);
    this.state = S.Collection;
    this.emit({ kind: 'keyStart', key: info });
  }

  private beginBlob(t: number, info: RdbKeyInfo, afterKey: number): void {
    if (t === RdbType.HASH_LISTPACK_EX) this.r.i64ms(); // min field expiry: derivable, not needed
    this.expecting = 'an encoded value';
    const blobAt = this.r.at;
    const blob = this.r.str();
    const opened = this.coll.openBlob(t, blob, blobAt);
    this.beginKey(afterKey);
    this.coll.beginBlob(opened, blobAt);
    this.state = S.Collection;
    this.emit({ kind: 'keyStart', key: info });
  }

  endKey(): void {
    const info = this.cur!;
    this.state = S.Opcode;
    this.emit({ kind: 'keyEnd', key: info });
    this.r.stopRaw();
    this.cur = null;
  }
}
