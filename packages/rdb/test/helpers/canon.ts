import type { RdbEvent } from '../../src/index.js';

/** A stable text form of an event list (Buffers as hex, bigints as decimal) for equality checks. */
export function canon(events: RdbEvent[]): string[] {
  return events.map((e) =>
    JSON.stringify(e, function (this: unknown, k, v) {
      const raw = (this as Record<string, unknown>)[k];
      if (Buffer.isBuffer(raw)) return `hex:${raw.toString('hex')}`;
      if (typeof v === 'bigint') return `big:${v}`;
      return v;
    }),
  );
}
