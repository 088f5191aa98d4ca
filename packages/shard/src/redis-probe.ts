import { Redis } from 'ioredis';
import { parseInfo } from './stats.js';

export interface RedisTarget {
  host: string;
  port: number;
  password: string;
}

export type ProbeResult = { ok: true; pid: number } | { ok: false; error: string };

/**
 * One connection, AUTH, PING and INFO server: answers whether a redis-server with our password
 * is serving host:port, and its process_id (how adoption proves the pid file names that server).
 */
export async function probeRedis(t: RedisTarget, timeoutMs: number): Promise<ProbeResult> {
  const c = new Redis({
    host: t.host,
    port: t.port,
    password: t.password,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    const pong = await c.ping();
    if (pong !== 'PONG') return { ok: false, error: `PING answered ${pong}` };
    const pid = Number(parseInfo(await c.info('server')).get('process_id'));
    return { ok: true, pid };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    c.disconnect();
  }
}
