import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  ErrorCodes,
  type Logger,
  MinirsError,
  type ShardProcessConfig,
  writeFileAtomic,
} from '@minirs/common';
import { CONFIG_ENV } from './config.js';
import { REDIS_CONF_NAME, renderRedisConf } from './redis-conf.js';
import { probeRedis } from './redis-probe.js';
import { RedisProcess } from './redis-process.js';

/** How long a fresh redis-server (no RDB to load) may take to answer PING. */
export const START_TIMEOUT_MS = 10_000;
const PROBE_INTERVAL_MS = 25;

/** Throws MINIRS_ERR_PORT_IN_USE (or a bad-addr error) unless addr:port can be bound right now. */
export async function assertPortFree(addr: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new MinirsError(
            ErrorCodes.PORT_IN_USE,
            `port ${addr}:${port} is in use by another process; stop it or give the shard another port`,
            { field: 'port', op: 'start redis-server', peer: `${addr}:${port}`, cause: err },
          ),
        );
      } else {
        reject(
          new MinirsError(
            ErrorCodes.INVALID_ARGUMENT,
            `cannot listen on ${addr}:${port} (${err.code ?? err.message}); use a local address such as 127.0.0.1`,
            { field: 'addr', op: 'start redis-server', peer: `${addr}:${port}`, cause: err },
          ),
        );
      }
    });
    s.listen({ host: addr, port, exclusive: true }, () => s.close(() => resolve()));
  });
}

/** The lines redis-server wrote to its log (and stderr) since `offset`, for startup errors. */
function logTail(path: string, offset: number, maxLines = 3): string {
  try {
    const size = statSync(path).size;
    const start = Math.max(offset, size - 8192);
    const buf = Buffer.alloc(size - start);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buf, 0, buf.length, start);
    } finally {
      closeSync(fd);
    }
    return buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-maxLines)
      .join(' | ');
  } catch {
    return '';
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Renders redis.conf into data_dir and starts redis-server on it, in the shard's process group
 * (so killing the group takes both) but surviving a SIGKILL of the shard alone. Resolves once it
 * answers PING with our password; on any failure the half-started server is killed first.
 */
export async function launchRedis(cfg: ShardProcessConfig, log: Logger): Promise<RedisProcess> {
  await assertPortFree(cfg.addr, cfg.port);
  const confPath = join(cfg.data_dir, REDIS_CONF_NAME);
  // Without persistence a restarted shard starts empty (RS): redis-server would otherwise load an
  // RDB left by a replication full sync or by an earlier snapshot policy.
  if ((cfg.persistence?.data_persistence ?? 'disabled') === 'disabled') {
    rmSync(join(cfg.data_dir, 'dump.rdb'), { force: true });
    rmSync(join(cfg.data_dir, 'appendonlydir'), { recursive: true, force: true });
  }
  writeFileAtomic(confPath, renderRedisConf(cfg), 0o600);

  const logOffset = fileSize(cfg.redis_log_file);
  // stdout/stderr into redis-server's own log: it prints config-file errors there before its
  // logfile is open. The shard keeps no pipe to it, so the shard can die without hurting it.
  const out = openSync(cfg.redis_log_file, 'a', 0o600);
  const env = { ...process.env };
  delete env[CONFIG_ENV];
  let spawnError: Error | undefined;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cfg.redis_server, [confPath], { cwd: cfg.data_dir, stdio: ['ignore', out, out], env });
  } finally {
    closeSync(out);
  }
  child.once('error', (err) => {
    spawnError = err;
  });
  if (child.pid === undefined) {
    await new Promise((r) => setImmediate(r));
    throw new MinirsError(
      ErrorCodes.REDIS_SERVER_MISSING,
      `cannot run ${cfg.redis_server} (${spawnError?.message ?? 'spawn failed'}); install redis-server >= 7 or set MINIRS_REDIS_SERVER`,
      { field: 'redis_server', op: 'start redis-server', cause: spawnError },
    );
  }
  const redis = RedisProcess.fromChild(child);
  // Written now as well as by redis-server itself, so a shard killed during startup still
  // leaves a pid file for the next one to find.
  writeFileAtomic(cfg.redis_pid_file, `${redis.pid}\n`, 0o644);
  log.info({ redis_pid: redis.pid, conf: confPath, addr: cfg.addr, port: cfg.port }, 'redis-server spawned');

  try {
    await waitReady(cfg, redis, logOffset);
    return redis;
  } catch (err) {
    await killAndWait(redis);
    rmSync(cfg.redis_pid_file, { force: true });
    throw err;
  }
}

async function waitReady(cfg: ShardProcessConfig, redis: RedisProcess, logOffset: number): Promise<void> {
  const peer = `${cfg.addr}:${cfg.port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!redis.alive) {
      const tail = logTail(cfg.redis_log_file, logOffset);
      const e = redis.exitInfo!;
      const inUse = /Address already in use/i.test(tail);
      throw new MinirsError(
        inUse ? ErrorCodes.PORT_IN_USE : ErrorCodes.INTERNAL,
        `redis-server exited during start (code ${e.code}, signal ${e.signal}): ${tail || 'no log output'}` +
          (inUse
            ? '; stop whatever holds the port or give the shard another port'
            : `; see ${cfg.redis_log_file}`),
        { op: 'start redis-server', peer, field: inUse ? 'port' : undefined },
      );
    }
    const probe = await probeRedis({ host: cfg.addr, port: cfg.port, password: cfg.password }, 500);
    if (probe.ok && probe.pid === redis.pid) return;
    if (probe.ok) {
      throw new MinirsError(
        ErrorCodes.PORT_IN_USE,
        `another redis-server (pid ${probe.pid}) answers on ${peer}; stop it or give the shard another port`,
        { field: 'port', op: 'start redis-server', peer },
      );
    }
    lastError = probe.error;
    // Doubles as the probe interval and wakes early if redis-server dies.
    await redis.waitExit(PROBE_INTERVAL_MS);
  }
  throw new MinirsError(
    ErrorCodes.TIMEOUT,
    `redis-server on ${peer} did not answer PING within ${START_TIMEOUT_MS} ms (${lastError}); see ${cfg.redis_log_file}`,
    { op: 'start redis-server', peer },
  );
}

export async function killAndWait(redis: RedisProcess, timeoutMs = 2000): Promise<boolean> {
  redis.signal('SIGKILL');
  return redis.waitExit(timeoutMs);
}
