import { Crc64 } from './crc64.js';
import { intToBuffer } from './encodings/blob-error.js';
import type { RdbError } from './errors.js';
import { LZF_MAX_RATIO, LzfError, lzfDecompress } from './lzf.js';

/**
 * The byte level of the RDB parser (as pg-protocol keeps its BufferReader apart from the message
 * parser): input buffering across chunks of any size, RDB lengths and strings (integer-encoded
 * and LZF), fixed-width numbers, the running CRC64 and the raw capture of a key's value bytes.
 *
 * Reads are resumable: a read past the buffered bytes records how many are needed and throws
 * NEED_MORE; the parser then restarts its step from the last checkpoint() once they are there.
 */

/** Thrown inside a parse step when the buffered bytes end before the step does. */
export const NEED_MORE: { readonly needMore: true } = { needMore: true };

const EMPTY = Buffer.alloc(0);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** How the reader reports damaged input: the parser adds what it was expecting and the key. */
export type CorruptFn = (message: string, offset: number, cause?: unknown) => RdbError;

export class RdbByteReader {
  buf: Buffer = EMPTY;
  pos = 0;
  /** Everything before this index of buf is parsed: a NEED_MORE resumes from here. */
  committed = 0;
  /** Absolute offset of buf[0] in the RDB. */
  base = 0;
  private pending: Buffer[] = [];
  pendingBytes = 0;
  /** Absolute offset the last step needed to reach. */
  needAbs = 0;

  private readonly crc = new Crc64();
  private crcFrom = 0;

  private rawOn = false;
  private rawFrom = 0;
  private rawParts: Buffer[] = [];

  constructor(
    private readonly verify: boolean,
    readonly maxString: number,
    private readonly corrupt: CorruptFn,
  ) {}

  /** Absolute offset of the next byte to read. */
  get at(): number {
    return this.base + this.pos;
  }

  /** Absolute offset of the last checkpoint. */
  get committedAt(): number {
    return this.base + this.committed;
  }

  /** Bytes written and not yet merged into buf. */
  get available(): number {
    return this.base + this.buf.length + this.pendingBytes;
  }

  write(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  /** The unparsed bytes: after the end of the RDB, a trailer or what follows on a link. */
  rest(): Buffer {
    const tail = this.buf.subarray(this.committed);
    return this.pending.length ? Buffer.concat([tail, ...this.pending]) : tail;
  }

  /** Make the pending chunks readable (called only once enough bytes have arrived). */
  merge(done: boolean): void {
    this.flushLazy(done);
    const tail = this.buf.subarray(this.committed);
    if (tail.length === 0 && this.pending.length === 1) this.buf = this.pending[0]!;
    else this.buf = Buffer.concat(tail.length ? [tail, ...this.pending] : this.pending);
    this.base += this.committed;
    this.pos = this.committed = 0;
    this.crcFrom = 0;
    this.rawFrom = 0;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Fold consumed bytes into the CRC and the raw capture before buf is replaced. */
  private flushLazy(done: boolean): void {
    if (this.verify && this.committed > this.crcFrom && !done) {
      this.crc.update(this.buf, this.crcFrom, this.committed);
    }
    this.crcFrom = this.committed;
    if (this.rawOn && this.committed > this.rawFrom) {
      this.rawParts.push(this.buf.subarray(this.rawFrom, this.committed));
    }
    this.rawFrom = this.committed;
  }

  /** Mark everything read so far as parsed. */
  checkpoint(): void {
    this.committed = this.pos;
  }

  /** Back to the last checkpoint (a step that ran out of bytes). */
  rewind(): void {
    this.pos = this.committed;
  }

  // ------------------------------------------------------------ checksum

  /** Does the CRC of everything before buf index `end` match the file's checksum? */
  checksumMatches(sum: Buffer, end: number): boolean {
    this.crc.update(this.buf, this.crcFrom, end);
    this.crcFrom = end;
    return this.crc.matches(sum);
  }

  checksumHex(): string {
    return this.crc.digestBytes().toString('hex');
  }

  // ------------------------------------------------------------ raw capture

  /** Capture the bytes from buf index `from` on (a key's value body). */
  startRaw(from: number): void {
    this.rawOn = true;
    this.rawParts = [];
    this.rawFrom = from;
  }

  stopRaw(): void {
    this.rawOn = false;
    this.rawParts = [];
  }

  get capturing(): boolean {
    return this.rawOn;
  }

  /** The bytes captured up to the last checkpoint; capture goes on from there. */
  takeRaw(): Buffer {
    const tail = this.buf.subarray(this.rawFrom, this.committed);
    const parts = this.rawParts;
    this.rawParts = [];
    this.rawFrom = this.committed;
    return parts.length === 0 ? tail : Buffer.concat(tail.length ? [...parts, tail] : parts);
  }

  // ------------------------------------------------------------ primitive reads

  need(n: number): void {
    if (this.pos + n > this.buf.length) {
      this.needAbs = this.base + this.pos + n;
      throw NEED_MORE;
    }
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.need(1);
    return this.buf[this.pos++]!;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A length (not an encoded string). */
  len(): number {
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
  lenBig(): bigint {
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
  str(): Buffer {
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

  /** A little-endian signed 32-bit integer (EXPIRETIME in seconds). */
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A little-endian signed 64-bit integer (millisecond times). */
  i64ms(): number {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return Number(v);
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
}
