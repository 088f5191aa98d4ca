/**
 * CRC-64 as Redis computes it for RDB files and DUMP payloads: the Jones polynomial
 * (0xad93d23594c935a9), reflected input and output, initial value 0, no final xor
 * (check value for "123456789": 0xe9c6d914c4b8d9ca).
 *
 * JavaScript has no fast 64-bit integers, so the register is kept as two 32-bit halves and the
 * table-driven update runs slice-by-8: eight table lookups per half for every 8 input bytes.
 */

const POLY_REFLECTED_HI = 0x95ac9329;
const POLY_REFLECTED_LO = 0xac4bc9b5;

// TLO[k * 256 + i] / THI[...]: table k of slice-by-8 (table 0 is the byte-at-a-time table).
const TLO = new Uint32Array(8 * 256);
const THI = new Uint32Array(8 * 256);

for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let bit = 0; bit < 8; bit++) {
    const lsb = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi = hi >>> 1;
    if (lsb) {
      lo = (lo ^ POLY_REFLECTED_LO) >>> 0;
      hi = (hi ^ POLY_REFLECTED_HI) >>> 0;
    }
  }
  TLO[i] = lo;
  THI[i] = hi;
}
for (let k = 1; k < 8; k++) {
  for (let i = 0; i < 256; i++) {
    const plo = TLO[(k - 1) * 256 + i];
    const phi = THI[(k - 1) * 256 + i];
    const idx = plo & 0xff;
    TLO[k * 256 + i] = (((plo >>> 8) | ((phi & 0xff) << 24)) ^ TLO[idx]) >>> 0;
    THI[k * 256 + i] = ((phi >>> 8) ^ THI[idx]) >>> 0;
  }
}

/** An incremental CRC-64 register. */
export class Crc64 {
  private lo = 0;
  private hi = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    let lo = this.lo;
    let hi = this.hi;
    let p = start;
    const fast = end - 8;
    while (p <= fast) {
      lo ^= data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24);
      hi ^= data[p + 4] | (data[p + 5] << 8) | (data[p + 6] << 16) | (data[p + 7] << 24);
      const a = 7 * 256 + (lo & 0xff);
      const b = 6 * 256 + ((lo >>> 8) & 0xff);
      const c = 5 * 256 + ((lo >>> 16) & 0xff);
      const d = 4 * 256 + (lo >>> 24);
      const e = 3 * 256 + (hi & 0xff);
      const f = 2 * 256 + ((hi >>> 8) & 0xff);
      const g = 256 + ((hi >>> 16) & 0xff);
      const h = hi >>> 24;
      lo = TLO[a] ^ TLO[b] ^ TLO[c] ^ TLO[d] ^ TLO[e] ^ TLO[f] ^ TLO[g] ^ TLO[h];
      hi = THI[a] ^ THI[b] ^ THI[c] ^ THI[d] ^ THI[e] ^ THI[f] ^ THI[g] ^ THI[h];
      p += 8;
    }
    while (p < end) {
      const idx = (lo ^ data[p]) & 0xff;
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ TLO[idx];
      hi = (hi >>> 8) ^ THI[idx];
      p++;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  digest(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** The register as Redis stores it: 8 bytes little-endian. */
  digestBytes(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32LE(this.lo, 0);
    out.writeUInt32LE(this.hi, 4);
    return out;
  }

  /** True when `stored` (8 bytes LE, as read from an RDB or payload) equals the register. */
  matches(stored: Uint8Array, offset = 0): boolean {
    const lo =
      (stored[offset] |
        (stored[offset + 1] << 8) |
        (stored[offset + 2] << 16) |
        (stored[offset + 3] << 24)) >>>
      0;
    const hi =
      (stored[offset + 4] |
        (stored[offset + 5] << 8) |
        (stored[offset + 6] << 16) |
        (stored[offset + 7] << 24)) >>>
      0;
    return lo === this.lo && hi === this.hi;
  }
}

export function crc64(data: Uint8Array): bigint {
  return new Crc64().update(data).digest();
}
