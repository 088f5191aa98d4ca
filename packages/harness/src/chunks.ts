/**
 * Cutting a byte stream into pieces, for tests of the streaming decoders (RESP, RDB, the
 * replication stream): whatever the cuts, the decoded result must be the same.
 */

/** `buf` in pieces of `size` bytes (the last one shorter). Each piece is a copy unless `share`. */
export function chunks(buf: Buffer, size: number, share = false): Buffer[] {
  if (!(size >= 1)) throw new RangeError(`chunk size must be >= 1, not ${size}`);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) {
    const piece = buf.subarray(i, i + size);
    // A copy shares no memory with its neighbours: a decoder must not rely on adjacency.
    out.push(share ? piece : Buffer.from(piece));
  }
  return out;
}

/** `buf` cut in two at `at` (copies). */
export function cutAt(buf: Buffer, at: number): Buffer[] {
  return [Buffer.from(buf.subarray(0, at)), Buffer.from(buf.subarray(at))];
}

/** The sizes streaming tests cut at: the tiny ones find boundary bugs, the larger ones batching bugs. */
export const CHUNK_SIZES = [1, 2, 3, 5, 7, 13, 64, 128];
