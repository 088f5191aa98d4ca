// RDB parse throughput vs redis-server's own load of the same RDB, measured in one run.
// Dataset: BENCH_KEYS (default 1,000,000) strings of ~100 random bytes plus mixed collections,
// written by a pipelined client (bounded in count), saved with SAVE.
// Run: pnpm --filter @minirs/rdb bench   (build first: pnpm exec tsc -b packages/rdb/tsconfig.json)
import { spawn } from 'node:child_process';
import { copyFileSync, createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseRdbBatches, parseRdbBuffer, parseRdbStream } from '../dist/index.js';
import { freePort } from '../../common/dist/index.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const REDIS = process.env.MINIRS_REDIS_SERVER || 'redis-server';
const DEADLINE_MS = 120_000;
const live = new Set();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

async function startServer(dir, extra = []) {
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn(
    REDIS,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--dbfilename',
      'dump.rdb',
      '--save',
      '',
      '--appendonly',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    if (Date.now() > deadline) throw new Error('redis-server did not come up');
    const c = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      // -LOADING is an error reply: it throws until the dataset is in memory.
      if ((await c.ping()) === 'PONG') {
        c.disconnect();
        break;
      }
    } catch {
      // not up, or still loading
    }
    c.disconnect();
    await new Promise((r) => setTimeout(r, 2));
  }
  const upMs = performance.now() - t0;
  return {
    port,
    upMs,
    client: () => new Redis({ port, host: '127.0.0.1' }),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

async function populate(c) {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const value = () => {
    const b = Buffer.allocUnsafe(100);
    for (let i = 0; i < 100; i += 4) b.writeUInt32LE(rnd(), i);
    return b;
  };
  const BATCH = 10_000;
  for (let i = 0; i < KEYS; i += BATCH) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(KEYS, i + BATCH); j++) p.set(`key:${j}`, value());
    await p.exec();
  }
  // Mixed collections: ~2% of the key count, each type in its small and big encodings.
  const n = Math.max(100, Math.floor(KEYS / 200));
  const p = c.pipeline();
  for (let i = 0; i < n; i++) {
    p.hset(`hash:${i}`, 'a', value(), 'b', String(i), 'c', 'x'.repeat(20));
    p.rpush(`list:${i}`, 'one', 'two', String(i), value());
    p.sadd(`set:${i}`, i, i + 1, i + 2);
    p.zadd(`zset:${i}`, 1, 'a', 2.5, 'b', i, value());
    if (i % 10 === 0) p.xadd(`stream:${i}`, '*', 'f', value(), 'g', String(i));
  }
  await p.exec();
  for (let i = 0; i < 10; i++) {
    const big = c.pipeline();
    for (let j = 0; j < 10; j++) {
      const args = [];
      for (let k = 0; k < 1000; k++) args.push(`m${i}:${j}:${k}`);
      big.rpush('big:list', ...args);
      big.sadd('big:set', ...args);
      big.hset('big:hash', ...args.flatMap((a) => [a, a]));
      big.zadd('big:zset', ...args.flatMap((a, k) => [k, a]));
    }
    await big.exec();
  }
}

function best(xs) {
  return Math.min(...xs);
}

async function main() {
  const srcDir = mkdtempSync(join(tmpdir(), 'minirs-rdb-bench-'));
  const loadDir = mkdtempSync(join(tmpdir(), 'minirs-rdb-bench-load-'));
  try {
    const t0 = performance.now();
    // BENCH_RDB=<file>: measure an existing RDB instead of generating one.
    const file = process.env.BENCH_RDB ?? join(srcDir, 'dump.rdb');
    if (!process.env.BENCH_RDB) {
      const src = await startServer(srcDir);
      const c = src.client();
      await populate(c);
      await c.call('SAVE');
      c.disconnect();
      await src.stop();
      if (process.env.BENCH_SAVE_TO) copyFileSync(file, process.env.BENCH_SAVE_TO);
    }
    const size = statSync(file).size;
    const mb = size / 1024 / 1024;
    const what = process.env.BENCH_RDB ?? `${KEYS} strings of 100 B + collections`;
    console.log(
      `dataset: ${what}, RDB ${mb.toFixed(1)} MB (ready in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );

    // redis-server's own load of the same file: spawn to first PONG, and its logged load time.
    copyFileSync(file, join(loadDir, 'dump.rdb'));
    const upTimes = [];
    const loadTimes = [];
    let dbKeys = 0;
    for (let r = 0; r < RUNS; r++) {
      rmSync(join(loadDir, 'redis.log'), { force: true });
      const s = await startServer(loadDir);
      upTimes.push(s.upMs);
      const log = readFileSync(join(loadDir, 'redis.log'), 'utf8');
      const m = /DB loaded from disk: ([\d.]+) seconds/.exec(log);
      if (m) loadTimes.push(Number(m[1]) * 1000);
      if (r === 0) {
        const lc = s.client();
        dbKeys = await lc.dbsize();
        lc.disconnect();
      }
      await s.stop();
    }

    // The parser over the same bytes, from the file in 64 KB reads (as a socket would deliver them).
    const data = readFileSync(file);
    const streamTimes = [];
    const memTimes = [];
    const eventTimes = [];
    let keys = 0;
    for (let r = 0; r < RUNS; r++) {
      keys = 0;
      let t = performance.now();
      for await (const batch of parseRdbBatches(createReadStream(file, { highWaterMark: 64 * 1024 }))) {
        for (const ev of batch) if (ev.kind === 'keyStart') keys++;
      }
      streamTimes.push(performance.now() - t);
      t = performance.now();
      for await (const ev of parseRdbStream(createReadStream(file, { highWaterMark: 64 * 1024 }))) {
        if (ev.kind === 'keyStart') keys += 0;
      }
      eventTimes.push(performance.now() - t);
      t = performance.now();
      for (const ev of parseRdbBuffer(data, { chunkSize: 64 * 1024 })) if (ev.kind === 'keyStart') keys += 0;
      memTimes.push(performance.now() - t);
    }
    if (keys !== dbKeys) throw new Error(`parsed ${keys} keys, redis-server loaded ${dbKeys}`);

    const ps = best(streamTimes);
    const pm = best(memTimes);
    const rl = loadTimes.length ? best(loadTimes) : Number.NaN;
    const ru = best(upTimes);
    const row = (name, ms) =>
      console.log(
        `${name.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms  ${(mb / (ms / 1000)).toFixed(1).padStart(7)} MB/s  ${Math.round(
          keys / (ms / 1000),
        )
          .toLocaleString('en-US')
          .padStart(11)} keys/s`,
      );
    console.log(`best of ${RUNS} runs; ${keys} keys`);
    row('minirs parse, file 64 KB reads (batches)', ps);
    row('minirs parse, file 64 KB reads (per event)', best(eventTimes));
    row('minirs parse, in memory 64 KB chunks', pm);
    row('redis-server load ("DB loaded from disk")', rl);
    row('redis-server spawn to first PONG', ru);
    console.log(
      `ratio redis load / minirs parse (stream): ${(rl / ps).toFixed(2)}x  (>1: parsing is faster)`,
    );
    console.log(`ratio redis spawn-to-PONG / minirs parse (stream): ${(ru / ps).toFixed(2)}x`);
  } finally {
    rmSync(srcDir, { recursive: true, force: true });
    rmSync(loadDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
