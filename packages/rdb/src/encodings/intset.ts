import { BlobCorruptError, type BlobElement, type ElementReader } from './blob-error.js';

/** Intset: encoding u32le (2, 4 or 8 bytes per member) | length u32le | sorted little-endian members. */
export class IntsetReader implements ElementReader {
  readonly declaredCount: number;
  private readonly width: number;
  private i = 0;

  constructor(private readonly b: Buffer) {
    if (b.length < 8) throw new BlobCorruptError(`intset of ${b.length} bytes is shorter than its header`, 0);
    const width = b.readUInt32LE(0);
    if (width !== 2 && width !== 4 && width !== 8) throw new BlobCorruptError(`intset encoding ${width}`, 0);
    const count = b.readUInt32LE(4);
    if (8 + count * width !== b.length)
      throw new BlobCorruptError(
        `intset of ${count} x ${width} bytes does not fill its ${b.length}-byte blob`,
        4,
      );
    this.width = width;
    this.declaredCount = count;
  }

  next(): BlobElement | undefined {
    if (this.i >= this.declaredCount) return undefined;
    const at = 8 + this.i * this.width;
    this.i++;
    if (this.width === 2) return this.b.readInt16LE(at);
    if (this.width === 4) return this.b.readInt32LE(at);
    const v = this.b.readBigInt64LE(at);
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }
}
