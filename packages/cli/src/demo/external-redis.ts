import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, MinirsError, randomPassword, redisServerBinary } from '@minirs/common';
import { Redis } from 'ioredis';
import { isClusterProcess, pidAlive } from '../processes.js';

/** A redis-server the demo spawns on loopback, outside any cluster: the "external" source. */
export interface ExternalRedis {
  host: string;
  port: number;
  password: string;
  pid: number;
  dir: string;
  version: string;
  /** redis://:<URL-encoded password>@host:port */
  uri: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function pingUntilUp(
  host: string,
  port: number,
  password: string,
  proc: ChildProcess,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = proc.exitCode !== null;
  proc.once('exit', () => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`redis-server on ${host}:${port} exited during start`);
    const c = new Redis({
      host,
      port,
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      const info = await c.info('server');
      c.disconnect();
      return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    } catch {
      c.disconnect();
    }
    await sleep(50);
  }
  throw new Error(`redis-server on ${host}:${port} did not answer within ${timeoutMs / 1000} s`);
}

/**
 * Spawns redis-server detached (it must outlive the demo with --keep) with MINIRS_HOME in its
 * environment, so a scan of the home's processes finds it like the clusters' own.
 */
export async function startExternalRedis(
  home: string,
  onSpawn: (pid: number) => void,
): Promise<ExternalRedis> {
  const bin = redisServerBinary();
  const host = '127.0.0.1';
  const dir = join(home, 'external-redis');
  mkdirSync(dir, { recursive: true });
  // Characters that must be URL-encoded in a redis:// URI: the source URI below encodes them.
  const password = `p@ss:w/rd#${randomPassword(8)}%`;
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        host,
        '--requirepass',
        password,
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--logfile',
        join(dir, 'redis.log'),
        '--pidfile',
        join(dir, 'redis.pid'),
        // A disk-based sync announces the RDB's size first, which the progress bar needs.
        '--repl-diskless-sync',
        'no',
        // Room for a partial resync after a short link fault.
        '--repl-backlog-size',
        '32mb',
      ],
      { detached: true, stdio: 'ignore', env: { ...process.env, MINIRS_HOME: home } },
    );
    proc.unref();
    const pid = proc.pid;
    if (pid === undefined) throw new MinirsError(ErrorCodes.INTERNAL, `could not spawn ${bin}`);
    onSpawn(pid);
    try {
      const version = await pingUntilUp(host, port, password, proc, 10_000);
      return {
        host,
        port,
        password,
        pid,
        dir,
        version,
        uri: `redis://:${encodeURIComponent(password)}@${host}:${port}`,
      };
    } catch (err) {
      lastErr = err;
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  throw new MinirsError(
    ErrorCodes.INTERNAL,
    `could not start the external redis-server (${bin}): ${(lastErr as Error).message}; see ${join(dir, 'redis.log')}`,
  );
}

/**
 * Live processes of the demo's home: node or redis-server tied to it by environment, command
 * line or working directory (isClusterProcess's rules, with the whole home as the folder).
 * redis-server overwrites its environment with its process title, so the working directory is
 * what ties a shard's or the external redis-server to the home.
 */
export function processesOfHome(home: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .map(Number)
    .filter((pid) => isClusterProcess(pid, { dir: home, home }));
}
