import type { RdbByteReader } from './byte-reader.js';
import type { BlobCorruptError } from './encodings/blob-error.js';
import type { RdbError } from './errors.js';
import type { RdbEvent, RdbKeyInfo } from './events.js';

/**
 * What the parser gives the type decoders (collections, streams): the byte reader, the chunk
 * bounds, and the parser's events and error texts. A decoder parses one key's value in
 * resumable steps and ends the key through endKey().
 */
export interface DecoderHost {
  readonly r: RdbByteReader;
  /** Most elements per chunk event. */
  readonly maxItems: number;
  /** A chunk is also cut once its elements add up to this many bytes. */
  readonly maxBytes: number;
  /** What the parser is reading now, for error messages. */
  expecting: string;
  /** The key being parsed. */
  key(): RdbKeyInfo;
  emit(ev: RdbEvent): void;
  endKey(): void;
  corrupt(message: string, offset: number, cause?: unknown): RdbError;
  blobCorrupt(e: BlobCorruptError, blobAt: number): RdbError;
}
