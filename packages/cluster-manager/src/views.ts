import type { BdbState, ShardState, ShardStats } from '@minirs/common';
import { invalid } from '@minirs/common';
import type { ActionRegistry } from './actions.js';

/** The bdb object of the REST API: the persisted state plus RS's fields minirs answers for. */
export function bdbView(b: BdbState, actions: ActionRegistry): Record<string, unknown> {
  const action = actions.latestFor(b.uid);
  // redis_config is internal (CONFIG SET values re-applied to restarted shards): not an RS field.
  const { redis_config: _internal, ...rest } = b;
  return {
    ...rest,
    type: 'redis',
    data_persistence: b.data_persistence ?? 'disabled',
    aof_policy: b.aof_policy ?? 'appendfsync-every-sec',
    snapshot_policy: b.snapshot_policy ?? [],
    replication: b.replication ?? false,
    failovers: b.failovers ?? [],
    rereplications: b.rereplications ?? [],
    replica_sync_dist: false,
    syncer_mode: 'centralized',
    eviction_policy: 'noeviction',
    oss_cluster: false,
    ...(action ? { action_uid: action.action_uid } : {}),
  };
}

/** RS's shard status and detailed_status for minirs's process states. */
function rsStatus(s: ShardState): {
  status: 'active' | 'inactive';
  detailed_status: string;
  loading: string;
} {
  switch (s.status) {
    case 'active':
      return { status: 'active', detailed_status: 'ok', loading: 'idle' };
    case 'starting':
    case 'restarting':
      return { status: 'inactive', detailed_status: 'loading', loading: 'in_progress' };
    default:
      return { status: 'inactive', detailed_status: 'down', loading: 'idle' };
  }
}

function slaveSync(stats: ShardStats | undefined): { status: string; progress: number } {
  if (stats?.role !== 'slave' || stats.master_link_status !== 'up') {
    return { status: stats?.master_sync_in_progress ? 'in_progress' : 'link_down', progress: 0 };
  }
  return { status: 'idle', progress: 100 };
}

/**
 * RS's shard object (string uid and node_uid, assigned_slots, role, status, detailed_status,
 * loading, redis_info, report_timestamp), plus minirs's own fields: addr, port, slot_start,
 * slot_end, restarts, last_event, last_event_time, stats, process_status (starting | active |
 * down | restarting, what `status` said before it followed RS).
 */
export function shardView(
  s: ShardState,
  stats: ShardStats | undefined,
  statsTime: number | undefined,
): Record<string, unknown> {
  const st = rsStatus(s);
  return {
    uid: String(s.uid),
    bdb_uid: s.bdb_uid,
    node_uid: String(s.node_uid),
    role: s.role,
    assigned_slots: `${s.slot_start}-${s.slot_end}`,
    status: st.status,
    detailed_status: st.detailed_status,
    loading: { status: st.loading },
    redis_info: stats
      ? {
          used_memory: stats.used_memory,
          maxmemory: stats.maxmemory,
          db0_keys: stats.keys,
          instantaneous_ops_per_sec: stats.ops_per_sec,
          total_commands_processed: stats.total_commands,
          connected_clients: stats.connected_clients,
          process_id: stats.redis_pid,
          uptime_in_seconds: stats.uptime_sec,
          ...(stats.role
            ? {
                role: stats.role,
                master_repl_offset: stats.master_repl_offset,
                connected_slaves: stats.connected_slaves,
                master_replid: stats.master_replid,
                master_replid2: stats.master_replid2,
              }
            : {}),
          ...(stats.role === 'slave'
            ? {
                master_link_status: stats.master_link_status,
                master_sync_in_progress: stats.master_sync_in_progress ? 1 : 0,
              }
            : {}),
        }
      : {},
    // RS's sync of a slave shard with its master: idle (in sync), in_progress (full sync), link_down.
    ...(s.role === 'slave' ? { sync: slaveSync(stats), master_shard_uid: s.master_shard_uid } : {}),
    ...(statsTime ? { report_timestamp: `${new Date(statsTime).toISOString().slice(0, 19)}Z` } : {}),
    process_status: s.status,
    addr: s.addr,
    port: s.port,
    slot_start: s.slot_start,
    slot_end: s.slot_end,
    restarts: s.restarts,
    last_event: s.last_event,
    last_event_time: s.last_event_time,
    stats,
  };
}

/** RS's `fields` query parameter: a comma-separated list of the fields to return. */
export function parseFields(q: unknown): string[] | undefined {
  if (q === undefined) return undefined;
  if (typeof q !== 'string')
    throw invalid('fields', 'fields is a comma-separated list of field names, given once');
  const list = q
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw invalid('fields', 'fields is empty: list the field names to return, or omit it');
  return list;
}

export function pickFields<T extends Record<string, unknown>>(
  o: T,
  fields: string[] | undefined,
): Record<string, unknown> {
  if (!fields) return o;
  const out: Record<string, unknown> = {};
  for (const f of fields) if (Object.hasOwn(o, f)) out[f] = o[f];
  return out;
}
