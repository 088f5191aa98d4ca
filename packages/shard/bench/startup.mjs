// Shard startup cost: spawn of `node dist/main.js` to its `hello` (redis-server answering PING),
// against the baseline of a bare redis-server spawn to PING, measured in the same run.
// Run: pnpm --filter @minirs/shard bench   (build first: pnpm exec tsc -b packages/shard/tsconfig.json)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectControl } from '@minirs/common';
import { Redis } from 'ioredis';
import { freePort } from '@minirs/common';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const REDIS = process.env.MINIRS_REDIS_SERVER || 'redis-server';
const DEADLINE_MS = 15_000;

const tick = () => new Promise((r) => setTimeout(r, 5));

async function pingUntilUp(port, password) {
  const deadline = Date.now() + DEADLINE_MS;
  while (Date.now() < deadline) {
    const c = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      c.disconnect();
    }
    await tick();
  }
  throw new Error('redis-server did not answer PING');
}

async function bareRedis(dir) {
  const port = await freePort();
  const t0 = performance.now();
  const p = spawn(
    REDIS,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--requirepass', 'pw'],
    {
      stdio: 'ignore',
    },
  );
  try {
    await pingUntilUp(port, 'pw');
    return performance.now() - t0;
  } finally {
    p.kill('SIGKILL');
    await new Promise((r) => (p.exitCode !== null || p.signalCode ? r() : p.once('exit', r)));
  }
}

async function shard(dir) {
  const port = await freePort();
  const cfg = {
    cluster: 'bench',
    uid: 1,
    bdb_uid: 1,
    addr: '127.0.0.1',
    port,
    password: 'pw',
    maxmemory: 64 << 20,
    data_dir: join(dir, 'data'),
    socket: join(dir, 's.sock'),
    log_file: join(dir, 'shard.log'),
    redis_log_file: join(dir, 'redis.log'),
    redis_pid_file: join(dir, 'redis.pid'),
    redis_server: REDIS,
  };
  const t0 = performance.now();
  const p = spawn(process.execPath, [MAIN], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, MINIRS_PROC_CONFIG: JSON.stringify(cfg) },
  });
  try {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      if (Date.now() > deadline) throw new Error('shard did not say hello');
      if (existsSync(cfg.socket)) {
        try {
          const conn = await connectControl(cfg.socket);
          await new Promise((resolve) => conn.once('message', resolve));
          const ms = performance.now() - t0;
          conn.close();
          return ms;
        } catch {
          // socket not accepting yet
        }
      }
      await tick();
    }
  } finally {
    // The shard's redis-server is in its process group.
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await new Promise((r) => (p.exitCode !== null || p.signalCode ? r() : p.once('exit', r)));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

if (!existsSync(MAIN)) {
  console.error(`${MAIN} is missing: build the shard package first`);
  process.exit(1);
}
const base = [];
const sh = [];
for (let i = 0; i < RUNS; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'minirs-shard-bench-'));
  try {
    // Interleaved so machine load hits both alike.
    base.push(await bareRedis(dir));
    sh.push(await shard(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const b = median(base);
const s = median(sh);
console.log(`runs: ${RUNS}`);
console.log(`bare redis-server spawn -> PING   median ${b.toFixed(1)} ms (baseline)`);
console.log(`shard process spawn -> hello      median ${s.toFixed(1)} ms (${(s / b).toFixed(2)}x baseline)`);
