/**
 * LZF, the compression Redis uses for RDB strings (RDB_ENC_LZF). Format: a control byte below 32
 * starts a literal run of ctrl+1 bytes; otherwise the top 3 bits are a back-reference length - 2
 * (7 means one extra length byte follows) and the low 5 bits plus the next byte are the distance - 1.
 */

/** Why decompression failed (the caller turns it into an RdbError with the stream offset). */
export class LzfError extends Error {
  constructor(
    message: string,
    readonly inputOffset: number,
  ) {
    super(message);
    this.name = 'LzfError';
  }
}

/** LZF cannot expand a byte more than ~88x (a 3-byte reference emits at most 264 bytes). */
export const LZF_MAX_RATIO = 90;

export function lzfDecompress(input: Uint8Array, outLen: number): Buffer {
  const out = Buffer.allocUnsafe(outLen);
  let ip = 0;
  let op = 0;
  const inLen = input.length;
  while (ip < inLen) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const run = ctrl + 1;
      if (op + run > outLen) throw new LzfError('literal run overflows the declared length', ip - 1);
      if (ip + run > inLen) throw new LzfError('literal run past the end of the compressed data', ip - 1);
      for (let i = 0; i < run; i++) out[op++] = input[ip++];
    } else {
      let len = ctrl >>> 5;
      if (len === 7) {
        if (ip >= inLen) throw new LzfError('truncated back-reference length', ip - 1);
        len += input[ip++];
      }
      if (ip >= inLen) throw new LzfError('truncated back-reference distance', ip - 1);
      const ref = op - ((ctrl & 0x1f) << 8) - input[ip++] - 1;
      len += 2;
      if (ref < 0) throw new LzfError('back-reference before the start of the output', ip - 2);
      if (op + len > outLen) throw new LzfError('back-reference overflows the declared length', ip - 2);
      // Byte by byte: source and destination may overlap (run-length style references).
      for (let i = 0; i < len; i++) out[op++] = out[ref + i];
    }
  }
  if (op !== outLen) throw new LzfError(`decompressed to ${op} bytes, declared ${outLen}`, inLen);
  return out;
}

const HASH_BITS = 14;
const MAX_LIT = 32;
const MAX_OFF = 1 << 13;
const MAX_REF = (1 << 8) + (1 << 3);

/**
 * Compress like lzf_compress. Returns null when the output would not be smaller than `maxOut`
 * (Redis stores such strings uncompressed).
 */
export function lzfCompress(input: Uint8Array, maxOut = input.length - 1): Buffer | null {
  const inLen = input.length;
  if (inLen < 4 || maxOut <= 0) return null;
  const out = Buffer.allocUnsafe(maxOut + MAX_LIT + 3);
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  let ip = 0;
  let op = 1; // out[litStart] is the control byte of the current literal run
  let litStart = 0;
  let lit = 0;
  const hash = (p: number) =>
    (((input[p] << 16) | (input[p + 1] << 8) | input[p + 2]) * 2654435761) >>> (32 - HASH_BITS);

  while (ip < inLen - 2) {
    const h = hash(ip);
    const ref = table[h];
    table[h] = ip;
    const off = ip - ref - 1;
    if (
      ref >= 0 &&
      off < MAX_OFF &&
      input[ref] === input[ip] &&
      input[ref + 1] === input[ip + 1] &&
      input[ref + 2] === input[ip + 2]
    ) {
      let len = 2;
      const maxLen = Math.min(inLen - ip, MAX_REF);
      while (len < maxLen && input[ref + len] === input[ip + len]) len++;
      // close the literal run (drop its control byte if empty)
      if (lit) out[litStart] = lit - 1;
      else op--;
      if (op + 3 > maxOut) return null;
      const l = len - 2;
      if (l < 7) {
        out[op++] = (off >>> 8) + (l << 5);
      } else {
        out[op++] = (off >>> 8) + (7 << 5);
        out[op++] = l - 7;
      }
      out[op++] = off & 0xff;
      litStart = op++;
      lit = 0;
      ip += len;
      if (ip < inLen - 2) {
        table[hash(ip - 1)] = ip - 1;
      }
    } else {
      if (op >= maxOut) return null;
      out[op++] = input[ip++];
      if (++lit === MAX_LIT) {
        out[litStart] = MAX_LIT - 1;
        litStart = op++;
        lit = 0;
      }
    }
  }
  while (ip < inLen) {
    if (op >= maxOut) return null;
    out[op++] = input[ip++];
    if (++lit === MAX_LIT) {
      out[litStart] = MAX_LIT - 1;
      litStart = op++;
      lit = 0;
    }
  }
  if (lit) out[litStart] = lit - 1;
  else op--;
  if (op > maxOut) return null;
  return Buffer.from(out.subarray(0, op));
}
