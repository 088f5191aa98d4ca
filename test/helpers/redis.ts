import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@minirs/common';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * Real redis-server processes for tests (never a mock). Every server listens on loopback on a
 * port the OS picked, lives in its own temp dir, and is killed by stop() — call it in afterAll /
 * afterEach (a process-exit hook kills any left over).
 */

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function redisServerBin(): string {
  return process.env.MINIRS_REDIS_SERVER || 'redis-server';
}

export { freePort };

export interface StartedRedis {
  host: string;
  port: number;
  password?: string;
  dir: string;
  proc: ChildProcess;
  /** A new ioredis client (caller quits it, or stop() does). */
  client(opts?: RedisOptions): Redis;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  host?: string;
  port?: number;
  password?: string;
  /** Extra config as `--name value` pairs, e.g. ['--repl-backlog-size', '1mb']. */
  args?: string[];
  /** Load this RDB file at start (copied into the server's dir as dump.rdb). */
  rdbFile?: string;
}

export async function startRedis(opts: RedisServerOptions = {}): Promise<StartedRedis> {
  const host = opts.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'minirs-redis-'));
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort(host));
    const args = [
      '--port',
      String(port),
      '--bind',
      host,
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
      // Redis waits 5 s for more replicas before a diskless sync; tests have one (opts.args may override).
      '--repl-diskless-sync-delay',
      '0',
    ];
    if (opts.rdbFile) {
      const { copyFileSync } = await import('node:fs');
      copyFileSync(opts.rdbFile, join(dir, 'dump.rdb'));
      args.push('--dbfilename', 'dump.rdb');
    }
    if (opts.password) args.push('--requirepass', opts.password);
    args.push(...(opts.args ?? []));
    const proc = spawn(redisServerBin(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(proc);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      live.delete(proc);
    });
    const clients: Redis[] = [];
    const started: StartedRedis = {
      host,
      port,
      password: opts.password,
      dir,
      proc,
      client(o?: RedisOptions) {
        const c = new Redis({
          host,
          port,
          password: opts.password,
          lazyConnect: false,
          maxRetriesPerRequest: 1,
          ...o,
        });
        c.on('error', () => {});
        clients.push(c);
        return c;
      },
      async stop() {
        for (const c of clients) c.disconnect();
        if (!exited) {
          await new Promise<void>((resolve) => {
            proc.once('exit', () => resolve());
            proc.kill('SIGKILL');
          });
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitForPing(host, port, opts.password, () => exited);
      return started;
    } catch (err) {
      lastErr = err;
      await started.stop().catch(() => {});
      if (opts.port !== undefined) break;
    }
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

async function waitForPing(host: string, port: number, password: string | undefined, exited: () => boolean) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`redis-server on ${host}:${port} exited during start`);
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
      const pong = await c.ping();
      // A server loading an RDB answers -LOADING; wait for it.
      if (pong === 'PONG') {
        c.disconnect();
        return;
      }
    } catch {
      // not up yet
    }
    c.disconnect();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on ${host}:${port} did not answer PING within 10 s`);
}
