/**
 * RDB serialization primitives (the inverse of the parser's reads), for DUMP payload bodies.
 * Strings are written raw (no LZF, no integer encoding): every Redis version loads that.
 */

export function encodeLength(n: number | bigint): Buffer {
  if (typeof n === 'bigint' || n > 0xffffffff) {
    const b = Buffer.allocUnsafe(9);
    b[0] = 0x81;
    b.writeBigUInt64BE(BigInt(n), 1);
    return b;
  }
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = 0x80;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Length prefix and bytes, as two parts (no copy of the data). */
export function encodeString(s: Buffer): Buffer[] {
  return [encodeLength(s.length), s];
}

export function encodeBinaryDouble(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(v, 0);
  return b;
}

/** Type-3 zset score: length byte + shortest round-trip ASCII, or 253/254/255 for nan/+inf/-inf. */
export function encodeAsciiDouble(v: number): Buffer {
  if (Number.isNaN(v)) return Buffer.from([253]);
  if (v === Number.POSITIVE_INFINITY) return Buffer.from([254]);
  if (v === Number.NEGATIVE_INFINITY) return Buffer.from([255]);
  const s = formatScore(v);
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
}

export function encodeMillis(ms: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64LE(BigInt(ms), 0);
  return b;
}

export function encodeStreamIdRaw(ms: bigint, seq: bigint): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeBigUInt64BE(ms, 0);
  b.writeBigUInt64BE(seq, 8);
  return b;
}

/**
 * A score as Redis parses it back to the same double: JS's shortest round-trip form, with
 * Redis's spelling of infinities and the sign of negative zero kept.
 */
export function formatScore(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}
