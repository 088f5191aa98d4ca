import type { ShardStats } from '@minirs/common';

/** Fields of INFO ("name:value" lines, "# Section" headers) as strings. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/** Sum of keys=N over every "dbN:keys=..,expires=..,avg_ttl=.." keyspace line. */
export function keyspaceKeys(info: Map<string, string>): number {
  let keys = 0;
  for (const [name, value] of info) {
    if (!/^db\d+$/.test(name)) continue;
    const m = /(?:^|,)keys=(\d+)/.exec(value);
    if (m) keys += Number(m[1]);
  }
  return keys;
}

function num(info: Map<string, string>, name: string): number {
  const n = Number(info.get(name));
  return Number.isFinite(n) ? n : 0;
}

/**
 * ShardStats from a full INFO reply. connected_clients counts the shard's own stats connection;
 * uptime_sec is redis-server's uptime (an adopted server keeps counting from its own start).
 */
export function statsFromInfo(text: string): ShardStats {
  const info = parseInfo(text);
  return {
    used_memory: num(info, 'used_memory'),
    maxmemory: num(info, 'maxmemory'),
    keys: keyspaceKeys(info),
    ops_per_sec: num(info, 'instantaneous_ops_per_sec'),
    total_commands: num(info, 'total_commands_processed'),
    connected_clients: num(info, 'connected_clients'),
    redis_pid: num(info, 'process_id'),
    uptime_sec: num(info, 'uptime_in_seconds'),
    ...replicationStats(info),
  };
}

/** The INFO replication fields the manager needs for roles, link states and failovers. */
function replicationStats(info: Map<string, string>): Partial<ShardStats> {
  const role = info.get('role');
  if (role !== 'master' && role !== 'slave') return {};
  const out: Partial<ShardStats> = {
    role,
    master_repl_offset: num(info, 'master_repl_offset'),
    connected_slaves: num(info, 'connected_slaves'),
    master_replid: info.get('master_replid') ?? '',
    master_replid2: info.get('master_replid2') ?? '',
  };
  if (role === 'slave') {
    out.master_link_status = info.get('master_link_status') === 'up' ? 'up' : 'down';
    out.master_sync_in_progress = info.get('master_sync_in_progress') === '1';
  }
  return out;
}
