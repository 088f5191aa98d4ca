#!/usr/bin/env node
// Parse + plan throughput (what the syncer's full sync does per key before it writes): an RDB
// of BENCH_KEYS (200000) x 100 B strings made by a redis-server (DEBUG POPULATE, SAVE), then
// RdbParser + RestorePlanner over it in 64 KB chunks, in this process, BENCH_RUNS (5) times;
// prints the best run's CPU ms and keys/s. Usage: node bench/plan.mjs
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdbParser, RestorePlanner } from '../dist/index.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const REDIS = process.env.MINIRS_REDIS_SERVER || 'redis-server';
const port = await new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'minirs-rdb-plan-'));
const proc = spawn(
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
    '--enable-debug-command',
    'local',
  ],
  { stdio: 'ignore' },
);
process.on('exit', () => {
  proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const cli = (...a) => spawnSync('redis-cli', ['-p', String(port), ...a], { encoding: 'utf8' });
for (let i = 0; i < 200 && !cli('PING').stdout.includes('PONG'); i++)
  await new Promise((r) => setTimeout(r, 25));
cli('DEBUG', 'POPULATE', String(KEYS), 'key', '100');
cli('SAVE');
const rdb = readFileSync(join(dir, 'dump.rdb'));
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; RDB ${(rdb.length / 1e6).toFixed(1)} MB, ${KEYS} keys`,
);
let best = Infinity;
for (let r = 0; r < RUNS; r++) {
  const c0 = process.cpuUsage();
  const parser = new RdbParser();
  const planner = new RestorePlanner({
    targetRdbVersion: 10,
    now: Date.now,
    mapExpireAt: (t) => t,
    maxPayloadBytes: 1024 * 1024,
  });
  let commands = 0;
  for (let off = 0; off < rdb.length; off += 65536) {
    parser.write(rdb.subarray(off, Math.min(rdb.length, off + 65536)));
    for (let ev = parser.read(); ev !== null; ev = parser.read()) commands += planner.push(ev).length;
  }
  parser.end();
  for (let ev = parser.read(); ev !== null; ev = parser.read()) commands += planner.push(ev).length;
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  best = Math.min(best, ms);
  if (commands !== KEYS) throw new Error(`planned ${commands} commands, want ${KEYS}`);
}
console.log(
  `parse + plan: best of ${RUNS} ${best.toFixed(0)} ms CPU, ${Math.round(KEYS / (best / 1000)).toLocaleString('en-US')} keys/s`,
);
process.exit(0);
