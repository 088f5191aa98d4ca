import { BlobCorruptError, type BlobElement, type ElementReader } from './blob-error.js';

/**
 * Ziplist (Redis <= 6.2 lists, hashes, zsets; quicklist v1 nodes):
 * zlbytes u32le | zltail u32le | zllen u16le | entries | 0xff.
 * Entry: prevlen (1 byte, or 0xfe + u32le) | encoding | data.
 */
export class ZiplistReader implements ElementReader {
  readonly declaredCount: number;
  private p = 10;
  private ended = false;

  constructor(private readonly b: Buffer) {
    if (b.length < 11)
      throw new BlobCorruptError(`ziplist of ${b.length} bytes is shorter than its header`, 0);
    const zlbytes = b.readUInt32LE(0);
    if (zlbytes !== b.length)
      throw new BlobCorruptError(`ziplist header says ${zlbytes} bytes, blob has ${b.length}`, 0);
    const count = b.readUInt16LE(8);
    this.declaredCount = count === 0xffff ? -1 : count;
  }

  next(): BlobElement | undefined {
    if (this.ended) return undefined;
    const b = this.b;
    let p = this.p;
    const n = b.length;
    if (p >= n) throw new BlobCorruptError('ziplist has no end marker', p);
    let c = b[p];
    if (c === 0xff) {
      this.ended = true;
      return undefined;
    }
    if (c === 0xfe) p += 5;
    else p += 1;
    if (p >= n) throw new BlobCorruptError('ziplist entry truncated after prevlen', p);
    c = b[p];
    let value: BlobElement;
    switch (c >> 6) {
      case 0: {
        const len = c & 0x3f;
        const start = p + 1;
        if (start + len > n) throw new BlobCorruptError('ziplist string overruns the blob', p);
        value = b.subarray(start, start + len);
        p = start + len;
        break;
      }
      case 1: {
        if (p + 2 > n) throw new BlobCorruptError('ziplist 14-bit length truncated', p);
        const len = ((c & 0x3f) << 8) | b[p + 1];
        const start = p + 2;
        if (start + len > n) throw new BlobCorruptError('ziplist string overruns the blob', p);
        value = b.subarray(start, start + len);
        p = start + len;
        break;
      }
      case 2: {
        if (c !== 0x80 || p + 5 > n) throw new BlobCorruptError('bad ziplist 32-bit string length', p);
        const len = b.readUInt32BE(p + 1);
        const start = p + 5;
        if (start + len > n) throw new BlobCorruptError('ziplist string overruns the blob', p);
        value = b.subarray(start, start + len);
        p = start + len;
        break;
      }
      default: {
        let size: number;
        if (c === 0xc0) size = 2;
        else if (c === 0xd0) size = 4;
        else if (c === 0xe0) size = 8;
        else if (c === 0xf0) size = 3;
        else if (c === 0xfe) size = 1;
        else if (c >= 0xf1 && c <= 0xfd) size = 0;
        else throw new BlobCorruptError(`unknown ziplist encoding 0x${c.toString(16)}`, p);
        if (p + 1 + size > n) throw new BlobCorruptError('ziplist integer truncated', p);
        const d = p + 1;
        if (size === 0) value = (c & 0x0f) - 1;
        else if (size === 1) value = b.readInt8(d);
        else if (size === 2) value = b.readInt16LE(d);
        else if (size === 3) value = b.readIntLE(d, 3);
        else if (size === 4) value = b.readInt32LE(d);
        else value = b.readBigInt64LE(d);
        p = d + size;
      }
    }
    this.p = p;
    return value;
  }
}
