/**
 * Thrown by the decoders of encoded blobs (ziplist, listpack, intset, zipmap, stream nodes);
 * `at` is the byte index inside the blob. The parser adds the blob's position in the stream.
 */
export class BlobCorruptError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
    this.name = 'BlobCorruptError';
  }
}

/** One element of an encoded blob: a string (a view into the blob) or an integer. */
export type BlobElement = Buffer | number | bigint;

/** Yields the elements of one encoded blob in order; undefined once it is exhausted. */
export interface ElementReader {
  next(): BlobElement | undefined;
  /** Element count announced by the header, when the encoding has one (else -1). */
  readonly declaredCount: number;
}

const SMALL_INTS: Buffer[] = [];
for (let i = 0; i < 256; i++) SMALL_INTS.push(Buffer.from(String(i), 'latin1'));

/** The element as Redis would hand it to a client: integers in decimal. */
export function elementToBuffer(e: BlobElement): Buffer {
  if (typeof e === 'number') {
    return e >= 0 && e < 256 ? SMALL_INTS[e] : Buffer.from(String(e), 'latin1');
  }
  if (typeof e === 'bigint') return Buffer.from(e.toString(), 'latin1');
  return e;
}

export function intToBuffer(n: number): Buffer {
  return n >= 0 && n < 256 ? SMALL_INTS[n] : Buffer.from(String(n), 'latin1');
}
