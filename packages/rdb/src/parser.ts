import {
  hasFieldTtls,
  ModuleOpcode,
  QuicklistContainer,
  RDB_VERSION_MAX,
  RdbOpcode,
  RdbType,
  valueTypeOf,
} from './constants.js';
import { Crc64 } from './crc64.js';
import {
  BlobCorruptError,
  type BlobElement,
  type ElementReader,
  elementToBuffer,
  intToBuffer,
} from './encodings/blob-error.js';
import { IntsetReader } from './encodings/intset.js';
import { ListpackReader } from './encodings/listpack.js';
import { type StreamEntry, type StreamId, StreamNodeReader, readStreamId } from './encodings/stream-node.js';
import { ZiplistReader } from './encodings/ziplist.js';
import { ZipmapReader } from './encodings/zipmap.js';
import { printableKey, RdbError, RdbErrorCodes } from './errors.js';
import type {
  RdbEvent,
  RdbKeyInfo,
  RdbValueChunk,
  StreamConsumerChunk,
  StreamGroupChunk,
  StreamPendingEntry,
} from './events.js';
import { LZF_MAX_RATIO, LzfError, lzfDecompress } from './lzf.js';
import { decodeModuleId } from './module-id.js';

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

/** Thrown inside a parse step when the buffered bytes end before the step does. */
const NEED_MORE: { readonly needMore: true } = { needMore: true };

const EMPTY = Buffer.alloc(0);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;

enum S {
  Header,
  Opcode,
  Checksum,
  Done,
  PlainElems, // list (1), set (2)
  ZsetElems, // zset (3, 5)
  HashElems, // hash (4)
  HashMetaElems, // hash with field TTLs (22, 24)
  BlobItems, // a decoded ziplist/listpack/intset/zipmap
  QuicklistNodes,
  QuicklistItems,
  StreamNodes,
  StreamEntries,
  StreamMeta,
  StreamGroup,
  StreamPel,
  StreamConsumerCount,
  StreamConsumer,
  StreamConsumerPel,
  ModuleValue,
}

type BlobShape = 'list' | 'set' | 'zset' | 'hash' | 'hashTtl';

/**
 * A streaming, pull-based RDB parser. Feed bytes with write() as they arrive, in chunks of any
 * size; pull events with read() until it returns null (it needs more input, or the RDB is done);
 * call end() when the input is over. Nothing is parsed ahead of read(), so a consumer that stops
 * pulling stops the parser, and a producer that waits for `needsInput` bounds the buffered bytes.
 *
 * Memory: at most one chunk of elements is materialised. What is held whole: one RDB string
 * (a string value, one element, or one encoded blob — a listpack/ziplist/intset/quicklist node,
 * at most 512 MB in Redis) plus the bytes of the unit being parsed.
 */
export class RdbParser {
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly verify: boolean;
  private readonly captureRaw: boolean;
  private readonly moduleMode: 'error' | 'skip';
  private readonly maxVersion: number;
  private readonly maxString: number;

  // Input: buf[pos..] is unparsed; pending chunks follow it. base = absolute offset of buf[0].
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** pos after the last fully parsed item: a NEED_MORE rolls back to it. */
  private committed = 0;
  private base = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Absolute offset the last failed step needs buffered before it is worth retrying. */
  private needAbs = 0;
  private ended = false;
  private expecting = 'the RDB header';

  private readonly crc = new Crc64();
  private crcFrom = 0;

  private rawOn = false;
  private rawFrom = 0;
  private rawParts: Buffer[] = [];

  private out: RdbEvent[] = [];
  private outHead = 0;

  private state: S = S.Header;
  private _version = 0;
  private db = 0;
  private expireAt: number | null = null;
  private idle: number | null = null;
  private freq: number | null = null;

  // Current key
  private cur: RdbKeyInfo | null = null;
  private remaining = 0;
  private minExpire = 0;
  private items: Buffer[] = [];
  private items2: Buffer[] = [];
  private scores: number[] = [];
  private ttls: number[] = [];
  private chunkBytes = 0;
  private reader: ElementReader | null = null;
  private readerShape: BlobShape = 'list';
  private blobOffset = 0;
  private quicklistV2 = false;
  private streamVersion = 1;
  private streamNode: StreamNodeReader | null = null;
  private streamNodeRaw: { masterKey: Buffer; listpack: Buffer } | undefined;
  private streamEntries: StreamEntry[] = [];
  private groupsRemaining = 0;
  private consumersRemaining = 0;
  private group: Buffer = EMPTY;
  private consumer: Buffer = EMPTY;
  private pel: StreamPendingEntry[] = [];
  private cpel: StreamId[] = [];
  private moduleAux = false;

  /** AUX fields seen so far (latin1 strings), e.g. aux.get('repl-stream-db'). */
  readonly aux = new Map<string, string>();

  constructor(opts: RdbParserOptions = {}) {
    this.maxItems = Math.max(1, opts.maxChunkItems ?? 1000);
    this.maxBytes = Math.max(1, opts.maxChunkBytes ?? 8 * 1024 * 1024);
    this.verify = opts.verifyChecksum ?? true;
    this.captureRaw = opts.captureRaw ?? false;
    this.moduleMode = opts.modules ?? 'error';
    this.maxVersion = opts.maxVersion ?? RDB_VERSION_MAX;
    this.maxString = opts.maxStringBytes ?? 1024 * 1024 * 1024;
  }

  /** The RDB version from the header (0 before it is read). */
  get version(): number {
    return this._version;
  }

  /** Bytes of the RDB fully parsed so far (for progress: bytesConsumed / rdb size). */
  get bytesConsumed(): number {
    return this.base + this.committed;
  }

  /** Bytes written but not parsed yet. */
  get bytesBuffered(): number {
    return this.buf.length - this.committed + this.pendingBytes;
  }

  /** True once the EOF opcode (and checksum) has been parsed. */
  get done(): boolean {
    return this.state === S.Done;
  }

  /** True when the last read() returned null for want of input (write more, or end()). */
  get needsInput(): boolean {
    return this.state !== S.Done && this.base + this.buf.length + this.pendingBytes < this.needAbs;
  }

  write(chunk: Uint8Array): void {
    if (this.ended) throw new RangeError('RdbParser.write() after end()');
    if (chunk.length === 0) return;
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  /** No more input will come: read() then throws a truncation error instead of returning null early. */
  end(): void {
    this.ended = true;
  }

  /** Bytes after the end of the RDB (a trailer, or what follows it on a replication link). */
  remainder(): Buffer {
    if (this.state !== S.Done) throw new RangeError('RdbParser.remainder() before the RDB is done');
    const tail = this.buf.subarray(this.committed);
    return this.pending.length ? Buffer.concat([tail, ...this.pending]) : tail;
  }

  /** The next event, or null when more input is needed (or the RDB is done). */
  read(): RdbEvent | null {
    while (this.outHead === this.out.length) {
      if (this.outHead) {
        this.out = [];
        this.outHead = 0;
      }
      if (this.state === S.Done) return null;
      if (this.base + this.buf.length < this.needAbs) {
        // The last step stopped for want of bytes: retry only once enough have arrived.
        if (this.base + this.buf.length + this.pendingBytes >= this.needAbs) this.merge();
        else if (this.ended) throw this.truncated();
        else return null;
      }
      const st = this.state;
      const at = this.base + this.committed;
      const need = this.needAbs;
      this.step();
      if (
        this.out.length === 0 &&
        st === this.state &&
        at === this.base + this.committed &&
        need === this.needAbs
      ) {
        // Every step consumes bytes, emits, changes state or asks for input; anything else would spin.
        throw this.corrupt('parser made no progress (internal error)', at);
      }
    }
    return this.out[this.outHead++];
  }

  /** Synchronous convenience: every event of what has been written so far. */
  *events(): Generator<RdbEvent> {
    for (let ev = this.read(); ev !== null; ev = this.read()) yield ev;
  }

  // ---------------------------------------------------------------- input management

  private merge(): void {
    this.flushLazy();
    const tail = this.buf.subarray(this.committed);
    if (tail.length === 0 && this.pending.length === 1) this.buf = this.pending[0];
    else this.buf = Buffer.concat(tail.length ? [tail, ...this.pending] : this.pending);
    this.base += this.committed;
    this.pos = this.committed = 0;
    this.crcFrom = 0;
    this.rawFrom = 0;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Fold consumed bytes into the CRC and the raw capture before buf is replaced. */
  private flushLazy(): void {
    if (this.verify && this.committed > this.crcFrom && this.state !== S.Done) {
      this.crc.update(this.buf, this.crcFrom, this.committed);
    }
    this.crcFrom = this.committed;
    if (this.rawOn && this.committed > this.rawFrom) {
      this.rawParts.push(this.buf.subarray(this.rawFrom, this.committed));
    }
    this.rawFrom = this.committed;
  }

  private step(): void {
    this.pos = this.committed;
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
        case S.PlainElems:
          this.parsePlainElems();
          return;
        case S.ZsetElems:
          this.parseZsetElems();
          return;
        case S.HashElems:
          this.parseHashElems();
          return;
        case S.HashMetaElems:
          this.parseHashMetaElems();
          return;
        case S.BlobItems:
          this.drainBlob(true);
          return;
        case S.QuicklistNodes:
          this.parseQuicklistNode();
          return;
        case S.QuicklistItems:
          this.drainBlob(false);
          return;
        case S.StreamNodes:
          this.parseStreamNode();
          return;
        case S.StreamEntries:
          this.drainStreamNode();
          return;
        case S.StreamMeta:
          this.parseStreamMeta();
          return;
        case S.StreamGroup:
          this.parseStreamGroup();
          return;
        case S.StreamPel:
          this.parseStreamPel();
          return;
        case S.StreamConsumerCount:
          this.parseStreamConsumerCount();
          return;
        case S.StreamConsumer:
          this.parseStreamConsumer();
          return;
        case S.StreamConsumerPel:
          this.parseStreamConsumerPel();
          return;
        case S.ModuleValue:
          this.parseModuleValue();
          return;
        case S.Done:
          return;
      }
    } catch (e) {
      if (e !== NEED_MORE) throw this.wrap(e);
      this.pos = this.committed;
    }
  }

  private wrap(e: unknown): unknown {
    if (e instanceof RdbError) return e;
    if (e instanceof RangeError || e instanceof BlobCorruptError || e instanceof LzfError) {
      return this.corrupt(`${this.expecting}: ${(e as Error).message}`, this.base + this.pos, e);
    }
    return e;
  }

  private truncated(): RdbError {
    const at = this.base + this.committed;
    const need = Math.max(this.needAbs, at + 1);
    const have = this.base + this.buf.length + this.pendingBytes;
    return new RdbError(
      RdbErrorCodes.CORRUPT,
      `RDB truncated at byte ${at}: expected ${this.expecting}${this.keySuffix()} (needs ${need - at} more bytes, ` +
        `input ended after ${have}). The transfer was cut short or the file is incomplete: fetch it again.`,
      { offset: at, expected: this.expecting, key: this.cur ? printableKey(this.cur.key) : undefined },
    );
  }

  private corrupt(message: string, offset: number, cause?: unknown): RdbError {
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

  private keySuffix(): string {
    return this.cur ? ` (key '${printableKey(this.cur.key)}' in db ${this.cur.db})` : '';
  }

  // ---------------------------------------------------------------- primitive reads

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      this.needAbs = this.base + this.pos + n;
      throw NEED_MORE;
    }
  }

  private u8(): number {
    if (this.pos >= this.buf.length) this.need(1);
    return this.buf[this.pos++];
  }

  private bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A length (not an encoded string). */
  private len(): number {
    const c = this.u8();
    const t = c >> 6;
    if (t === 0) return c & 0x3f;
    if (t === 1) return ((c & 0x3f) << 8) | this.u8();
    if (c === 0x80) {
      this.need(4);
      const v = this.buf.readUInt32BE(this.pos);
      this.pos += 4;
      return v;
    }
    if (c === 0x81) {
      const v = this.len64Tail();
      if (v > MAX_SAFE) throw this.corrupt(`length ${v} is implausibly large`, this.base + this.pos - 9);
      return Number(v);
    }
    throw this.corrupt(`expected a length, found byte 0x${c.toString(16)}`, this.base + this.pos - 1);
  }

  /** A length read as a full unsigned 64-bit value (stream IDs, counters, module ids). */
  private lenBig(): bigint {
    const c = this.u8();
    const t = c >> 6;
    if (t === 0) return BigInt(c & 0x3f);
    if (t === 1) return BigInt(((c & 0x3f) << 8) | this.u8());
    if (c === 0x80) {
      this.need(4);
      const v = this.buf.readUInt32BE(this.pos);
      this.pos += 4;
      return BigInt(v);
    }
    if (c === 0x81) return this.len64Tail();
    throw this.corrupt(`expected a length, found byte 0x${c.toString(16)}`, this.base + this.pos - 1);
  }

  private len64Tail(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** An RDB string: raw, integer-encoded (returned in decimal) or LZF-compressed. */
  private str(): Buffer {
    const c = this.u8();
    let n: number;
    switch (c >> 6) {
      case 0:
        n = c & 0x3f;
        break;
      case 1:
        n = ((c & 0x3f) << 8) | this.u8();
        break;
      case 2:
        if (c === 0x80) {
          this.need(4);
          n = this.buf.readUInt32BE(this.pos);
          this.pos += 4;
        } else if (c === 0x81) {
          const v = this.len64Tail();
          if (v > BigInt(this.maxString)) throw this.tooLong(v);
          n = Number(v);
        } else throw this.corrupt(`bad string length prefix 0x${c.toString(16)}`, this.base + this.pos - 1);
        break;
      default:
        return this.encodedStr(c & 0x3f);
    }
    if (n > this.maxString) throw this.tooLong(BigInt(n));
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private tooLong(n: bigint): RdbError {
    return this.corrupt(
      `string of ${n} bytes exceeds the ${this.maxString}-byte limit`,
      this.base + this.pos,
    );
  }

  private encodedStr(enc: number): Buffer {
    switch (enc) {
      case 0: {
        this.need(1);
        const v = this.buf.readInt8(this.pos);
        this.pos += 1;
        return intToBuffer(v);
      }
      case 1: {
        this.need(2);
        const v = this.buf.readInt16LE(this.pos);
        this.pos += 2;
        return intToBuffer(v);
      }
      case 2: {
        this.need(4);
        const v = this.buf.readInt32LE(this.pos);
        this.pos += 4;
        return intToBuffer(v);
      }
      case 3: {
        const at = this.base + this.pos - 1;
        const clen = this.len();
        const ulen = this.len();
        if (ulen > this.maxString) throw this.tooLong(BigInt(ulen));
        if (ulen > clen * LZF_MAX_RATIO + 64) {
          throw this.corrupt(`LZF string claims ${ulen} bytes from ${clen} compressed`, at);
        }
        const data = this.bytes(clen);
        try {
          return lzfDecompress(data, ulen);
        } catch (e) {
          if (e instanceof LzfError) throw this.corrupt(`bad LZF data (${e.message})`, at, e);
          throw e;
        }
      }
      default:
        throw this.corrupt(`unknown string encoding ${enc}`, this.base + this.pos - 1);
    }
  }

  private i64ms(): number {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return Number(v);
  }

  private f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Score of a type-3 zset: a length byte then ASCII, or 253/254/255 for nan/+inf/-inf. */
  private asciiDouble(): number {
    const n = this.u8();
    if (n === 253) return Number.NaN;
    if (n === 254) return Number.POSITIVE_INFINITY;
    if (n === 255) return Number.NEGATIVE_INFINITY;
    return parseScore(this.bytes(n), this.base + this.pos - n, this);
  }

  /** Mark everything read so far as parsed: a later NEED_MORE resumes from here. */
  private checkpoint(): void {
    this.committed = this.pos;
  }

  private emit(ev: RdbEvent): void {
    if (this.rawOn && (ev.kind === 'keyStart' || ev.kind === 'chunk' || ev.kind === 'keyEnd')) {
      const tail = this.buf.subarray(this.rawFrom, this.committed);
      const parts = this.rawParts;
      ev.raw = parts.length === 0 ? tail : Buffer.concat(tail.length ? [...parts, tail] : parts);
      this.rawParts = [];
      this.rawFrom = this.committed;
    }
    this.out.push(ev);
  }

  // ---------------------------------------------------------------- top level

  private parseHeader(): void {
    this.expecting = "the RDB header ('REDIS' and a 4-digit version)";
    const h = this.bytes(9);
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
    this.checkpoint();
    this._version = v;
    this.state = S.Opcode;
    this.emit({ kind: 'header', version: v });
  }

  private parseOpcode(): void {
    this.expecting = 'an opcode or a key type';
    const at = this.base + this.pos;
    const t = this.u8();
    switch (t) {
      case RdbOpcode.EXPIRETIME_MS: {
        this.expecting = 'an expire time (ms)';
        const v = this.i64ms();
        this.checkpoint();
        this.expireAt = v;
        return;
      }
      case RdbOpcode.EXPIRETIME: {
        this.expecting = 'an expire time (s)';
        this.need(4);
        const v = this.buf.readInt32LE(this.pos);
        this.pos += 4;
        this.checkpoint();
        this.expireAt = v * 1000;
        return;
      }
      case RdbOpcode.IDLE: {
        this.expecting = 'an LRU idle time';
        const v = this.len();
        this.checkpoint();
        this.idle = v;
        return;
      }
      case RdbOpcode.FREQ: {
        this.expecting = 'an LFU frequency';
        const v = this.u8();
        this.checkpoint();
        this.freq = v;
        return;
      }
      case RdbOpcode.SELECTDB: {
        this.expecting = 'a db number';
        const db = this.len();
        this.checkpoint();
        this.db = db;
        this.emit({ kind: 'selectDb', db });
        return;
      }
      case RdbOpcode.RESIZEDB: {
        this.expecting = 'RESIZEDB sizes';
        const dbSize = this.len();
        const expiresSize = this.len();
        this.checkpoint();
        this.emit({ kind: 'resizeDb', db: this.db, dbSize, expiresSize });
        return;
      }
      case RdbOpcode.SLOT_INFO: {
        this.expecting = 'SLOT_INFO fields';
        const slot = this.len();
        const slotSize = this.len();
        const expiresSlotSize = this.len();
        this.checkpoint();
        this.emit({ kind: 'slotInfo', db: this.db, slot, slotSize, expiresSlotSize });
        return;
      }
      case RdbOpcode.AUX: {
        this.expecting = 'an AUX field';
        const k = this.str();
        const v = this.str();
        this.checkpoint();
        const key = k.toString('latin1');
        this.aux.set(key, v.toString('latin1'));
        this.emit({ kind: 'aux', key, value: v });
        return;
      }
      case RdbOpcode.MODULE_AUX: {
        this.expecting = 'module AUX header';
        const id = this.lenBig();
        const whenOp = this.len();
        const when = this.len();
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
        this.checkpoint();
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
        const code = this.str();
        this.checkpoint();
        this.emit({ kind: 'function', code });
        return;
      }
      case RdbOpcode.EOF: {
        this.checkpoint();
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
    const sum = this.bytes(8);
    const end = this.pos - 8; // crc covers everything before the checksum
    let verified = false;
    if (this.verify && sum.some((x) => x !== 0)) {
      this.crc.update(this.buf, this.crcFrom, end);
      this.crcFrom = end;
      if (!this.crc.matches(sum)) {
        throw this.corrupt(
          `checksum mismatch: file says ${sum.toString('hex')}, content gives ${this.crc.digestBytes().toString('hex')}`,
          this.base + end,
        );
      }
      verified = true;
    }
    this.checkpoint();
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
    const key = this.str();
    const afterKey = this.pos;
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
        const v = this.str();
        this.beginKey(afterKey);
        this.emit({ kind: 'keyStart', key: info });
        this.emit({ kind: 'chunk', key: info, value: { type: 'string', value: v } });
        this.endKey();
        return;
      }
      case RdbType.LIST:
      case RdbType.SET:
        this.beginCounted(info, afterKey, S.PlainElems);
        return;
      case RdbType.ZSET:
      case RdbType.ZSET_2:
        this.beginCounted(info, afterKey, S.ZsetElems);
        return;
      case RdbType.HASH:
        this.beginCounted(info, afterKey, S.HashElems);
        return;
      case RdbType.HASH_METADATA:
      case RdbType.HASH_METADATA_PRE_GA: {
        const minExpire = t === RdbType.HASH_METADATA ? this.i64ms() : 0;
        this.beginCounted(info, afterKey, S.HashMetaElems);
        this.minExpire = minExpire;
        return;
      }
      case RdbType.LIST_QUICKLIST:
      case RdbType.LIST_QUICKLIST_2: {
        const nodes = this.len();
        this.beginKey(afterKey);
        info.length = nodes;
        info.lengthUnit = 'nodes';
        this.remaining = nodes;
        this.quicklistV2 = t === RdbType.LIST_QUICKLIST_2;
        this.state = S.QuicklistNodes;
        this.emit({ kind: 'keyStart', key: info });
        return;
      }
      case RdbType.STREAM_LISTPACKS:
      case RdbType.STREAM_LISTPACKS_2:
      case RdbType.STREAM_LISTPACKS_3: {
        const nodes = this.len();
        this.beginKey(afterKey);
        info.length = nodes;
        info.lengthUnit = 'nodes';
        this.remaining = nodes;
        this.streamVersion = t === RdbType.STREAM_LISTPACKS ? 1 : t === RdbType.STREAM_LISTPACKS_2 ? 2 : 3;
        this.state = S.StreamNodes;
        this.emit({ kind: 'keyStart', key: info });
        return;
      }
      case RdbType.MODULE_2: {
        const id = this.lenBig();
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
    this.checkpoint();
    this.expireAt = null;
    this.idle = null;
    this.freq = null;
    if (this.captureRaw) {
      // Raw capture starts after the key name: the value body is what DUMP payloads carry.
      this.rawOn = true;
      this.rawParts = [];
      this.rawFrom = afterKey;
    }
    this.chunkBytes = 0;
  }

  private beginCounted(info: RdbKeyInfo, afterKey: number, next: S): void {
    const n = this.len();
    this.beginKey(afterKey);
    info.length = n;
    info.lengthUnit = 'elements';
    this.remaining = n;
    this.state = next;
    this.emit({ kind: 'keyStart', key: info });
  }

  private beginBlob(t: number, info: RdbKeyInfo, afterKey: number): void {
    if (t === RdbType.HASH_LISTPACK_EX) this.i64ms(); // min field expiry: derivable, not needed
    this.expecting = 'an encoded value';
    const blobAt = this.base + this.pos;
    const blob = this.str();
    let reader: ElementReader;
    let shape: BlobShape;
    try {
      switch (t) {
        case RdbType.HASH_ZIPMAP:
          reader = new ZipmapReader(blob);
          shape = 'hash';
          break;
        case RdbType.LIST_ZIPLIST:
          reader = new ZiplistReader(blob);
          shape = 'list';
          break;
        case RdbType.SET_INTSET:
          reader = new IntsetReader(blob);
          shape = 'set';
          break;
        case RdbType.ZSET_ZIPLIST:
          reader = new ZiplistReader(blob);
          shape = 'zset';
          break;
        case RdbType.HASH_ZIPLIST:
          reader = new ZiplistReader(blob);
          shape = 'hash';
          break;
        case RdbType.HASH_LISTPACK:
          reader = new ListpackReader(blob);
          shape = 'hash';
          break;
        case RdbType.ZSET_LISTPACK:
          reader = new ListpackReader(blob);
          shape = 'zset';
          break;
        case RdbType.SET_LISTPACK:
          reader = new ListpackReader(blob);
          shape = 'set';
          break;
        case RdbType.HASH_LISTPACK_EX:
        case RdbType.HASH_LISTPACK_EX_PRE_GA:
          reader = new ListpackReader(blob);
          shape = 'hashTtl';
          break;
        default:
          throw this.corrupt(`unknown key type ${t}`, info.offset);
      }
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.blobCorrupt(e, blobAt);
      throw e;
    }
    this.beginKey(afterKey);
    this.reader = reader;
    this.readerShape = shape;
    this.blobOffset = blobAt;
    this.state = S.BlobItems;
    this.emit({ kind: 'keyStart', key: info });
  }

  private blobCorrupt(e: BlobCorruptError, blobAt: number): RdbError {
    return this.corrupt(`bad encoded value (${e.message}, at byte ${e.at} of the value)`, blobAt, e);
  }

  private endKey(): void {
    const info = this.cur!;
    this.state = S.Opcode;
    this.reader = null;
    this.streamNode = null;
    this.emit({ kind: 'keyEnd', key: info });
    this.rawOn = false;
    this.rawParts = [];
    this.cur = null;
  }

  // ---------------------------------------------------------------- plain collections

  private chunkFull(): boolean {
    return this.items.length >= this.maxItems || this.chunkBytes >= this.maxBytes;
  }

  private flushChunk(): void {
    const info = this.cur!;
    let value: RdbValueChunk;
    switch (info.type) {
      case 'list':
        value = { type: 'list', elements: this.items };
        break;
      case 'set':
        value = { type: 'set', members: this.items };
        break;
      case 'zset':
        value = { type: 'zset', members: this.items, scores: this.scores };
        break;
      default:
        value = {
          type: 'hash',
          fields: this.items,
          values: this.items2,
          expireAts: hasFieldTtls(info.rdbType) ? this.ttls : null,
        };
    }
    this.items = [];
    this.items2 = [];
    this.scores = [];
    this.ttls = [];
    this.chunkBytes = 0;
    this.emit({ kind: 'chunk', key: info, value });
  }

  private finishCounted(): void {
    if (this.items.length) this.flushChunk();
    this.endKey();
  }

  private parsePlainElems(): void {
    this.expecting = this.cur!.type === 'list' ? 'a list element' : 'a set member';
    while (this.remaining > 0 && !this.chunkFull()) {
      const e = this.str();
      this.checkpoint();
      this.items.push(e);
      this.chunkBytes += e.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finishCounted();
    else this.flushChunk();
  }

  private parseZsetElems(): void {
    this.expecting = 'a sorted set member and score';
    const binary = this.cur!.rdbType === RdbType.ZSET_2;
    while (this.remaining > 0 && !this.chunkFull()) {
      const m = this.str();
      const s = binary ? this.f64() : this.asciiDouble();
      this.checkpoint();
      this.items.push(m);
      this.scores.push(s);
      this.chunkBytes += m.length + 8;
      this.remaining--;
    }
    if (this.remaining === 0) this.finishCounted();
    else this.flushChunk();
  }

  private parseHashElems(): void {
    this.expecting = 'a hash field and value';
    while (this.remaining > 0 && !this.chunkFull()) {
      const f = this.str();
      const v = this.str();
      this.checkpoint();
      this.items.push(f);
      this.items2.push(v);
      this.chunkBytes += f.length + v.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finishCounted();
    else this.flushChunk();
  }

  private parseHashMetaElems(): void {
    this.expecting = 'a hash field TTL, field and value';
    const relative = this.cur!.rdbType === RdbType.HASH_METADATA;
    while (this.remaining > 0 && !this.chunkFull()) {
      const ttl = this.len();
      const f = this.str();
      const v = this.str();
      this.checkpoint();
      // HASH_METADATA stores ttl+1 relative to the key's minimum; 0 means no TTL.
      this.ttls.push(ttl === 0 ? 0 : relative ? ttl + this.minExpire - 1 : ttl);
      this.items.push(f);
      this.items2.push(v);
      this.chunkBytes += f.length + v.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finishCounted();
    else this.flushChunk();
  }

  // ---------------------------------------------------------------- encoded blobs

  /** Move up to one chunk of elements from the current blob reader into the chunk buffers. */
  private drainBlob(singleBlob: boolean): void {
    const reader = this.reader!;
    const shape = this.readerShape;
    let exhausted = false;
    try {
      while (!this.chunkFull()) {
        const a = reader.next();
        if (a === undefined) {
          exhausted = true;
          break;
        }
        if (shape === 'list' || shape === 'set') {
          const e = elementToBuffer(a);
          this.items.push(e);
          this.chunkBytes += e.length;
        } else if (shape === 'zset') {
          const s = reader.next();
          if (s === undefined) throw new BlobCorruptError('sorted set member without a score', 0);
          const m = elementToBuffer(a);
          this.items.push(m);
          this.scores.push(elementToScore(s, this));
          this.chunkBytes += m.length + 8;
        } else {
          const v = reader.next();
          if (v === undefined) throw new BlobCorruptError('hash field without a value', 0);
          const f = elementToBuffer(a);
          const vb = elementToBuffer(v);
          this.items.push(f);
          this.items2.push(vb);
          this.chunkBytes += f.length + vb.length;
          if (shape === 'hashTtl') {
            const ttl = reader.next();
            if (typeof ttl !== 'number' && typeof ttl !== 'bigint') {
              throw new BlobCorruptError('hash field without its TTL', 0);
            }
            this.ttls.push(Number(ttl));
          }
        }
      }
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.blobCorrupt(e, this.blobOffset);
      throw e;
    }
    if (!exhausted) {
      this.flushChunk();
      return;
    }
    this.reader = null;
    if (singleBlob) {
      this.finishCounted();
    } else {
      this.state = S.QuicklistNodes;
    }
  }

  private parseQuicklistNode(): void {
    if (this.remaining === 0) {
      this.finishCounted();
      return;
    }
    this.expecting = 'a quicklist node';
    let container: number = QuicklistContainer.PACKED;
    if (this.quicklistV2) {
      container = this.len();
      if (container !== QuicklistContainer.PACKED && container !== QuicklistContainer.PLAIN) {
        throw this.corrupt(`quicklist node container ${container}`, this.base + this.pos - 1);
      }
    }
    const blobAt = this.base + this.pos;
    const blob = this.str();
    if (container === QuicklistContainer.PLAIN) {
      this.checkpoint();
      this.remaining--;
      this.items.push(blob);
      this.chunkBytes += blob.length;
      if (this.chunkFull()) this.flushChunk();
      return;
    }
    let reader: ElementReader;
    try {
      reader = this.quicklistV2 ? new ListpackReader(blob) : new ZiplistReader(blob);
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.blobCorrupt(e, blobAt);
      throw e;
    }
    this.checkpoint();
    this.remaining--;
    this.reader = reader;
    this.readerShape = 'list';
    this.blobOffset = blobAt;
    this.state = S.QuicklistItems;
  }

  // ---------------------------------------------------------------- streams

  private parseStreamNode(): void {
    if (this.remaining === 0) {
      this.state = S.StreamMeta;
      return;
    }
    this.expecting = 'a stream node (master ID and listpack)';
    const masterKey = this.str();
    const lpAt = this.base + this.pos;
    const lp = this.str();
    let node: StreamNodeReader;
    try {
      node = new StreamNodeReader(masterKey, lp);
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.blobCorrupt(e, lpAt);
      throw e;
    }
    this.checkpoint();
    this.remaining--;
    this.streamNode = node;
    this.streamNodeRaw = { masterKey, listpack: lp };
    this.blobOffset = lpAt;
    this.state = S.StreamEntries;
  }

  private drainStreamNode(): void {
    const node = this.streamNode!;
    const entries = this.streamEntries;
    let bytes = 0;
    let exhausted = false;
    try {
      while (entries.length < this.maxItems && bytes < this.maxBytes) {
        const e = node.next();
        if (e === undefined) {
          exhausted = true;
          break;
        }
        entries.push(e);
        for (const f of e.fields) bytes += f.length;
      }
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.blobCorrupt(e, this.blobOffset);
      throw e;
    }
    // One chunk per node at least, so the node's raw listpack always reaches the consumer.
    if (entries.length || this.streamNodeRaw) {
      this.streamEntries = [];
      const value: RdbValueChunk = { type: 'streamEntries', entries };
      if (this.streamNodeRaw) value.node = this.streamNodeRaw;
      this.streamNodeRaw = undefined;
      this.emit({ kind: 'chunk', key: this.cur!, value });
    }
    if (exhausted) {
      this.streamNode = null;
      this.state = S.StreamNodes;
    }
  }

  private streamId(): StreamId {
    const ms = this.lenBig();
    const seq = this.lenBig();
    return { ms, seq };
  }

  private parseStreamMeta(): void {
    this.expecting = 'stream metadata (length, last ID, counters)';
    const length = this.len();
    const lastId = this.streamId();
    let firstId: StreamId | null = null;
    let maxDeletedId: StreamId | null = null;
    let entriesAdded: bigint | null = null;
    if (this.streamVersion >= 2) {
      firstId = this.streamId();
      maxDeletedId = this.streamId();
      entriesAdded = this.lenBig();
    }
    const groupCount = this.len();
    this.checkpoint();
    this.groupsRemaining = groupCount;
    this.state = S.StreamGroup;
    this.emit({
      kind: 'chunk',
      key: this.cur!,
      value: { type: 'streamMeta', length, lastId, firstId, maxDeletedId, entriesAdded, groupCount },
    });
  }

  private parseStreamGroup(): void {
    if (this.groupsRemaining === 0) {
      this.endKey();
      return;
    }
    this.expecting = 'a stream consumer group';
    const name = this.str();
    const lastId = this.streamId();
    let entriesRead: bigint | null = null;
    if (this.streamVersion >= 2) {
      const v = this.lenBig();
      entriesRead = v === U64_MAX ? null : v; // SCG_INVALID_ENTRIES_READ (-1)
    }
    const pendingCount = this.len();
    this.checkpoint();
    this.group = name;
    this.remaining = pendingCount;
    this.pel = [];
    this.state = S.StreamPel;
    const value: StreamGroupChunk = { type: 'streamGroup', name, lastId, entriesRead, pendingCount };
    this.emit({ kind: 'chunk', key: this.cur!, value });
  }

  private parseStreamPel(): void {
    this.expecting = 'a stream group pending entry';
    while (this.remaining > 0 && this.pel.length < this.maxItems) {
      const raw = this.bytes(16);
      const deliveryTime = this.i64ms();
      const deliveryCount = this.len();
      this.checkpoint();
      this.pel.push({ id: readStreamId(raw), deliveryTime, deliveryCount });
      this.remaining--;
    }
    if (this.pel.length) {
      const pending = this.pel;
      this.pel = [];
      this.emit({
        kind: 'chunk',
        key: this.cur!,
        value: { type: 'streamPending', group: this.group, pending },
      });
    }
    if (this.remaining === 0) this.state = S.StreamConsumerCount;
  }

  private parseStreamConsumerCount(): void {
    this.expecting = 'the stream consumer count';
    const n = this.len();
    this.checkpoint();
    this.consumersRemaining = n;
    this.state = S.StreamConsumer;
    this.emit({
      kind: 'chunk',
      key: this.cur!,
      value: { type: 'streamConsumerCount', group: this.group, count: n },
    });
  }

  private parseStreamConsumer(): void {
    if (this.consumersRemaining === 0) {
      this.groupsRemaining--;
      this.state = S.StreamGroup;
      return;
    }
    this.expecting = 'a stream consumer';
    const name = this.str();
    const seenTime = this.i64ms();
    const activeTime = this.streamVersion >= 3 ? this.i64ms() : null;
    const pendingCount = this.len();
    this.checkpoint();
    this.consumer = name;
    this.remaining = pendingCount;
    this.cpel = [];
    this.state = S.StreamConsumerPel;
    const value: StreamConsumerChunk = {
      type: 'streamConsumer',
      group: this.group,
      name,
      seenTime,
      activeTime,
      pendingCount,
    };
    this.emit({ kind: 'chunk', key: this.cur!, value });
  }

  private parseStreamConsumerPel(): void {
    this.expecting = 'a stream consumer pending ID';
    while (this.remaining > 0 && this.cpel.length < this.maxItems) {
      const raw = this.bytes(16);
      this.checkpoint();
      this.cpel.push(readStreamId(raw));
      this.remaining--;
    }
    if (this.cpel.length) {
      const ids = this.cpel;
      this.cpel = [];
      this.emit({
        kind: 'chunk',
        key: this.cur!,
        value: { type: 'streamConsumerPending', group: this.group, consumer: this.consumer, ids },
      });
    }
    if (this.remaining === 0) {
      this.consumersRemaining--;
      this.state = S.StreamConsumer;
    }
  }

  // ---------------------------------------------------------------- modules

  /** Walk a module value (or module AUX payload) by its annotations until the EOF opcode. */
  private parseModuleValue(): void {
    this.expecting = 'a module value opcode';
    for (;;) {
      const at = this.base + this.pos;
      const op = this.len();
      switch (op) {
        case ModuleOpcode.EOF:
          this.checkpoint();
          if (this.moduleAux) {
            this.moduleAux = false;
            this.state = S.Opcode;
          } else {
            this.endKey();
          }
          return;
        case ModuleOpcode.SINT:
        case ModuleOpcode.UINT:
          this.lenBig();
          break;
        case ModuleOpcode.FLOAT:
          this.bytes(4);
          break;
        case ModuleOpcode.DOUBLE:
          this.bytes(8);
          break;
        case ModuleOpcode.STRING:
          this.str();
          break;
        default:
          throw this.corrupt(`unknown module value opcode ${op}`, at);
      }
      this.checkpoint();
    }
  }

  /** @internal used by score parsing helpers for error offsets. */
  scoreError(text: string, offset: number): RdbError {
    return this.corrupt(`bad sorted set score ${JSON.stringify(text)}`, offset);
  }
}

/** Redis writes scores with %.17g (or "inf"/"-inf"); strtod and parseFloat agree on those. */
function parseScore(b: Buffer, offset: number, p: RdbParser): number {
  const s = b.toString('latin1');
  const n = Number(s);
  if (!Number.isNaN(n) || s.toLowerCase() === 'nan') return n;
  const l = s.toLowerCase();
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Number.POSITIVE_INFINITY;
  if (l === '-inf' || l === '-infinity') return Number.NEGATIVE_INFINITY;
  throw p.scoreError(s, offset);
}

function elementToScore(e: BlobElement, p: RdbParser): number {
  if (typeof e === 'number') return e;
  if (typeof e === 'bigint') return Number(e);
  return parseScore(e, -1, p);
}
