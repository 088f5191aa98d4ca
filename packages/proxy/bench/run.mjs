#!/usr/bin/env node
// Proxy benchmark: redis-benchmark against one redis-server, against twemproxy over 4 shards,
// and against the minirs proxy over a 4-shard database, all in one run on the same 4
// redis-servers, printing each figure and the ratios the issue sets goals for:
//   -P 16: minirs >= 1.0x twemproxy;  -P 1: minirs >= 1.0x straight redis-server.
// Bounded: -n 200000 per run (BENCH_N to change). Needs redis-server, redis-benchmark and
// nutcracker (/usr/sbin/nutcracker or NUTCRACKER). Results also go to bench/results/.
// BENCH_PROFILE=<dir> runs the minirs proxy with --cpu-prof into <dir> (the "why" of a miss).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench, cpuSeconds, KEYSPACE, PASS, startMinirs, startRedis, startTwemproxy } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_N) || 200_000;
// The machine is shared: each figure is the median of ROUNDS runs, targets interleaved.
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 3;
const ONLY = (process.env.BENCH_TARGETS || 'direct,twemproxy,minirs').split(',');

const MGET10 = ['MGET', ...Array.from({ length: 10 }, () => 'key:__rand_int__')];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const shards = await Promise.all([0, 1, 2, 3].map(startRedis));
  const twem = await startTwemproxy(shards);
  const minirs = await startMinirs(shards);
  const targets = [
    { key: 'direct', name: 'redis-server (1 shard, direct)', port: shards[0], pass: PASS, pid: null },
    { key: 'twemproxy', name: 'twemproxy (4 shards)', port: twem.port, pass: PASS, pid: twem.pid },
    { key: 'minirs', name: 'minirs proxy (4 shards)', port: minirs.port, pass: '', pid: minirs.proc.pid },
  ].filter((t) => ONLY.includes(t.key));
  const runs = [
    { label: 'SET -P 16', P: 16, tests: ['-t', 'set'] },
    { label: 'GET -P 16', P: 16, tests: ['-t', 'get'] },
    { label: 'SET -P 1', P: 1, tests: ['-t', 'set'] },
    { label: 'GET -P 1', P: 1, tests: ['-t', 'get'] },
    { label: 'MGET 10 keys -P 1', P: 1, tests: MGET10 },
  ];
  // samples[target][label] = { rps: [], cpu: [] } (cpu: proxy process CPU microseconds per request)
  const samples = {};
  for (const t of targets)
    samples[t.key] = Object.fromEntries(runs.map((r) => [r.label, { rps: [], cpu: [] }]));
  // Warm up every target (JIT, connections, key space) before measuring.
  for (const t of targets) await bench(t.port, t.pass, 16, ['-t', 'set,get'], N);
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runs) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const before = t.pid ? cpuSeconds(t.pid) : 0;
        const rps = Object.values(await bench(t.port, t.pass, r.P, r.tests, N))[0];
        const cpu = t.pid ? ((cpuSeconds(t.pid) - before) * 1e6) / N : 0;
        samples[t.key][r.label].rps.push(rps);
        samples[t.key][r.label].cpu.push(cpu);
      }
    }
    process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  const results = {};
  for (const t of targets) {
    results[t.key] = Object.fromEntries(
      runs.map((r) => [
        r.label,
        { rps: median(samples[t.key][r.label].rps), cpu_us_per_req: median(samples[t.key][r.label].cpu) },
      ]),
    );
  }
  const pad = (s, n) => String(s).padEnd(n);
  const fmt = (x) => (x === undefined ? '-' : Math.round(x));
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
  const get = (k, label) => results[k]?.[label]?.rps;
  console.log(
    `\nredis-benchmark -c 50 -n ${N} -r ${KEYSPACE}, requests/s, median of ${ROUNDS} interleaved rounds`,
  );
  console.log(
    `${pad('test', 20)}${pad('direct', 10)}${pad('twemproxy', 11)}${pad('minirs', 10)}${pad('minirs/twem', 13)}${pad('minirs/direct', 15)}CPU us/req twem | minirs`,
  );
  for (const r of runs) {
    const l = r.label;
    console.log(
      `${pad(l, 20)}${pad(fmt(get('direct', l)), 10)}${pad(fmt(get('twemproxy', l)), 11)}${pad(fmt(get('minirs', l)), 10)}` +
        `${pad(ratio(get('minirs', l), get('twemproxy', l)), 13)}${pad(ratio(get('minirs', l), get('direct', l)), 15)}` +
        `${results.twemproxy?.[l]?.cpu_us_per_req?.toFixed(1) ?? '-'} | ${results.minirs?.[l]?.cpu_us_per_req?.toFixed(1) ?? '-'}`,
    );
  }
  const goals = [
    ['SET -P 16: minirs >= twemproxy', get('minirs', 'SET -P 16') / get('twemproxy', 'SET -P 16')],
    ['GET -P 16: minirs >= twemproxy', get('minirs', 'GET -P 16') / get('twemproxy', 'GET -P 16')],
    ['SET -P 1: minirs >= direct redis', get('minirs', 'SET -P 1') / get('direct', 'SET -P 1')],
    ['GET -P 1: minirs >= direct redis', get('minirs', 'GET -P 1') / get('direct', 'GET -P 1')],
  ];
  console.log('\ngoals');
  for (const [g, x] of goals)
    console.log(`${pad(g, 36)}${Number.isFinite(x) ? `${x.toFixed(2)}x ${x >= 1 ? 'met' : 'MISSED'}` : '-'}`);
  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    JSON.stringify({ n: N, rounds: ROUNDS, results, samples, goals }, null, 2),
  );
  // A clean exit, so a --cpu-prof profile gets written.
  const exited = new Promise((r) => minirs.proc.once('exit', r));
  minirs.proc.kill('SIGTERM');
  await exited;
  minirs.control.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
