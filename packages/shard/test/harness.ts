import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ControlConnection,
  type ControlMessage,
  connectControl,
  pidAlive,
  pidCmdline,
  redisServerBinary,
  type ShardProcessConfig,
} from '@minirs/common';
import { freePort } from '@minirs/harness';
import { Redis } from 'ioredis';

/**
 * Real shard processes for tests: each spawned like the cluster-manager does (detached, output
 * to a file, config in MINIRS_PROC_CONFIG) from the built dist/main.js. cleanup() SIGKILLs every
 * shard process group and every redis-server pid seen, and removes the temp dirs.
 */

export const SHARD_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

const dirs: string[] = [];
const shards = new Set<RunningShard>();
const redisPids = new Set<number>();

export interface ShardExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningShard {
  proc: ChildProcess;
  pid: number;
  cfg: ShardProcessConfig;
  /** Everything the shard process wrote to stdout/stderr. */
  output(): string;
  exited: Promise<ShardExit>;
  exitInfo?: ShardExit;
}

export interface TestShardConfig extends ShardProcessConfig {
  /** The temp dir every file of this shard lives in. */
  root: string;
}

export async function makeShardConfig(overrides: Partial<ShardProcessConfig> = {}): Promise<TestShardConfig> {
  const root = mkdtempSync(join(tmpdir(), 'minirs-shard-'));
  dirs.push(root);
  return {
    root,
    cluster: 'test',
    uid: 7,
    bdb_uid: 3,
    addr: '127.0.0.1',
    port: await freePort(),
    // Quotes, a backslash and a space: the rendered redis.conf must carry them verbatim.
    password: 'in"ternal\\ pass-0123456789abcdef',
    maxmemory: 64 * 1024 * 1024,
    data_dir: join(root, 'data', 'shard-7'),
    socket: join(root, 'run', 'shard-7.sock'),
    log_file: join(root, 'logs', 'shard-7.log'),
    redis_log_file: join(root, 'logs', 'redis-7.log'),
    redis_pid_file: join(root, 'run', 'redis-7.pid'),
    redis_server: redisServerBinary(),
    ...overrides,
  };
}

/** Spawns `node dist/main.js` with MINIRS_PROC_CONFIG = raw (a config object or any string). */
export function spawnShard(cfg: ShardProcessConfig | string | undefined, outDir?: string): RunningShard {
  if (!existsSync(SHARD_MAIN)) throw new Error(`${SHARD_MAIN} is missing: build the shard package first`);
  const dir = outDir ?? (typeof cfg === 'object' ? (cfg as TestShardConfig).root : undefined);
  const root = dir ?? mkdtempSync(join(tmpdir(), 'minirs-shard-out-'));
  if (!dir) dirs.push(root);
  const outFile = join(root, `shard-out-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const fd = openSync(outFile, 'w');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MINIRS_PROC_CONFIG;
  if (cfg !== undefined) env.MINIRS_PROC_CONFIG = typeof cfg === 'string' ? cfg : JSON.stringify(cfg);
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, [SHARD_MAIN], { detached: true, stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd);
  }
  const shard: RunningShard = {
    proc,
    pid: proc.pid!,
    cfg: typeof cfg === 'object' ? cfg : (undefined as unknown as ShardProcessConfig),
    output: () => readFileSync(outFile, 'utf8'),
    exited: new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        shard.exitInfo = { code, signal };
        resolve({ code, signal });
      });
    }),
  };
  shards.add(shard);
  return shard;
}

export interface ShardSession {
  conn: ControlConnection;
  hello: Extract<ControlMessage, { type: 'hello' }>;
  messages: ControlMessage[];
  /** Resolves with the first message (already received or future) that matches. */
  next<T extends ControlMessage['type']>(
    type: T,
    pred?: (m: Extract<ControlMessage, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<ControlMessage, { type: T }>>;
}

/** Waits for the control socket (it appears once redis-server answers), connects, awaits hello. */
export async function connectShard(shard: RunningShard, timeoutMs = 15_000): Promise<ShardSession> {
  const deadline = Date.now() + timeoutMs;
  let conn: ControlConnection | undefined;
  let lastErr: unknown;
  while (!conn) {
    if (shard.exitInfo) {
      throw new Error(
        `shard exited (${JSON.stringify(shard.exitInfo)}) before its socket answered: ${shard.output()}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`shard control socket did not answer: ${String(lastErr)}`);
    if (existsSync(shard.cfg.socket)) {
      try {
        conn = await connectControl(shard.cfg.socket);
        break;
      } catch (err) {
        lastErr = err;
      }
    }
    await Promise.race([new Promise((r) => setTimeout(r, 20)), shard.exited]);
  }
  const messages: ControlMessage[] = [];
  const waiters = new Set<() => void>();
  conn.on('message', (m: ControlMessage) => {
    messages.push(m);
    for (const w of waiters) w();
  });
  const next: ShardSession['next'] = (type, pred, ms = 10_000) =>
    new Promise((resolve, reject) => {
      type M = Extract<ControlMessage, { type: typeof type }>;
      const check = () => {
        const m = messages.find((x) => x.type === type && (!pred || pred(x as M)));
        if (!m) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(m as M);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(`no ${type} message within ${ms} ms; got ${JSON.stringify(messages.map((x) => x.type))}`),
        );
      }, ms);
      if (!check()) waiters.add(check);
    });
  const hello = await next('hello');
  const detail = hello.detail as { redis_pid?: number } | undefined;
  if (detail?.redis_pid) redisPids.add(detail.redis_pid);
  return { conn, hello, messages, next };
}

/** Remembers a redis-server pid so cleanup() kills it even if the test failed midway. */
export function trackRedisPid(pid: number): void {
  redisPids.add(pid);
}

export function redisClient(cfg: ShardProcessConfig): Redis {
  const c = new Redis({
    host: cfg.addr,
    port: cfg.port,
    password: cfg.password,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  return c;
}

/** The process-table rule of @minirs/common (a zombie is dead). */
export const alive = pidAlive;

/** Polls until the process is gone (it may not be our child, e.g. a redis-server). */
export async function waitGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

function isRedisServer(pid: number): boolean {
  return pidCmdline(pid).includes('redis-server');
}

export async function cleanup(): Promise<void> {
  for (const s of shards) {
    // The redis-server a shard started is in its process group.
    if (!s.exitInfo) {
      try {
        process.kill(-s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const f of [s.cfg?.redis_pid_file]) {
      if (!f) continue;
      try {
        const pid = Number(readFileSync(f, 'utf8').trim());
        if (pid > 1) redisPids.add(pid);
      } catch {
        // no pid file
      }
    }
  }
  for (const pid of redisPids) {
    // Only a redis-server: a pid from a stale pid file may since belong to someone else.
    if (!isRedisServer(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all([...shards].map((s) => s.exited));
  await Promise.all([...redisPids].filter(isRedisServer).map((pid) => waitGone(pid, 5000)));
  shards.clear();
  redisPids.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
