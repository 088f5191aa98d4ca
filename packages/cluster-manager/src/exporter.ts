import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { type BdbStatus, clusterApiAddr, SOURCE_STATUS_METRIC } from '@minirs/common';
import type { ClusterManager } from './manager.js';
import { PROM_CONTENT_TYPE, PromText } from './prom-text.js';
import type { SyncStatsHistory } from './stats-history.js';

/** RS's metrics exporter port. */
export const RS_EXPORTER_PORT = 8070;

const SYNC_STATUS = SOURCE_STATUS_METRIC;
/** v2 db_status values (prometheus-metrics-v2). */
const DB_STATUS: Record<BdbStatus, number> = {
  active: 0,
  'active-change-pending': 1,
  pending: 2,
  'delete-pending': 4,
  'creation-failed': 99,
};

/**
 * RS v1 names (`/`): rates in bytes/s where RS gives rates (bdb_replicaof_syncer_ingress_bytes*),
 * gauges elsewhere. Labels: cluster, bdb, and source / shard / node where they apply.
 */
export function renderV1(mgr: ClusterManager, history: SyncStatsHistory, now = Date.now()): string {
  const p = new PromText();
  const cluster = mgr.state.cluster.name;
  p.family('bdb_up', 'gauge', 'Database is up and running');
  p.family('bdb_memory_limit', 'gauge', 'Configured RAM limit for the database');
  p.family('bdb_used_memory', 'gauge', 'Memory used by the database (bytes)');
  p.family('bdb_no_of_keys', 'gauge', 'Number of keys in database');
  p.family(
    'bdb_instantaneous_ops_per_sec',
    'gauge',
    'Request rate handled by all shards of database (ops/sec)',
  );
  p.family('bdb_shards_used', 'gauge', 'Used shard count by database and by shard type (ram / flash)');
  p.family(
    'bdb_replicaof_syncer_ingress_bytes',
    'gauge',
    'Rate of compressed incoming network traffic to a Replica Of database (bytes/sec)',
  );
  p.family(
    'bdb_replicaof_syncer_ingress_bytes_decompressed',
    'gauge',
    'Rate of decompressed incoming network traffic to a Replica Of database (bytes/sec)',
  );
  p.family(
    'bdb_replicaof_syncer_local_ingress_lag_time',
    'gauge',
    'Lag time between the source and the destination for Replica Of traffic (ms)',
  );
  p.family(
    'bdb_replicaof_syncer_status',
    'gauge',
    'Syncer status for Replica Of traffic; 0 = in-sync, 1 = syncing, 2 = out of sync',
  );
  p.family('redis_up', 'gauge', 'Shard is up and running');
  p.family('redis_used_memory', 'gauge', 'Memory used by shard (bytes)');
  p.family('redis_maxmemory', 'gauge', 'Current memory limit configured according to database memory limits');
  p.family('redis_db0_keys', 'gauge', 'Total key count');
  p.family('redis_connected_clients', 'gauge', 'Number of client connections to the specific shard');
  p.family('redis_total_commands_processed', 'gauge', 'Number of commands processed by the shard');
  p.family('node_up', 'gauge', 'Node is part of the cluster and is connected');

  for (const n of mgr.state.cluster.nodes) {
    p.add('node_up', { cluster, node: String(n.uid) }, mgr.children.get(`proxy-${n.uid}`)?.conn ? 1 : 0);
  }
  for (const b of mgr.state.bdbs) {
    const l = { cluster, bdb: String(b.uid) };
    const shards = mgr.state.shards.filter((s) => s.bdb_uid === b.uid);
    const stats = shards.map((s) => mgr.procs.shardStatsOf(s.uid));
    // Keys and ops of the database are its masters' (a slave holds copies); memory counts both (RS).
    const masterStats = shards.filter((s) => s.role === 'master').map((s) => mgr.procs.shardStatsOf(s.uid));
    p.add('bdb_up', l, b.status === 'active' && shards.every((s) => s.status === 'active') ? 1 : 0);
    p.add('bdb_memory_limit', l, b.memory_size);
    p.add(
      'bdb_used_memory',
      l,
      stats.reduce((n, s) => n + (s?.used_memory ?? 0), 0),
    );
    p.add(
      'bdb_no_of_keys',
      l,
      masterStats.reduce((n, s) => n + (s?.keys ?? 0), 0),
    );
    p.add(
      'bdb_instantaneous_ops_per_sec',
      l,
      masterStats.reduce((n, s) => n + (s?.ops_per_sec ?? 0), 0),
    );
    p.add('bdb_shards_used', { ...l, shard_type: 'ram' }, shards.length);
    for (const s of b.replica_sources) {
      const sl = { ...l, source: String(s.uid) };
      p.add('bdb_replicaof_syncer_ingress_bytes', sl, history.rate(b.uid, s.uid, 'ingress_bytes', now));
      p.add(
        'bdb_replicaof_syncer_ingress_bytes_decompressed',
        sl,
        history.rate(b.uid, s.uid, 'ingress_bytes_decompressed', now),
      );
      p.add('bdb_replicaof_syncer_local_ingress_lag_time', sl, s.lag);
      p.add('bdb_replicaof_syncer_status', sl, SYNC_STATUS[s.status]);
    }
  }
  for (const sh of mgr.state.shards) {
    const l = {
      cluster,
      bdb: String(sh.bdb_uid),
      node: String(sh.node_uid),
      shard: String(sh.uid),
      role: sh.role,
    };
    const st = mgr.procs.shardStatsOf(sh.uid);
    p.add('redis_up', l, sh.status === 'active' ? 1 : 0);
    if (!st) continue;
    p.add('redis_used_memory', l, st.used_memory);
    p.add('redis_maxmemory', l, st.maxmemory);
    p.add('redis_db0_keys', l, st.keys);
    p.add('redis_connected_clients', l, st.connected_clients);
    p.add('redis_total_commands_processed', l, st.total_commands);
  }
  return p.toString();
}

/**
 * RS v2 names (`/v2`): database_syncer_* with syncer_type="replicaof", replica_src_ingress_bytes*
 * counters for rate(), db_*, redis_server_*, node_metrics_up. Labels: cluster, db, node, shard.
 */
export function renderV2(mgr: ClusterManager): string {
  const p = new PromText();
  const cluster = mgr.state.cluster.name;
  p.family(
    'node_metrics_up',
    'gauge',
    'Node is part of the cluster and is connected (1 = connected, 0 = not connected)',
  );
  p.family(
    'db_status',
    'gauge',
    'Database status: 0 = active, 1 = active-change-pending, 2 = pending, 4 = delete-pending, 99 = unknown',
  );
  p.family('db_config', 'gauge', 'Database configuration in labels: db_name, db_port, tls_mode');
  p.family('db_memory_limit_bytes', 'gauge', 'Configured RAM limit for the database');
  p.family(
    'database_syncer_current_status',
    'gauge',
    'Syncer status for traffic; 0 = in-sync, 1 = syncing, 2 = out of sync (the v1 bdb_*_syncer_status values)',
  );
  p.family(
    'database_syncer_lag_ms',
    'gauge',
    'Lag time between the source and the destination for traffic in milliseconds',
  );
  p.family('database_syncer_ingress_bytes', 'gauge', 'Number of bytes read from source shard');
  p.family(
    'database_syncer_ingress_bytes_decompressed',
    'gauge',
    'Number of bytes read from source shard, decompressed',
  );
  p.family(
    'database_syncer_rdb_size',
    'gauge',
    "The source's RDB size in bytes to be transferred during the syncing phase",
  );
  p.family(
    'database_syncer_rdb_transferred',
    'gauge',
    "Number of bytes transferred from the source's RDB during the syncing phase",
  );
  p.family(
    'database_syncer_src_connectivity_state',
    'gauge',
    'Source connectivity state (1 = connected, 0 = disconnected)',
  );
  p.family('replica_src_ingress_bytes', 'counter', 'Compressed bytes received from a Replica Of source');
  p.family(
    'replica_src_ingress_bytes_decompressed',
    'counter',
    'Decompressed bytes received from a Replica Of source',
  );
  p.family('redis_server_up', 'gauge', 'Shard is up and running (1 = up, 0 = down)');
  p.family('redis_server_used_memory', 'gauge', 'Memory used by shard (bytes)');
  p.family(
    'redis_server_maxmemory',
    'gauge',
    'Current memory limit configured according to database memory limits',
  );
  p.family('redis_server_db_keys', 'gauge', 'Total key count.');
  p.family('redis_server_db0_keys', 'gauge', 'Total key count. Deprecated.');
  p.family('redis_server_connected_clients', 'gauge', 'Number of client connections to the specific shard');
  p.family('redis_server_total_commands_processed', 'gauge', 'Number of commands processed by the shard');

  for (const n of mgr.state.cluster.nodes) {
    p.add(
      'node_metrics_up',
      { cluster, node: String(n.uid) },
      mgr.children.get(`proxy-${n.uid}`)?.conn ? 1 : 0,
    );
  }
  for (const b of mgr.state.bdbs) {
    const l = { cluster, db: String(b.uid) };
    p.add('db_status', l, DB_STATUS[b.status] ?? 99);
    p.add('db_config', { ...l, db_name: b.name, db_port: String(b.port), tls_mode: b.tls_mode }, 1);
    p.add('db_memory_limit_bytes', l, b.memory_size);
    const rep = mgr.replicaOf.syncerReport(b.uid);
    for (const s of b.replica_sources) {
      const sl = { ...l, syncer_type: 'replicaof', source: String(s.uid) };
      const r = rep?.sources.find((x) => x.uid === s.uid);
      p.add('database_syncer_current_status', sl, SYNC_STATUS[s.status]);
      p.add('database_syncer_lag_ms', sl, s.lag);
      p.add('database_syncer_ingress_bytes', sl, r?.ingress_bytes ?? 0);
      p.add('database_syncer_ingress_bytes_decompressed', sl, r?.ingress_bytes_decompressed ?? 0);
      p.add('database_syncer_rdb_size', sl, s.rdb_size);
      p.add('database_syncer_rdb_transferred', sl, s.rdb_transferred);
      p.add('database_syncer_src_connectivity_state', sl, s.status === 'out-of-sync' ? 0 : 1);
      p.add('replica_src_ingress_bytes', { ...l, source: String(s.uid) }, r?.ingress_bytes ?? 0);
      p.add(
        'replica_src_ingress_bytes_decompressed',
        { ...l, source: String(s.uid) },
        r?.ingress_bytes_decompressed ?? 0,
      );
    }
  }
  for (const sh of mgr.state.shards) {
    const l = {
      cluster,
      db: String(sh.bdb_uid),
      node: String(sh.node_uid),
      shard: String(sh.uid),
      role: sh.role,
    };
    const st = mgr.procs.shardStatsOf(sh.uid);
    p.add('redis_server_up', l, sh.status === 'active' ? 1 : 0);
    if (!st) continue;
    p.add('redis_server_used_memory', l, st.used_memory);
    p.add('redis_server_maxmemory', l, st.maxmemory);
    p.add('redis_server_db_keys', l, st.keys);
    p.add('redis_server_db0_keys', l, st.keys);
    p.add('redis_server_connected_clients', l, st.connected_clients);
    p.add('redis_server_total_commands_processed', l, st.total_commands);
  }
  return p.toString();
}

export interface StartedExporter {
  url: string;
  close(): Promise<void>;
}

/**
 * The cluster's metrics exporter (HTTPS with the API certificate, no auth, as RS's): v1 at `/`,
 * v2 at `/v2`. Binds node 1's address on `port` (RS: 8070); when that is taken (clusters sharing
 * 127.0.0.1) it takes a free port and says so in the log and in GET /v1/cluster.
 */
export async function startExporter(
  mgr: ClusterManager,
  history: SyncStatsHistory,
  port = RS_EXPORTER_PORT,
): Promise<StartedExporter> {
  const certs = mgr.paths.certs;
  const server: Server = createServer(
    { key: readFileSync(join(certs, 'api.key')), cert: readFileSync(join(certs, 'api.pem')) },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET' }).end();
        return;
      }
      let body: string;
      try {
        if (path === '/' || path === '/metrics') body = renderV1(mgr, history);
        else if (path === '/v2') body = renderV2(mgr);
        else {
          res
            .writeHead(404, { 'content-type': 'text/plain' })
            .end('the exporter serves / (v1 names) and /v2 (v2 names)\n');
          return;
        }
      } catch (err) {
        mgr.log.error({ err }, 'metrics render failed');
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end('metrics render failed; see the manager log\n');
        return;
      }
      res.writeHead(200, { 'content-type': PROM_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : body);
    },
  );
  const host = clusterApiAddr(mgr.state.cluster);
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: p, exclusive: true }, () => {
        server.removeListener('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : p);
      });
    });
  let bound: number;
  try {
    bound = await listen(port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    bound = await listen(0);
    mgr.log.warn({ wanted: port, port: bound }, 'metrics exporter port taken; using a free one');
  }
  const url = `https://${host}:${bound}`;
  mgr.log.info({ url }, 'metrics exporter listening');
  return {
    url,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
