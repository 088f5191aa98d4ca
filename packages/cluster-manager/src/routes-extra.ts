import { type FaultRequest, SOURCE_STATUS_METRIC } from '@minirs/common';
import type { FastifyInstance } from 'fastify';
import type { FaultInjector } from './faults.js';
import type { ClusterManager } from './manager.js';
import { registerStatsRoutes } from './routes-stats.js';
import { faultSchema } from './schemas.js';
import type { SyncStatsHistory } from './stats-history.js';

/**
 * Replica Of stats (routes-stats.ts), Prometheus metrics at /metrics on the API port (RS v1
 * names, running totals: kept as it was; the RS-shaped exporter is exporter.ts) and fault injection.
 */
export function registerExtraRoutes(
  app: FastifyInstance,
  mgr: ClusterManager,
  faults: FaultInjector,
  history: SyncStatsHistory,
): void {
  registerStatsRoutes(app, mgr, history);
  // prom-client (with what it pulls in) is loaded on the first /metrics request, not on the
  // manager's start-up path: a cluster create does not wait for it.
  const load = async () => {
    const { Gauge, Registry } = await import('prom-client');
    const registry = new Registry();
    const labels = ['cluster', 'bdb', 'source'] as const;
    const status = new Gauge({
      name: 'bdb_replicaof_syncer_status',
      help: 'Replica Of source status: 0 in-sync, 1 syncing, 2 out of sync',
      labelNames: labels,
      registers: [registry],
    });
    const lag = new Gauge({
      name: 'bdb_replicaof_syncer_local_ingress_lag_time',
      help: 'Lag between the source and the destination in milliseconds',
      labelNames: labels,
      registers: [registry],
    });
    const ingress = new Gauge({
      name: 'bdb_replicaof_syncer_ingress_bytes',
      help: 'Bytes read from the source (compressed when compression is on)',
      labelNames: labels,
      registers: [registry],
    });
    const ingressDec = new Gauge({
      name: 'bdb_replicaof_syncer_ingress_bytes_decompressed',
      help: 'Bytes read from the source after decompression',
      labelNames: labels,
      registers: [registry],
    });
    const rejected = new Gauge({
      name: 'bdb_replicaof_syncer_rejected_writes',
      help: '(minirs) Replicated writes the destination refused (counted, not retried) in this sync',
      labelNames: labels,
      registers: [registry],
    });
    const shardMem = new Gauge({
      name: 'redis_used_memory',
      help: 'Memory used by the shard',
      labelNames: ['cluster', 'bdb', 'shard'],
      registers: [registry],
    });
    const shardKeys = new Gauge({
      name: 'redis_db_keys',
      help: 'Keys in the shard',
      labelNames: ['cluster', 'bdb', 'shard'],
      registers: [registry],
    });
    const shardUp = new Gauge({
      name: 'redis_up',
      help: '1 when the shard is active',
      labelNames: ['cluster', 'bdb', 'shard'],
      registers: [registry],
    });
    return { registry, status, lag, ingress, ingressDec, rejected, shardMem, shardKeys, shardUp };
  };
  let gauges: ReturnType<typeof load> | undefined;

  app.get('/metrics', async (_req, reply) => {
    gauges ??= load();
    const { registry, status, lag, ingress, ingressDec, rejected, shardMem, shardKeys, shardUp } =
      await gauges;
    registry.resetMetrics();
    const cluster = mgr.state.cluster.name;
    for (const b of mgr.state.bdbs) {
      const rep = mgr.replicaOf.syncerReport(b.uid);
      for (const s of b.replica_sources) {
        const l = { cluster, bdb: String(b.uid), source: String(s.uid) };
        const r = rep?.sources.find((x) => x.uid === s.uid);
        status.set(l, SOURCE_STATUS_METRIC[s.status]);
        rejected.set(l, r?.rejected_writes ?? s.rejected_writes ?? 0);
        lag.set(l, s.lag);
        ingress.set(l, r?.ingress_bytes ?? 0);
        ingressDec.set(l, r?.ingress_bytes_decompressed ?? 0);
      }
    }
    for (const sh of mgr.state.shards) {
      const l = { cluster, bdb: String(sh.bdb_uid), shard: String(sh.uid) };
      const st = mgr.procs.shardStatsOf(sh.uid);
      shardUp.set(l, sh.status === 'active' ? 1 : 0);
      if (st) {
        shardMem.set(l, st.used_memory);
        shardKeys.set(l, st.keys);
      }
    }
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  app.get('/v1/faults', async () => faults.list());
  app.post<{ Body: FaultRequest }>('/v1/faults', { schema: { body: faultSchema } }, async (req, reply) => {
    reply.code(201);
    return faults.add(req.body);
  });
  app.delete<{ Params: { id: string } }>('/v1/faults/:id', async (req) => faults.heal(req.params.id));
}
