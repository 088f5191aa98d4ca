import { hasFieldTtls, QuicklistContainer, RdbType } from './constants.js';
import type { DecoderHost } from './decoder-host.js';
import {
  BlobCorruptError,
  type BlobElement,
  type ElementReader,
  elementToBuffer,
} from './encodings/blob-error.js';
import { IntsetReader } from './encodings/intset.js';
import { ListpackReader } from './encodings/listpack.js';
import { ZiplistReader } from './encodings/ziplist.js';
import { ZipmapReader } from './encodings/zipmap.js';
import type { RdbError } from './errors.js';
import type { RdbValueChunk } from './events.js';

/** Which part of a collection value is being read. */
export enum CollectionPhase {
  /** list (1), set (2): counted strings */
  Plain,
  /** zset (3, 5): member and score */
  Zset,
  /** hash (4): field and value */
  Hash,
  /** hash with field TTLs (22, 24) */
  HashMeta,
  /** the elements of one encoded blob (ziplist, listpack, intset, zipmap) */
  Blob,
  /** the next node of a quicklist */
  QuicklistNodes,
  /** the elements of the current quicklist node */
  QuicklistItems,
}

type BlobShape = 'list' | 'set' | 'zset' | 'hash' | 'hashTtl';

/**
 * The values of lists, sets, sorted sets and hashes in every encoding: counted elements, encoded
 * blobs and quicklists, emitted as chunks of at most maxItems elements / maxBytes bytes, so at
 * most one chunk is held in memory.
 */
export class CollectionDecoder {
  phase = CollectionPhase.Plain;
  private remaining = 0;
  private minExpire = 0;
  private items: Buffer[] = [];
  private items2: Buffer[] = [];
  private scores: number[] = [];
  private ttls: number[] = [];
  private chunkBytes = 0;
  private reader: ElementReader | null = null;
  private shape: BlobShape = 'list';
  private blobOffset = 0;
  private quicklistV2 = false;

  constructor(private readonly h: DecoderHost) {}

  private reset(): void {
    this.items = [];
    this.items2 = [];
    this.scores = [];
    this.ttls = [];
    this.chunkBytes = 0;
    this.reader = null;
  }

  /** `n` elements one by one (types 1-4, 22, 24); `minExpire` for HASH_METADATA's relative TTLs. */
  beginCounted(phase: CollectionPhase, n: number, minExpire = 0): void {
    this.reset();
    this.phase = phase;
    this.remaining = n;
    this.minExpire = minExpire;
  }

  beginQuicklist(nodes: number, v2: boolean): void {
    this.reset();
    this.remaining = nodes;
    this.quicklistV2 = v2;
    this.phase = CollectionPhase.QuicklistNodes;
  }

  /**
   * A reader over the encoded value of RDB type `t` (throws on a damaged blob before anything of
   * the key is committed); beginBlob() then starts reading it.
   */
  openBlob(t: number, blob: Buffer, blobAt: number): { reader: ElementReader; shape: BlobShape } {
    try {
      switch (t) {
        case RdbType.HASH_ZIPMAP:
          return { reader: new ZipmapReader(blob), shape: 'hash' };
        case RdbType.LIST_ZIPLIST:
          return { reader: new ZiplistReader(blob), shape: 'list' };
        case RdbType.SET_INTSET:
          return { reader: new IntsetReader(blob), shape: 'set' };
        case RdbType.ZSET_ZIPLIST:
          return { reader: new ZiplistReader(blob), shape: 'zset' };
        case RdbType.HASH_ZIPLIST:
          return { reader: new ZiplistReader(blob), shape: 'hash' };
        case RdbType.HASH_LISTPACK:
          return { reader: new ListpackReader(blob), shape: 'hash' };
        case RdbType.ZSET_LISTPACK:
          return { reader: new ListpackReader(blob), shape: 'zset' };
        case RdbType.SET_LISTPACK:
          return { reader: new ListpackReader(blob), shape: 'set' };
        case RdbType.HASH_LISTPACK_EX:
        case RdbType.HASH_LISTPACK_EX_PRE_GA:
          return { reader: new ListpackReader(blob), shape: 'hashTtl' };
        default:
          throw this.h.corrupt(`unknown key type ${t}`, this.h.key().offset);
      }
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.h.blobCorrupt(e, blobAt);
      throw e;
    }
  }

  beginBlob(opened: { reader: ElementReader; shape: BlobShape }, blobAt: number): void {
    this.reset();
    this.reader = opened.reader;
    this.shape = opened.shape;
    this.blobOffset = blobAt;
    this.phase = CollectionPhase.Blob;
  }

  step(): void {
    switch (this.phase) {
      case CollectionPhase.Plain:
        this.parsePlainElems();
        return;
      case CollectionPhase.Zset:
        this.parseZsetElems();
        return;
      case CollectionPhase.Hash:
        this.parseHashElems();
        return;
      case CollectionPhase.HashMeta:
        this.parseHashMetaElems();
        return;
      case CollectionPhase.Blob:
        this.drainBlob(true);
        return;
      case CollectionPhase.QuicklistNodes:
        this.parseQuicklistNode();
        return;
      case CollectionPhase.QuicklistItems:
        this.drainBlob(false);
        return;
    }
  }

  private chunkFull(): boolean {
    return this.items.length >= this.h.maxItems || this.chunkBytes >= this.h.maxBytes;
  }

  private flushChunk(): void {
    const info = this.h.key();
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
    this.h.emit({ kind: 'chunk', key: info, value });
  }

  private finish(): void {
    if (this.items.length) this.flushChunk();
    this.reader = null;
    this.h.endKey();
  }

  private parsePlainElems(): void {
    const { r } = this.h;
    this.h.expecting = this.h.key().type === 'list' ? 'a list element' : 'a set member';
    while (this.remaining > 0 && !this.chunkFull()) {
      const e = r.str();
      r.checkpoint();
      this.items.push(e);
      this.chunkBytes += e.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finish();
    else this.flushChunk();
  }

  private parseZsetElems(): void {
    const { r } = this.h;
    this.h.expecting = 'a sorted set member and score';
    const binary = this.h.key().rdbType === RdbType.ZSET_2;
    while (this.remaining > 0 && !this.chunkFull()) {
      const m = r.str();
      const s = binary ? r.f64() : this.asciiDouble();
      r.checkpoint();
      this.items.push(m);
      this.scores.push(s);
      this.chunkBytes += m.length + 8;
      this.remaining--;
    }
    if (this.remaining === 0) this.finish();
    else this.flushChunk();
  }

  private parseHashElems(): void {
    const { r } = this.h;
    this.h.expecting = 'a hash field and value';
    while (this.remaining > 0 && !this.chunkFull()) {
      const f = r.str();
      const v = r.str();
      r.checkpoint();
      this.items.push(f);
      this.items2.push(v);
      this.chunkBytes += f.length + v.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finish();
    else this.flushChunk();
  }

  private parseHashMetaElems(): void {
    const { r } = this.h;
    this.h.expecting = 'a hash field TTL, field and value';
    const relative = this.h.key().rdbType === RdbType.HASH_METADATA;
    while (this.remaining > 0 && !this.chunkFull()) {
      const ttl = r.len();
      const f = r.str();
      const v = r.str();
      r.checkpoint();
      // HASH_METADATA stores ttl+1 relative to the key's minimum; 0 means no TTL.
      this.ttls.push(ttl === 0 ? 0 : relative ? ttl + this.minExpire - 1 : ttl);
      this.items.push(f);
      this.items2.push(v);
      this.chunkBytes += f.length + v.length;
      this.remaining--;
    }
    if (this.remaining === 0) this.finish();
    else this.flushChunk();
  }

  /** Move up to one chunk of elements from the current blob reader into the chunk buffers. */
  private drainBlob(singleBlob: boolean): void {
    const reader = this.reader!;
    const shape = this.shape;
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
          this.scores.push(this.elementToScore(s));
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
      if (e instanceof BlobCorruptError) throw this.h.blobCorrupt(e, this.blobOffset);
      throw e;
    }
    if (!exhausted) {
      this.flushChunk();
      return;
    }
    this.reader = null;
    if (singleBlob) this.finish();
    else this.phase = CollectionPhase.QuicklistNodes;
  }

  private parseQuicklistNode(): void {
    if (this.remaining === 0) {
      this.finish();
      return;
    }
    const { r } = this.h;
    this.h.expecting = 'a quicklist node';
    let container: number = QuicklistContainer.PACKED;
    if (this.quicklistV2) {
      container = r.len();
      if (container !== QuicklistContainer.PACKED && container !== QuicklistContainer.PLAIN) {
        throw this.h.corrupt(`quicklist node container ${container}`, r.at - 1);
      }
    }
    const blobAt = r.at;
    const blob = r.str();
    if (container === QuicklistContainer.PLAIN) {
      r.checkpoint();
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
      if (e instanceof BlobCorruptError) throw this.h.blobCorrupt(e, blobAt);
      throw e;
    }
    r.checkpoint();
    this.remaining--;
    this.reader = reader;
    this.shape = 'list';
    this.blobOffset = blobAt;
    this.phase = CollectionPhase.QuicklistItems;
  }

  /** Score of a type-3 zset: a length byte then ASCII, or 253/254/255 for nan/+inf/-inf. */
  private asciiDouble(): number {
    const { r } = this.h;
    const n = r.u8();
    if (n === 253) return Number.NaN;
    if (n === 254) return Number.POSITIVE_INFINITY;
    if (n === 255) return Number.NEGATIVE_INFINITY;
    return parseScore(this.h, r.bytes(n), r.at - n);
  }

  private elementToScore(e: BlobElement): number {
    if (typeof e === 'number') return e;
    if (typeof e === 'bigint') return Number(e);
    return parseScore(this.h, e, -1);
  }
}

/** Redis writes scores with %.17g (or "inf"/"-inf"); strtod and parseFloat agree on those. */
function parseScore(h: DecoderHost, b: Buffer, offset: number): number {
  const s = b.toString('latin1');
  const n = Number(s);
  if (!Number.isNaN(n) || s.toLowerCase() === 'nan') return n;
  const l = s.toLowerCase();
  if (l === 'inf' || l === '+inf' || l === 'infinity' || l === '+infinity') return Number.POSITIVE_INFINITY;
  if (l === '-inf' || l === '-infinity') return Number.NEGATIVE_INFINITY;
  throw scoreError(h, s, offset);
}

function scoreError(h: DecoderHost, text: string, offset: number): RdbError {
  return h.corrupt(`bad sorted set score ${JSON.stringify(text)}`, offset);
}
