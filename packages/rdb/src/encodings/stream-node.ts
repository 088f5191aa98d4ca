import { BlobCorruptError, type BlobElement, elementToBuffer } from './blob-error.js';
import { ListpackReader } from './listpack.js';

/** A stream entry ID; both parts are unsigned 64-bit. */
export interface StreamId {
  ms: bigint;
  seq: bigint;
}

export interface StreamEntry {
  id: StreamId;
  /** Field, value, field, value, ... as XADD takes them. */
  fields: Buffer[];
}

const MASK64 = (1n << 64n) - 1n;
const FLAG_DELETED = 1;
const FLAG_SAMEFIELDS = 2;

export function streamIdToString(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/** Stream IDs are stored big-endian (ms, seq) as radix-tree keys and in PELs. */
export function readStreamId(b: Uint8Array, at = 0): StreamId {
  const v = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { ms: v.readBigUInt64BE(at), seq: v.readBigUInt64BE(at + 8) };
}

export function compareStreamIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

function asBigInt(e: BlobElement | undefined, what: string, at: () => number): bigint {
  if (typeof e === 'number') return BigInt(e);
  if (typeof e === 'bigint') return e;
  if (e !== undefined && /^-?\d{1,20}$/.test(e.toString('latin1'))) return BigInt(e.toString('latin1'));
  throw new BlobCorruptError(`stream listpack: expected ${what} as an integer`, at());
}

function asCount(e: BlobElement | undefined, what: string, at: () => number): number {
  const v = asBigInt(e, what, at);
  if (v < 0n || v > 0xffffffffn)
    throw new BlobCorruptError(`stream listpack: ${what} ${v} out of range`, at());
  return Number(v);
}

/**
 * The entries of one stream radix-tree node (a listpack whose first entry is the "master entry"
 * with the node's shared field names; every entry's ID is a delta from the node key).
 * Deleted entries (flag 1) are skipped.
 */
export class StreamNodeReader {
  private readonly lp: ListpackReader;
  private readonly masterFields: Buffer[];
  private readonly master: StreamId;
  private done = false;
  /** Valid and deleted entry counts from the master entry. */
  readonly count: number;
  readonly deleted: number;

  constructor(masterKey: Buffer, listpack: Buffer) {
    if (masterKey.length !== 16)
      throw new BlobCorruptError(`stream node key of ${masterKey.length} bytes, not 16`, 0);
    this.master = readStreamId(masterKey);
    this.lp = new ListpackReader(listpack);
    const at = () => 0;
    this.count = asCount(this.lp.next(), 'master entry count', at);
    this.deleted = asCount(this.lp.next(), 'master deleted count', at);
    const nf = asCount(this.lp.next(), 'master field count', at);
    this.masterFields = [];
    for (let i = 0; i < nf; i++) {
      const f = this.lp.next();
      if (f === undefined) throw new BlobCorruptError('stream master entry truncated', 0);
      this.masterFields.push(elementToBuffer(f));
    }
    if (asBigInt(this.lp.next(), 'master entry terminator', at) !== 0n)
      throw new BlobCorruptError('stream master entry not terminated by 0', 0);
  }

  next(): StreamEntry | undefined {
    const at = () => 0;
    while (!this.done) {
      const flagsEl = this.lp.next();
      if (flagsEl === undefined) {
        this.done = true;
        return undefined;
      }
      const flags = asCount(flagsEl, 'entry flags', at);
      const msDiff = asBigInt(this.lp.next(), 'entry ms delta', at);
      const seqDiff = asBigInt(this.lp.next(), 'entry seq delta', at);
      const fields: Buffer[] = [];
      if (flags & FLAG_SAMEFIELDS) {
        for (const f of this.masterFields) {
          const v = this.lp.next();
          if (v === undefined) throw new BlobCorruptError('stream entry truncated', 0);
          fields.push(f, elementToBuffer(v));
        }
      } else {
        const nf = asCount(this.lp.next(), 'entry field count', at);
        for (let i = 0; i < nf * 2; i++) {
          const v = this.lp.next();
          if (v === undefined) throw new BlobCorruptError('stream entry truncated', 0);
          fields.push(elementToBuffer(v));
        }
      }
      asBigInt(this.lp.next(), 'entry lp-count', at);
      if (flags & FLAG_DELETED) continue;
      return {
        id: { ms: (this.master.ms + msDiff) & MASK64, seq: (this.master.seq + seqDiff) & MASK64 },
        fields,
      };
    }
    return undefined;
  }
}
