import type { Logger, ShardProcessConfig } from '@minirs/common';
import { hasProcfs, pidExists, readPidFile, readProc } from './proc.js';
import { killAndWait } from './redis-launch.js';
import { probeRedis } from './redis-probe.js';
import { RedisProcess } from './redis-process.js';

export type AdoptOutcome =
  | { adopted: true; redis: RedisProcess; paused: boolean }
  | { adopted: false; reason: string };

const ADOPT_PROBE_TIMEOUT_MS = 1500;

/**
 * A shard process can be SIGKILLed while its redis-server lives on. The next shard process with
 * the same config takes that server back (keeping its data) when the pid file names a live
 * redis-server for our addr:port that answers PING with our password and reports that very pid.
 * A server of ours that is stopped (a pause fault outlived the shard) is adopted paused. One that
 * is ours but does not answer (hung, or the password changed) is killed so a fresh one can start.
 * Anything else (no pid file, a dead or reused pid) is left alone.
 */
export async function tryAdopt(cfg: ShardProcessConfig, log: Logger): Promise<AdoptOutcome> {
  const pid = readPidFile(cfg.redis_pid_file);
  if (pid === undefined) return { adopted: false, reason: 'no pid file' };
  if (!pidExists(pid)) return { adopted: false, reason: `pid ${pid} from the pid file is gone` };

  const proc = readProc(pid);
  const procfs = hasProcfs();
  if (procfs) {
    if (!proc || proc.state === 'Z' || proc.state === 'X') {
      return { adopted: false, reason: `pid ${pid} from the pid file is gone` };
    }
    if (!/redis-server/.test(proc.cmdline)) {
      return {
        adopted: false,
        reason: `pid ${pid} is now ${JSON.stringify(proc.cmdline)}, not redis-server`,
      };
    }
    // redis-server retitles itself "redis-server <bind>:<port>"; another port is someone else's.
    if (!proc.cmdline.includes(`:${cfg.port}`)) {
      return { adopted: false, reason: `pid ${pid} is a redis-server for another port (${proc.cmdline})` };
    }
    if (proc.state === 'T') {
      log.warn({ redis_pid: pid }, 'adopting a stopped (paused) redis-server; resume-redis continues it');
      return { adopted: true, redis: RedisProcess.adopt(pid), paused: true };
    }
  }

  const probe = await probeRedis(
    { host: cfg.addr, port: cfg.port, password: cfg.password },
    ADOPT_PROBE_TIMEOUT_MS,
  );
  if (probe.ok && probe.pid === pid) {
    return { adopted: true, redis: RedisProcess.adopt(pid), paused: false };
  }
  if (probe.ok) {
    return { adopted: false, reason: `${cfg.addr}:${cfg.port} is served by pid ${probe.pid}, not ${pid}` };
  }
  if (!procfs) {
    // Without /proc nothing proves the pid is our redis-server; never signal a stranger.
    return { adopted: false, reason: `pid ${pid} does not answer as our redis-server (${probe.error})` };
  }
  const stale = RedisProcess.adopt(pid);
  log.warn(
    { redis_pid: pid, error: probe.error },
    'previous redis-server of this shard does not answer PING with our password; killing it',
  );
  const gone = await killAndWait(stale);
  stale.dispose();
  return {
    adopted: false,
    reason: `killed unresponsive redis-server pid ${pid} (${probe.error})${gone ? '' : '; it did not exit within 2 s'}`,
  };
}
