import type { RdbEvent } from './events.js';
import { RdbParser, type RdbParserOptions } from './parser.js';

/**
 * Parse an RDB arriving as an async iterable of chunks (a file stream, a socket, the RDB part
 * of a PSYNC reply). The source is pulled only when the parser needs bytes, and the parser only
 * runs when the consumer pulls an event: a consumer that stops pulling stops both (backpressure).
 * Pass your own `parser` to read bytesConsumed for progress or remainder() afterwards.
 */
export async function* parseRdbStream(
  source: AsyncIterable<Uint8Array>,
  opts: RdbParserOptions & { parser?: RdbParser } = {},
): AsyncGenerator<RdbEvent> {
  const parser = opts.parser ?? new RdbParser(opts);
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const ev = parser.read();
      if (ev !== null) {
        yield ev;
        continue;
      }
      if (parser.done) return;
      const next = await it.next();
      if (next.done) parser.end();
      else parser.write(next.value);
    }
  } finally {
    // Stop the source when the consumer gives up early (or on error).
    await it.return?.();
  }
}

/**
 * Like parseRdbStream, but yields the events of each input chunk as one array: one await per
 * chunk instead of per event, several times faster for many small keys. Each batch holds the
 * events of at most one input chunk (plus the value chunks they complete), so memory stays
 * bounded by the source's chunk size.
 */
export async function* parseRdbBatches(
  source: AsyncIterable<Uint8Array>,
  opts: RdbParserOptions & { parser?: RdbParser } = {},
): AsyncGenerator<RdbEvent[]> {
  const parser = opts.parser ?? new RdbParser(opts);
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const batch: RdbEvent[] = [];
      for (let ev = parser.read(); ev !== null; ev = parser.read()) batch.push(ev);
      if (batch.length) yield batch;
      if (parser.done) return;
      const next = await it.next();
      if (next.done) parser.end();
      else parser.write(next.value);
    }
  } finally {
    await it.return?.();
  }
}

/** Parse an RDB held in memory, optionally cut into chunks of `chunkSize` bytes (tests, CLI). */
export function* parseRdbBuffer(
  data: Uint8Array,
  opts: RdbParserOptions & { chunkSize?: number; parser?: RdbParser } = {},
): Generator<RdbEvent> {
  const parser = opts.parser ?? new RdbParser(opts);
  const size = opts.chunkSize ?? data.length;
  let off = 0;
  for (;;) {
    const ev = parser.read();
    if (ev !== null) {
      yield ev;
      continue;
    }
    if (parser.done) return;
    if (off >= data.length) {
      parser.end();
      continue;
    }
    parser.write(data.subarray(off, Math.min(data.length, off + Math.max(1, size))));
    off += size;
  }
}
