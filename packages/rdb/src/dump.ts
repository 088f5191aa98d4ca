import { hasFieldTtls, minRdbVersionForType, RdbType } from './constants.js';
import { Crc64 } from './crc64.js';
import type { RdbEvent, RdbKeyInfo, RdbValueChunk } from './events.js';
import {
  encodeAsciiDouble,
  encodeBinaryDouble,
  encodeLength,
  encodeMillis,
  encodeStreamIdRaw,
  encodeString,
} from './rdb-encode.js';

/**
 * A DUMP/RESTORE payload: type byte | body | RDB version (u16le) | CRC64 (u64le) of all before.
 * Redis refuses a payload whose version is above its own, or whose type it does not know.
 */
export function dumpPayload(rdbType: number, body: Buffer | readonly Buffer[], rdbVersion: number): Buffer {
  const parts = Buffer.isBuffer(body) ? [body] : body;
  let bodyLen = 0;
  for (const p of parts) bodyLen += p.length;
  const out = Buffer.allocUnsafe(1 + bodyLen + 2 + 8);
  out[0] = rdbType;
  let o = 1;
  for (const p of parts) {
    p.copy(out, o);
    o += p.length;
  }
  out.writeUInt16LE(rdbVersion, o);
  o += 2;
  new Crc64().update(out, 0, o).digestBytes().copy(out, o);
  return out;
}

/** Split a payload back into its parts; null when the footer or checksum is wrong. */
export function parseDumpPayload(
  payload: Buffer,
): { rdbType: number; body: Buffer; rdbVersion: number } | null {
  if (payload.length < 11) return null;
  const end = payload.length - 8;
  if (!new Crc64().update(payload, 0, end).matches(payload, end)) return null;
  return {
    rdbType: payload[0],
    body: payload.subarray(1, end - 2),
    rdbVersion: payload.readUInt16LE(end - 2),
  };
}

export type DumpResult =
  | { kind: 'payload'; payload: Buffer; rdbType: number }
  /** The value cannot be a payload this target loads: restore it with commands instead. */
  | { kind: 'convert'; reason: string };

/**
 * Can a value of this key be restored on a target of `targetRdbVersion` with RESTORE, before
 * seeing its data? (Hashes with field TTLs are decided at the end: they may have none set.)
 */
export function dumpableFor(
  key: RdbKeyInfo,
  targetRdbVersion: number,
): { ok: true } | { ok: false; reason: string } {
  if (key.type === 'module') {
    return {
      ok: false,
      reason: `module type '${key.module?.name ?? '?'}' values cannot be rebuilt by minirs`,
    };
  }
  if (key.type === 'stream' && targetRdbVersion < 9) {
    return { ok: false, reason: `streams need RDB 9 (Redis 5.0); target has RDB ${targetRdbVersion}` };
  }
  return { ok: true };
}

/**
 * Builds one key's DUMP payload for a given target RDB version from the parser's events.
 *
 * - When the parser captured raw bytes and the target knows the source encoding, the payload
 *   carries the source bytes unchanged (exact, and no re-encoding cost).
 * - Otherwise the value is re-encoded into an encoding every target of that version loads:
 *   plain list (1), set (2), zset (5, or 3 below RDB 8), hash (4, or 24 with field TTLs on
 *   RDB 12), and streams re-serialized at the highest stream version the target knows (its
 *   listpack nodes are kept as they are: their format did not change across versions).
 *
 * Memory: the payload is held whole (RESTORE needs it whole); watch `bytes` and fall back to
 * commands past a limit.
 */
export class DumpBuilder {
  private readonly raw: boolean;
  private readonly parts: Buffer[] = [];
  private count = 0;
  private _bytes = 0;
  private hashTtls: { field: Buffer; value: Buffer; expireAt: number }[] | null = null;
  private readonly streamType: number;

  constructor(
    readonly key: RdbKeyInfo,
    readonly targetRdbVersion: number,
    rawCaptured: boolean,
  ) {
    this.raw = rawCaptured && targetRdbVersion >= minRdbVersionForType(key.rdbType);
    const sv =
      key.rdbType === RdbType.STREAM_LISTPACKS ? 1 : key.rdbType === RdbType.STREAM_LISTPACKS_2 ? 2 : 3;
    const tv = targetRdbVersion >= 11 ? 3 : targetRdbVersion >= 10 ? 2 : 1;
    const v = Math.min(sv, tv);
    this.streamType =
      v === 1 ? RdbType.STREAM_LISTPACKS : v === 2 ? RdbType.STREAM_LISTPACKS_2 : RdbType.STREAM_LISTPACKS_3;
  }

  /** Bytes of payload body gathered so far. */
  get bytes(): number {
    return this._bytes;
  }

  private put(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.parts.push(b);
      this._bytes += b.length;
    }
  }

  add(ev: RdbEvent): void {
    if (ev.kind !== 'keyStart' && ev.kind !== 'chunk' && ev.kind !== 'keyEnd') return;
    if (this.raw) {
      if (ev.raw?.length) this.put(ev.raw);
      return;
    }
    if (ev.kind === 'keyStart') {
      if (this.key.type === 'stream') this.put(encodeLength(this.key.length ?? 0));
      return;
    }
    if (ev.kind === 'chunk') this.addChunk(ev.value);
  }

  private addChunk(c: RdbValueChunk): void {
    switch (c.type) {
      case 'string':
        this.put(...encodeString(c.value));
        return;
      case 'list':
        for (const e of c.elements) this.put(...encodeString(e));
        this.count += c.elements.length;
        return;
      case 'set':
        for (const e of c.members) this.put(...encodeString(e));
        this.count += c.members.length;
        return;
      case 'zset': {
        const binary = this.targetRdbVersion >= 8;
        for (let i = 0; i < c.members.length; i++) {
          this.put(...encodeString(c.members[i]));
          this.put(binary ? encodeBinaryDouble(c.scores[i]) : encodeAsciiDouble(c.scores[i]));
        }
        this.count += c.members.length;
        return;
      }
      case 'hash':
        for (let i = 0; i < c.fields.length; i++) {
          const t = c.expireAts ? c.expireAts[i] : 0;
          if (t !== 0) {
            // Field TTLs need the key's minimum TTL first: keep the fields until the end.
            this.hashTtls ??= [];
            this.hashTtls.push({ field: c.fields[i], value: c.values[i], expireAt: t });
            this._bytes += c.fields[i].length + c.values[i].length + 9;
          } else {
            this.put(...encodeString(c.fields[i]), ...encodeString(c.values[i]));
          }
        }
        this.count += c.fields.length;
        return;
      case 'streamEntries':
        if (c.node) this.put(...encodeString(c.node.masterKey), ...encodeString(c.node.listpack));
        return;
      case 'streamMeta': {
        const v2 = this.streamType !== RdbType.STREAM_LISTPACKS;
        this.put(encodeLength(c.length), encodeLength(c.lastId.ms), encodeLength(c.lastId.seq));
        if (v2) {
          // A v1 source has no such fields: Redis derives the same values when it loads v1.
          const first = c.firstId ?? { ms: 0n, seq: 0n };
          const maxDel = c.maxDeletedId ?? { ms: 0n, seq: 0n };
          this.put(encodeLength(first.ms), encodeLength(first.seq));
          this.put(encodeLength(maxDel.ms), encodeLength(maxDel.seq));
          this.put(encodeLength(c.entriesAdded ?? BigInt(c.length)));
        }
        this.put(encodeLength(c.groupCount));
        return;
      }
      case 'streamGroup':
        this.put(...encodeString(c.name), encodeLength(c.lastId.ms), encodeLength(c.lastId.seq));
        if (this.streamType !== RdbType.STREAM_LISTPACKS) {
          this.put(encodeLength(c.entriesRead ?? (1n << 64n) - 1n));
        }
        this.put(encodeLength(c.pendingCount));
        return;
      case 'streamPending':
        for (const p of c.pending) {
          this.put(
            encodeStreamIdRaw(p.id.ms, p.id.seq),
            encodeMillis(p.deliveryTime),
            encodeLength(p.deliveryCount),
          );
        }
        return;
      case 'streamConsumerCount':
        this.put(encodeLength(c.count));
        return;
      case 'streamConsumer':
        this.put(...encodeString(c.name), encodeMillis(c.seenTime));
        if (this.streamType === RdbType.STREAM_LISTPACKS_3)
          this.put(encodeMillis(c.activeTime ?? c.seenTime));
        this.put(encodeLength(c.pendingCount));
        return;
      case 'streamConsumerPending':
        for (const id of c.ids) this.put(encodeStreamIdRaw(id.ms, id.seq));
        return;
    }
  }

  finish(): DumpResult {
    const t = this.key.rdbType;
    if (this.raw) return this.result(t, this.parts);
    switch (this.key.type) {
      case 'string':
        return this.result(RdbType.STRING, this.parts);
      case 'list':
        return this.result(RdbType.LIST, [encodeLength(this.count), ...this.parts]);
      case 'set':
        return this.result(RdbType.SET, [encodeLength(this.count), ...this.parts]);
      case 'zset':
        return this.result(this.targetRdbVersion >= 8 ? RdbType.ZSET_2 : RdbType.ZSET, [
          encodeLength(this.count),
          ...this.parts,
        ]);
      case 'hash': {
        if (!this.hashTtls) return this.result(RdbType.HASH, [encodeLength(this.count), ...this.parts]);
        if (this.targetRdbVersion < 12 || !hasFieldTtls(t)) {
          return {
            kind: 'convert',
            reason: `hash field TTLs need RDB 12 (Redis 7.4); target has RDB ${this.targetRdbVersion}`,
          };
        }
        let min = Number.POSITIVE_INFINITY;
        for (const f of this.hashTtls) min = Math.min(min, f.expireAt);
        // HASH_METADATA: min expiry, then per field ttl (0 = none, else expireAt - min + 1), field, value.
        const body: Buffer[] = [encodeMillis(min), encodeLength(this.count)];
        for (let i = 0; i < this.parts.length; i += 4)
          body.push(encodeLength(0), ...this.parts.slice(i, i + 4));
        for (const f of this.hashTtls) {
          body.push(encodeLength(f.expireAt - min + 1), ...encodeString(f.field), ...encodeString(f.value));
        }
        return this.result(RdbType.HASH_METADATA, body);
      }
      case 'stream':
        return this.result(this.streamType, this.parts);
      default:
        return { kind: 'convert', reason: `cannot build a payload for a ${this.key.type} value` };
    }
  }

  private result(rdbType: number, body: Buffer[]): DumpResult {
    return { kind: 'payload', payload: dumpPayload(rdbType, body, this.targetRdbVersion), rdbType };
  }
}
