import type { SourceReport } from '@minirs/common';
import { describe, expect, it } from 'vitest';
import { rsTime, SyncStatsHistory } from '../src/stats-history.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

function report(uid: number, ingress: number, fullSyncs = 1): SourceReport {
  return {
    uid,
    status: 'in-sync',
    rdb_size: 0,
    rdb_transferred: 0,
    lag: 3,
    last_update: null,
    last_error: '',
    ingress_bytes: ingress,
    ingress_bytes_decompressed: ingress * 2,
    full_syncs: fullSyncs,
    partial_syncs: 0,
  };
}

describe('SyncStatsHistory', () => {
  it('turns running totals into per-interval deltas, aligned and oldest first', () => {
    const h = new SyncStatsHistory();
    const lag = new Map([[1, 4]]);
    // 25 one-second samples: 100 bytes more each second.
    for (let i = 0; i < 25; i++) h.sample(7, 1, [report(1, 100 * (i + 1))], lag, T0 + i * 1000 + 300);
    const secs = h.intervals(7, 1, '1sec');
    expect(secs).toHaveLength(10); // RS keeps 10 samples of 1sec
    expect(secs[0]!.stime).toBe(rsTime(T0 + 15_000));
    expect(secs.at(-1)!.etime).toBe(rsTime(T0 + 25_000));
    expect(secs.every((s) => s.ingress_bytes === 100 && s.ingress_bytes_decompressed === 200)).toBe(true);
    expect(secs.every((s) => s.local_ingress_lag_time === 4)).toBe(true);
    const tens = h.intervals(7, 1, '10sec');
    expect(tens.map((t) => t.ingress_bytes)).toEqual([1000, 1000, 500]);
    // The first sample carries the whole first total (and the one full sync).
    expect(tens[0]!.full_syncs).toBe(1);
    expect(tens.map((t) => t.stime)).toEqual([rsTime(T0), rsTime(T0 + 10_000), rsTime(T0 + 20_000)]);
  });

  it('filters by stime and etime', () => {
    const h = new SyncStatsHistory();
    for (let i = 0; i < 30; i++) h.sample(1, 1, [report(1, i)], new Map(), T0 + i * 1000);
    const mid = h.intervals(1, 1, '10sec', T0 + 10_000, T0 + 20_000);
    expect(mid.map((m) => m.stime)).toEqual([rsTime(T0 + 10_000)]);
    expect(h.intervals(1, 1, '10sec', T0 + 40_000)).toEqual([]);
  });

  it('a new epoch or a restarted syncer (totals back to zero) is not a negative delta', () => {
    const h = new SyncStatsHistory();
    h.sample(1, 1, [report(1, 5000)], new Map(), T0);
    h.sample(1, 1, [report(1, 300)], new Map(), T0 + 1000); // syncer restarted
    h.sample(1, 2, [report(1, 50)], new Map(), T0 + 2000); // new epoch
    expect(h.intervals(1, 1, '1sec').map((s) => s.ingress_bytes)).toEqual([5000, 300, 50]);
  });

  it('gives v1 rates in bytes per second over completed seconds', () => {
    const h = new SyncStatsHistory();
    for (let i = 0; i < 8; i++) h.sample(1, 1, [report(1, 1000 * (i + 1))], new Map(), T0 + i * 1000);
    // At T0+8.5 s the completed seconds 3..7 each hold 1000 bytes.
    expect(h.rate(1, 1, 'ingress_bytes', T0 + 8500)).toBe(1000);
    expect(h.rate(1, 1, 'ingress_bytes_decompressed', T0 + 8500)).toBe(2000);
    expect(h.rate(1, 1, 'ingress_bytes', T0 + 60_000)).toBe(0);
    expect(h.rate(1, 2, 'ingress_bytes', T0)).toBe(0);
  });

  it('forgets sources the bdb no longer has', () => {
    const h = new SyncStatsHistory();
    h.sample(1, 1, [report(1, 1), report(2, 1)], new Map(), T0);
    h.retain(1, [2]);
    expect(h.intervals(1, 1, '1sec')).toEqual([]);
    expect(h.intervals(1, 2, '1sec')).toHaveLength(1);
    h.sample(2, 1, [report(1, 1)], new Map(), T0);
    h.retainBdbs([2]);
    expect(h.intervals(1, 2, '1sec')).toEqual([]);
    expect(h.intervals(2, 1, '1sec')).toHaveLength(1);
  });
});
