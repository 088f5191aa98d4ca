import type { ShardReplicationConfig } from '@minirs/common';
import { invalid } from '@minirs/common';

/**
 * How long a master's slave may go without acknowledging before the master counts it lost
 * (min-replicas-max-lag, seconds). A fenced master (min_replicas_to_write 1) cut off from its
 * slave refuses writes with -NOREPLICAS within about this plus two seconds; the manager waits
 * longer than that before it promotes the slave of a master it cannot reach.
 */
export const MIN_REPLICAS_MAX_LAG_S = 2;

/** redis.conf directives of a shard's replication role. */
export function replicationDirectives(r: ShardReplicationConfig | undefined): [string, string][] {
  if (!r) return [];
  const out: [string, string][] = [
    ['min-replicas-to-write', String(r.min_replicas_to_write ?? 0)],
    ['min-replicas-max-lag', String(MIN_REPLICAS_MAX_LAG_S)],
    ['replica-read-only', 'yes'],
  ];
  if (r.role === 'slave' && r.master_host && r.master_port) {
    out.push(['replicaof', `${r.master_host} ${r.master_port}`]);
  }
  return out;
}

/** Validates a set-role request (from the manager's control channel). */
export function parseReplication(args: unknown): ShardReplicationConfig {
  const o = (args ?? {}) as Record<string, unknown>;
  if (o.role !== 'master' && o.role !== 'slave') {
    throw invalid('role', `set-role needs role master or slave, got ${JSON.stringify(o.role)}`);
  }
  const min = o.min_replicas_to_write ?? 0;
  if (typeof min !== 'number' || !Number.isInteger(min) || min < 0 || min > 16) {
    throw invalid('min_replicas_to_write', 'min_replicas_to_write must be an integer 0-16');
  }
  if (o.role === 'slave') {
    if (typeof o.master_host !== 'string' || o.master_host === '') {
      throw invalid('master_host', 'set-role slave needs master_host');
    }
    if (typeof o.master_port !== 'number' || !Number.isInteger(o.master_port) || o.master_port < 1 || o.master_port > 65535) {
      throw invalid('master_port', 'set-role slave needs master_port (1-65535)');
    }
    return { role: 'slave', master_host: o.master_host, master_port: o.master_port, min_replicas_to_write: min };
  }
  return { role: 'master', min_replicas_to_write: min };
}

/** The commands that put a running redis-server in this role (REPLICAOF is a no-op when unchanged). */
export function roleCommands(r: ShardReplicationConfig): string[][] {
  const cmds: string[][] = [
    ['CONFIG', 'SET', 'min-replicas-max-lag', String(MIN_REPLICAS_MAX_LAG_S)],
    ['CONFIG', 'SET', 'min-replicas-to-write', String(r.min_replicas_to_write ?? 0)],
  ];
  if (r.role === 'slave') cmds.unshift(['REPLICAOF', r.master_host!, String(r.master_port!)]);
  else cmds.unshift(['REPLICAOF', 'NO', 'ONE']);
  return cmds;
}
