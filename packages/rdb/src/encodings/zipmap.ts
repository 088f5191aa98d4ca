import { BlobCorruptError, type BlobElement, type ElementReader } from './blob-error.js';

/**
 * Zipmap (Redis < 2.6 small hashes): zmlen u8 | (len key len free value <free bytes>)* | 0xff.
 * A length is one byte below 254, or 254 followed by a u32le. Yields field, value, field, ...
 */
export class ZipmapReader implements ElementReader {
  readonly declaredCount: number;
  private p = 1;
  private wantValue = false;
  private ended = false;

  constructor(private readonly b: Buffer) {
    if (b.length < 2) throw new BlobCorruptError(`zipmap of ${b.length} bytes is too short`, 0);
    this.declaredCount = b[0] < 254 ? b[0] * 2 : -1;
  }

  next(): BlobElement | undefined {
    if (this.ended) return undefined;
    const b = this.b;
    const n = b.length;
    let p = this.p;
    if (p >= n) throw new BlobCorruptError('zipmap has no end marker', p);
    const c = b[p];
    if (c === 0xff) {
      if (this.wantValue) throw new BlobCorruptError('zipmap ends after a field without its value', p);
      this.ended = true;
      return undefined;
    }
    let len: number;
    if (c < 254) {
      len = c;
      p += 1;
    } else if (c === 254) {
      if (p + 5 > n) throw new BlobCorruptError('zipmap length truncated', p);
      len = b.readUInt32LE(p + 1);
      p += 5;
    } else throw new BlobCorruptError('bad zipmap length', p);
    let free = 0;
    if (this.wantValue) {
      if (p >= n) throw new BlobCorruptError('zipmap free byte truncated', p);
      free = b[p];
      p += 1;
    }
    if (p + len + free > n) throw new BlobCorruptError('zipmap entry overruns the blob', p);
    const value = b.subarray(p, p + len);
    this.p = p + len + free;
    this.wantValue = !this.wantValue;
    return value;
  }
}
