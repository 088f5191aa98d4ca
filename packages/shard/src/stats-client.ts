import type { Logger, ShardProcessConfig } from '@minirs/common';
import type { Redis } from 'ioredis';

const COMMAND_TIMEOUT_MS = 2000;

/**
 * The shard's one long-lived connection to its redis-server, for stats and control requests.
 * ioredis is imported here, lazily: loading it costs about as much as starting redis-server, and
 * the shard says hello (redis is up) without waiting for it.
 */
export async function openStatsClient(
  cfg: ShardProcessConfig,
  log: Logger,
  quiet: () => boolean,
): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis({
    host: cfg.addr,
    port: cfg.port,
    password: cfg.password,
    connectionName: `minirs-shard-${cfg.uid}`,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
  });
  let errorLogged = false;
  client.on('error', (err: Error) => {
    // ioredis reports every failed reconnect; one line until it is ready again is enough.
    if (!errorLogged && !quiet()) log.warn({ err: err.message }, 'stats connection error');
    errorLogged = true;
  });
  client.on('ready', () => {
    errorLogged = false;
  });
  return client;
}
