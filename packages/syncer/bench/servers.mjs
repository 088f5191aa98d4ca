// Bench helpers: real redis-servers on loopback ports the OS picked, process memory from /proc,
// bounded waits. Every process started here is killed on exit, even when the bench fails.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '@minirs/common';

export { freePort };

export { procCpuMs, procMemory } from './proc.mjs';

export const REDIS = process.env.MINIRS_REDIS_SERVER || 'redis-server';
const live = new Set();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Track a child process so it is killed when the bench exits. */
export function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until it returns a truthy value; throws after `ms`. */
export async function until(fn, what, ms = 120_000, everyMs = 10) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function newClient(port, host = '127.0.0.1', password) {
  const c = new Redis({ host, port, password, maxRetriesPerRequest: 1, enableAutoPipelining: false });
  c.on('error', () => {});
  return c;
}

/**
 * A redis-server as a test would start it: no persistence, and no 5 s wait before a diskless
 * sync (the source serves native replicas and the syncer alike, so both get the same treatment).
 */
export async function startRedisServer(args = []) {
  const dir = mkdtempSync(join(tmpdir(), 'minirs-syncer-bench-'));
  const port = await freePort();
  const proc = track(
    spawn(
      REDIS,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        '--logfile',
        join(dir, 'redis.log'),
        '--repl-diskless-sync-delay',
        '0',
        ...args,
      ],
      { stdio: 'ignore' },
    ),
  );
  const clients = [];
  const server = {
    port,
    host: '127.0.0.1',
    dir,
    pid: proc.pid,
    client() {
      const c = newClient(port);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise((resolve) => {
          proc.once('exit', resolve);
          proc.kill('SIGKILL');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await until(
    async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited at start`);
      const c = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      c.on('error', () => {});
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        c.disconnect();
      }
    },
    `redis-server on port ${port} to answer PING`,
    20_000,
  );
  return server;
}

/** Parses `INFO <section>` text into a map. */
export function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
export const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

export function percentile(xs, p) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
