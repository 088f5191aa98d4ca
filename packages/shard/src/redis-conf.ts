import type { ShardProcessConfig } from '@minirs/common';
import { persistenceDirectives } from './persistence.js';
import { replicationDirectives } from './replication.js';

/** The config file lives in data_dir; the password is in it, so it is written 0600. */
export const REDIS_CONF_NAME = 'redis.conf';

/** redis.conf string argument: double-quoted, backslash-escaped (sdssplitargs reads it back). */
export function quoteConfValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The redis-server config of one shard. Persistence as the bdb's data_persistence says (RS's
 * default: none; with aof or snapshot a restarted redis-server reloads its data from data_dir), OOM as an error
 * (noeviction), disk-based replication (as RS does for Replica Of, so the RDB size is known), and the same password for
 * clients and for masterauth so a shard can replicate from another shard of the cluster.
 */
export function renderRedisConf(cfg: ShardProcessConfig): string {
  const lines: [string, string][] = [
    ['bind', cfg.addr],
    ['port', String(cfg.port)],
    ['protected-mode', 'no'],
    ['daemonize', 'no'],
    ['requirepass', quoteConfValue(cfg.password)],
    ['masterauth', quoteConfValue(cfg.password)],
    ['maxmemory', String(cfg.maxmemory)],
    ['maxmemory-policy', 'noeviction'],
    ...persistenceDirectives(cfg.persistence).map(([k, v]): [string, string] => [k, v === '' ? '""' : v]),
    ['dir', quoteConfValue(cfg.data_dir)],
    ['logfile', quoteConfValue(cfg.redis_log_file)],
    ['pidfile', quoteConfValue(cfg.redis_pid_file)],
    // RS's Replica Of is disk-based: the RDB arrives with its size, so progress is a real percentage.
    ['repl-diskless-sync', 'no'],
    ['repl-diskless-sync-delay', '0'],
    ['repl-backlog-size', '16mb'],
    // As a slave, this shard names itself by its own address (its connection to the master may
    // leave from another one): FAILOVER TO <addr> <port> finds it, and the master reaches it.
    ['replica-announce-ip', cfg.addr],
    // Redis >= 7 only (the version is checked before this file is used).
    ['enable-debug-command', 'local'],
    // A slave starts as one (never as an empty master); a master fenced by min-replicas-to-write.
    ...replicationDirectives(cfg.replication),
    // What clients set with CONFIG SET through the endpoint (RS's settings only; the proxy checks).
    ...Object.entries(cfg.redis_config ?? {})
      .filter(([k]) => /^[a-z][a-z-]*$/.test(k))
      .map(([k, v]): [string, string] => [k, quoteConfValue(v)]),
  ];
  return `# Written by the minirs shard ${cfg.uid} (bdb ${cfg.bdb_uid}); rewritten at every start.\n${lines
    .map(([k, v]) => `${k} ${v}`)
    .join('\n')}\n`;
}
