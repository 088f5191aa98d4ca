import { askRedis, isBlobType } from '@minirs/resp';
import { parseInfo } from './stats.js';

export interface RedisTarget {
  host: string;
  port: number;
  password: string;
}

export type ProbeResult = { ok: true; pid: number } | { ok: false; error: string };

/**
 * Answers whether a redis-server with our password serves host:port, and its process_id (how
 * adoption proves the pid file names that very server). One connection, AUTH + PING + INFO
 * server pipelined, through @minirs/resp rather than ioredis so the shard can say hello before
 * paying for loading ioredis (see Shard.start).
 */
export async function probeRedis(t: RedisTarget, timeoutMs: number): Promise<ProbeResult> {
  const r = await askRedis(t, [['PING'], ['INFO', 'server']], timeoutMs);
  if ('error' in r) return { ok: false, error: r.error };
  const [auth, ping, info] = r.replies as [
    (typeof r.replies)[number],
    (typeof r.replies)[number],
    (typeof r.replies)[number],
  ];
  if (auth.isError) return { ok: false, error: auth.str() };
  if (ping.isError || ping.str() !== 'PONG') return { ok: false, error: `PING answered ${ping.str()}` };
  if (info.isError || info.isNull || !isBlobType(info.type))
    return { ok: false, error: `INFO answered ${info.isAggregate ? 'an array' : info.str()}` };
  return { ok: true, pid: Number(parseInfo(info.str()).get('process_id')) };
}
