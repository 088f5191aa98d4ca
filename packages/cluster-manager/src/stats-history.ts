import type { SourceReport } from '@minirs/common';

/** RS's stats intervals and how many samples of each it keeps (rest-api/objects/statistics). */
export const INTERVALS = {
  '1sec': { ms: 1_000, keep: 10 },
  '10sec': { ms: 10_000, keep: 30 },
  '5min': { ms: 300_000, keep: 12 },
  '15min': { ms: 900_000, keep: 96 },
  '1hour': { ms: 3_600_000, keep: 168 },
  '12hour': { ms: 43_200_000, keep: 62 },
  '1week': { ms: 604_800_000, keep: 53 },
} as const;
export type IntervalName = keyof typeof INTERVALS;
export const DEFAULT_INTERVAL: IntervalName = '1sec';

/** Counters that are running totals in a syncer report and per-interval deltas in the stats. */
const COUNTERS = [
  'ingress_bytes',
  'ingress_bytes_decompressed',
  'full_syncs',
  'partial_syncs',
  'other_db_keys',
  'other_db_commands',
  'rejected_writes',
] as const;
type Counter = (typeof COUNTERS)[number];
type Counts = Record<Counter, number>;

const zero = (): Counts => ({
  ingress_bytes: 0,
  ingress_bytes_decompressed: 0,
  full_syncs: 0,
  partial_syncs: 0,
  other_db_keys: 0,
  other_db_commands: 0,
  rejected_writes: 0,
});

interface Bucket extends Counts {
  start: number;
  lagSum: number;
  lagCount: number;
}

export interface IntervalStats extends Counts {
  interval: IntervalName;
  stime: string;
  etime: string;
  /** Mean lag (ms) over the interval's samples. */
  local_ingress_lag_time: number;
}

interface SourceHistory {
  epoch: number;
  last: Counts;
  buckets: Record<IntervalName, Bucket[]>;
}

/** RS time format: whole seconds, UTC, `Z`. */
export function rsTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * Per-source sync stats history: sampled once a second from the syncer's running totals, kept as
 * per-interval deltas (and mean lag) in every RS interval with RS's retention.
 */
export class SyncStatsHistory {
  private readonly sources = new Map<string, SourceHistory>();

  /** One sample of a bdb's sources; `lag` is the ms lag the manager holds for each source uid. */
  sample(
    bdbUid: number,
    epoch: number,
    reports: SourceReport[],
    lag: Map<number, number>,
    now = Date.now(),
  ): void {
    for (const r of reports) {
      const key = `${bdbUid}/${r.uid}`;
      let h = this.sources.get(key);
      if (!h) {
        h = {
          epoch,
          last: zero(),
          buckets: Object.fromEntries(
            Object.keys(INTERVALS).map((k) => [k, []]),
          ) as unknown as SourceHistory['buckets'],
        };
        this.sources.set(key, h);
      }
      // A new epoch (or a restarted syncer) restarts the syncer's totals from zero.
      if (h.epoch !== epoch) {
        h.epoch = epoch;
        h.last = zero();
      }
      const delta = zero();
      for (const c of COUNTERS) {
        const cur = r[c] ?? 0;
        delta[c] = cur >= h.last[c] ? cur - h.last[c] : cur;
        h.last[c] = cur;
      }
      const l = lag.get(r.uid) ?? r.lag;
      for (const [name, def] of Object.entries(INTERVALS) as [
        IntervalName,
        (typeof INTERVALS)[IntervalName],
      ][]) {
        const start = Math.floor(now / def.ms) * def.ms;
        const list = h.buckets[name];
        let b = list[list.length - 1];
        if (!b || b.start !== start) {
          b = { start, ...zero(), lagSum: 0, lagCount: 0 };
          list.push(b);
          if (list.length > def.keep) list.splice(0, list.length - def.keep);
        }
        for (const c of COUNTERS) b[c] += delta[c];
        b.lagSum += l;
        b.lagCount++;
      }
    }
  }

  /**
   * RS's v1 rate metrics: bytes per second over the last completed 1sec intervals (up to
   * `window` of them); 0 before the first one completes.
   */
  rate(
    bdbUid: number,
    sourceUid: number,
    counter: 'ingress_bytes' | 'ingress_bytes_decompressed',
    now = Date.now(),
    window = 5,
  ): number {
    const h = this.sources.get(`${bdbUid}/${sourceUid}`);
    if (!h) return 0;
    const current = Math.floor(now / 1000) * 1000;
    const done = h.buckets['1sec'].filter((b) => b.start < current && b.start >= current - window * 1000);
    if (done.length === 0) return 0;
    return done.reduce((n, b) => n + b[counter], 0) / done.length;
  }

  /** Forget every source of the bdbs not in `bdbUids` (deleted ones). */
  retainBdbs(bdbUids: number[]): void {
    const keep = new Set(bdbUids.map(String));
    for (const k of this.sources.keys()) if (!keep.has(k.slice(0, k.indexOf('/')))) this.sources.delete(k);
  }

  /** Forget sources a bdb no longer has. */
  retain(bdbUid: number, sourceUids: number[]): void {
    const keep = new Set(sourceUids.map((u) => `${bdbUid}/${u}`));
    for (const k of this.sources.keys())
      if (k.startsWith(`${bdbUid}/`) && !keep.has(k)) this.sources.delete(k);
  }

  /** The intervals of one source, oldest first, whose [stime, etime] lies within [stime, etime]. */
  intervals(
    bdbUid: number,
    sourceUid: number,
    interval: IntervalName,
    stime?: number,
    etime?: number,
  ): IntervalStats[] {
    const h = this.sources.get(`${bdbUid}/${sourceUid}`);
    if (!h) return [];
    const ms = INTERVALS[interval].ms;
    return h.buckets[interval]
      .filter(
        (b) => (stime === undefined || b.start >= stime) && (etime === undefined || b.start + ms <= etime),
      )
      .map((b) => ({
        interval,
        stime: rsTime(b.start),
        etime: rsTime(b.start + ms),
        ingress_bytes: b.ingress_bytes,
        ingress_bytes_decompressed: b.ingress_bytes_decompressed,
        local_ingress_lag_time: b.lagCount ? Math.round((b.lagSum / b.lagCount) * 1000) / 1000 : 0,
        full_syncs: b.full_syncs,
        partial_syncs: b.partial_syncs,
        other_db_keys: b.other_db_keys,
        other_db_commands: b.other_db_commands,
        rejected_writes: b.rejected_writes,
      }));
  }
}
