import { argIs } from './replication/index.js';

/**
 * When the source ran a command of its stream, bounded from below: the source's replication
 * offset is sampled with the time of the sample, so a command past a sample's offset ran after
 * that sample. Used to keep a lagging destination from expiring keys the source still has.
 */
export class SourceClock {
  private samples: { offset: number; time: number }[] = [];
  /** The newest sample, even when the offset had not moved since the one before. */
  private latest?: { offset: number; time: number };

  /** The source's offset was read as `offset` by a request sent at `time`. */
  note(offset: number, time: number): void {
    if (!this.latest || offset >= this.latest.offset) this.latest = { offset, time };
    const last = this.samples[this.samples.length - 1];
    if (last && last.offset >= offset) return;
    this.samples.push({ offset, time });
    // Ten minutes of 100 ms samples at most; older commands are long applied.
    if (this.samples.length > 6000) this.samples.splice(0, 1000);
  }

  /** The snapshot of a full sync was taken at `time` with the source at `offset`. */
  anchor(offset: number, time: number): void {
    this.samples = [{ offset, time }];
    this.latest = { offset, time };
  }

  /**
   * An offset the source had reached at or after `time` (so every command it ran before `time`
   * ends at or below it); undefined when no sample is that recent.
   */
  offsetAtOrAfter(time: number): number | undefined {
    const s = this.samples;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]!.time < time) lo = mid + 1;
      else hi = mid;
    }
    if (lo < s.length) return s[lo]!.offset;
    const l = this.latest;
    return l && l.time >= time ? l.offset : undefined;
  }

  /** A time before the source ran the command that ends at `offset` (undefined: no sample yet). */
  ranAfter(offset: number): number | undefined {
    const s = this.samples;
    for (let i = s.length - 1; i >= 0; i--) if (s[i]!.offset < offset) return s[i]!.time;
    return undefined;
  }
}

/**
 * How much longer a shifted expiry lives than the stream's measured delay: room for the delay to
 * grow meanwhile (a syncer paused for seconds, a slow destination) before the stream delivers
 * what the source did up to that expiry.
 */
export const EXPIRY_CUSHION_MS = 5000;

/**
 * A write of the stream that sets an absolute expiry (Redis 7 replicates EXPIRE, SET EX and
 * GETEX as PEXPIREAT / SET PXAT) reaches the destination `delayMs` after the source ran it. A
 * key the destination would expire before the stream caught up could be gone when the stream
 * brings the source's PERSIST, SET or PEXPIRE that kept it alive (the destination then rebuilt
 * it from later writes only: checker seed 1), so such an expiry is pushed back by that delay
 * (plus a cushion): the source's own DEL comes in the stream if the key does expire there, as
 * a Redis replica waits for its master's DEL. Returns the rewritten argv, or undefined when the
 * command is left as it is.
 */
/** The absolute expiry a stream write sets: the key, the argument's index, and the time in ms. */
export function absoluteExpiryOf(
  argv: readonly Buffer[],
): { key: Buffer; at: number; ms: boolean; expireAt: number } | undefined {
  let at: number;
  let ms: boolean;
  if (argIs(argv[0], 'PEXPIREAT') || argIs(argv[0], 'EXPIREAT')) {
    if (argv.length < 3) return undefined;
    at = 2;
    ms = argIs(argv[0], 'PEXPIREAT');
  } else if (argIs(argv[0], 'SET')) {
    at = -1;
    ms = true;
    for (let i = 3; i < argv.length - 1; i++) {
      if (argIs(argv[i], 'PXAT') || argIs(argv[i], 'EXAT')) {
        at = i + 1;
        ms = argIs(argv[i], 'PXAT');
        break;
      }
    }
    if (at < 0) return undefined;
  } else return undefined;
  const n = Number(argv[at]!.toString('latin1'));
  if (!Number.isSafeInteger(n)) return undefined;
  return { key: argv[1]!, at, ms, expireAt: ms ? n : n * 1000 };
}

export function shiftStreamExpiry(
  argv: readonly Buffer[],
  now: number,
  delayOf: () => number | undefined,
): Buffer[] | undefined {
  const x = absoluteExpiryOf(argv);
  if (!x) return undefined;
  const { at, ms, expireAt } = x;
  const d = delayOf();
  if (d === undefined) return undefined;
  const delay = Math.max(0, d) + EXPIRY_CUSHION_MS;
  if (expireAt >= now + delay) return undefined;
  const shifted = expireAt + delay;
  const out = argv.slice();
  out[at] = Buffer.from(String(ms ? shifted : Math.ceil(shifted / 1000)), 'latin1');
  return out;
}
