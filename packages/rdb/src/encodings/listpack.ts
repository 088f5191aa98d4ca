import { BlobCorruptError, type BlobElement, type ElementReader } from './blob-error.js';

/**
 * Listpack (Redis >= 7 small collections, quicklist v2 nodes, stream nodes):
 * total-bytes u32le | num-elements u16le | entries | 0xff.
 * Entry: encoding+data | backlen (1..5 bytes, the size of encoding+data, read right to left).
 */
export class ListpackReader implements ElementReader {
  readonly declaredCount: number;
  private p = 6;
  private ended = false;

  constructor(private readonly b: Buffer) {
    if (b.length < 7)
      throw new BlobCorruptError(`listpack of ${b.length} bytes is shorter than its header`, 0);
    const total = b.readUInt32LE(0);
    if (total !== b.length)
      throw new BlobCorruptError(`listpack header says ${total} bytes, blob has ${b.length}`, 0);
    const count = b.readUInt16LE(4);
    this.declaredCount = count === 0xffff ? -1 : count;
  }

  next(): BlobElement | undefined {
    if (this.ended) return undefined;
    const b = this.b;
    const p = this.p;
    const n = b.length;
    if (p >= n) throw new BlobCorruptError('listpack has no end marker', p);
    const c = b[p];
    let value: BlobElement;
    let size: number; // encoding + data
    if (c < 0x80) {
      value = c;
      size = 1;
    } else if (c < 0xc0) {
      const len = c & 0x3f;
      size = 1 + len;
      if (p + size > n) throw new BlobCorruptError('listpack string overruns the blob', p);
      value = b.subarray(p + 1, p + size);
    } else if (c < 0xe0) {
      if (p + 2 > n) throw new BlobCorruptError('listpack 13-bit integer truncated', p);
      const v = ((c & 0x1f) << 8) | b[p + 1];
      value = v >= 4096 ? v - 8192 : v;
      size = 2;
    } else if (c < 0xf0) {
      if (p + 2 > n) throw new BlobCorruptError('listpack 12-bit length truncated', p);
      const len = ((c & 0x0f) << 8) | b[p + 1];
      size = 2 + len;
      if (p + size > n) throw new BlobCorruptError('listpack string overruns the blob', p);
      value = b.subarray(p + 2, p + size);
    } else {
      switch (c) {
        case 0xf0: {
          if (p + 5 > n) throw new BlobCorruptError('listpack 32-bit length truncated', p);
          const len = b.readUInt32LE(p + 1);
          size = 5 + len;
          if (p + size > n) throw new BlobCorruptError('listpack string overruns the blob', p);
          value = b.subarray(p + 5, p + size);
          break;
        }
        case 0xf1:
          size = 3;
          if (p + size > n) throw new BlobCorruptError('listpack int16 truncated', p);
          value = b.readInt16LE(p + 1);
          break;
        case 0xf2:
          size = 4;
          if (p + size > n) throw new BlobCorruptError('listpack int24 truncated', p);
          value = b.readIntLE(p + 1, 3);
          break;
        case 0xf3:
          size = 5;
          if (p + size > n) throw new BlobCorruptError('listpack int32 truncated', p);
          value = b.readInt32LE(p + 1);
          break;
        case 0xf4:
          size = 9;
          if (p + size > n) throw new BlobCorruptError('listpack int64 truncated', p);
          value = b.readBigInt64LE(p + 1);
          break;
        case 0xff:
          this.ended = true;
          return undefined;
        default:
          throw new BlobCorruptError(`unknown listpack encoding 0x${c.toString(16)}`, p);
      }
    }
    const back = size <= 127 ? 1 : size < 16383 ? 2 : size < 2097151 ? 3 : size < 268435455 ? 4 : 5;
    if (p + size + back > n) throw new BlobCorruptError('listpack entry backlen overruns the blob', p);
    this.p = p + size + back;
    return value;
  }
}
