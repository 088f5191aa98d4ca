import { ErrorCodes, invalid, MinirsError } from '@minirs/common';
import type { FastifyInstance } from 'fastify';
import type { ClusterManager } from './manager.js';
import { DEFAULT_INTERVAL, INTERVALS, type IntervalName, SyncStatsHistory } from './stats-history.js';

const SAMPLE_MS = 1000;

/** Samples every destination's syncer report once a second into a SyncStatsHistory. */
export function startStatsSampler(mgr: ClusterManager): { history: SyncStatsHistory; stop(): void } {
  const history = new SyncStatsHistory();
  const tick = () => {
    history.retainBdbs(mgr.state.bdbs.map((b) => b.uid));
    for (const b of mgr.state.bdbs) {
      history.retain(
        b.uid,
        b.replica_sources.map((s) => s.uid),
      );
      const rep = mgr.replicaOf.syncerReport(b.uid);
      if (!rep || rep.epoch !== b.sync_epoch) continue;
      history.sample(b.uid, rep.epoch, rep.sources, new Map(b.replica_sources.map((s) => [s.uid, s.lag])));
    }
  };
  const timer = setInterval(tick, SAMPLE_MS);
  timer.unref();
  return { history, stop: () => clearInterval(timer) };
}

function parseTime(v: unknown, field: 'stime' | 'etime'): number | undefined {
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw invalid(field, `${field} must be an ISO 8601 time such as 2026-01-31T12:00:00Z`);
  return t;
}

type StatsQuery = { interval?: string; stime?: string; etime?: string };

/** GET /v1/bdbs/{uid}/sync_source_stats[/{source uid}] with RS's interval, stime and etime. */
export function registerStatsRoutes(
  app: FastifyInstance,
  mgr: ClusterManager,
  history: SyncStatsHistory,
): void {
  const params = {
    type: 'object',
    required: ['uid'],
    properties: { uid: { type: 'integer', minimum: 1 }, source: { type: 'integer', minimum: 1 } },
  };
  const one = (
    bdbUid: number,
    source: ReturnType<ClusterManager['requireBdb']>['replica_sources'][number],
    q: StatsQuery,
  ) => {
    const interval = (q.interval ?? DEFAULT_INTERVAL) as IntervalName;
    if (!Object.hasOwn(INTERVALS, interval)) {
      throw invalid('interval', `interval ${q.interval} is not one of ${Object.keys(INTERVALS).join(', ')}`);
    }
    const stime = parseTime(q.stime, 'stime');
    const etime = parseTime(q.etime, 'etime');
    if (stime !== undefined && etime !== undefined && stime > etime) {
      throw invalid('stime', `stime ${q.stime} is after etime ${q.etime}`);
    }
    const r = mgr.replicaOf.syncerReport(bdbUid)?.sources.find((x) => x.uid === source.uid);
    return {
      uid: String(source.uid),
      status: source.status,
      intervals: history.intervals(bdbUid, source.uid, interval, stime, etime),
      // (minirs) running totals of the current sync epoch, what intervals[0] held before history.
      totals: {
        ingress_bytes: r?.ingress_bytes ?? 0,
        ingress_bytes_decompressed: r?.ingress_bytes_decompressed ?? 0,
        local_ingress_lag_time: source.lag,
        lag_samples: r?.lag_samples ?? [],
        full_syncs: r?.full_syncs ?? 0,
        partial_syncs: r?.partial_syncs ?? 0,
        other_db_keys: r?.other_db_keys ?? 0,
        other_db_commands: r?.other_db_commands ?? 0,
        rejected_writes: r?.rejected_writes ?? source.rejected_writes ?? 0,
      },
      // (minirs, issue 15) how the syncer last (re)started this source (exact, partial, full) and why.
      resume_mode: r?.resume_mode ?? source.resume_mode ?? 'full',
      resume_reason: r?.resume_reason ?? source.resume_reason ?? '',
      // (minirs) the error that stopped or disturbs this source, and its MINIRS_ERR_ code.
      last_error: source.last_error,
      last_error_code: source.last_error_code ?? '',
    };
  };
  app.get<{ Params: { uid: number }; Querystring: StatsQuery }>(
    '/v1/bdbs/:uid/sync_source_stats',
    { schema: { params } },
    async (req) => {
      const b = mgr.requireBdb(req.params.uid);
      return { sync_source_stats: b.replica_sources.map((s) => one(b.uid, s, req.query)) };
    },
  );
  app.get<{ Params: { uid: number; source: number }; Querystring: StatsQuery }>(
    '/v1/bdbs/:uid/sync_source_stats/:source',
    { schema: { params } },
    async (req) => {
      const b = mgr.requireBdb(req.params.uid);
      const s = b.replica_sources.find((x) => x.uid === req.params.source);
      if (!s) {
        throw new MinirsError(
          ErrorCodes.NOT_FOUND,
          `database ${b.uid} has no replica source ${req.params.source}; its sources: ${b.replica_sources.map((x) => x.uid).join(', ') || 'none'}`,
        );
      }
      return one(b.uid, s, req.query);
    },
  );
}
