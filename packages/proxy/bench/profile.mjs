#!/usr/bin/env node
// Profile the minirs proxy under redis-benchmark (4 shards): the proxy runs with --cpu-prof into
// BENCH_PROFILE (default: a temp dir), one redis-benchmark run per -P given (BENCH_P, "1,16"),
// SET and GET, against it, twemproxy and the first redis-server direct; prints requests/s and each
// process's user/system CPU us/request, then the minirs profile's top functions.
// Bounded: -n BENCH_N (100000) per test. Usage: node bench/profile.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
process.env.BENCH_PROFILE ??= mkdtempSync(join(tmpdir(), 'minirs-proxy-prof-'));
const { bench, PASS, startMinirs, startRedis, startTwemproxy } = await import('./lib.mjs');
/** [user, system] CPU seconds of a process. */
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(f[11]) / 100, Number(f[12]) / 100];
};
const N = Number(process.env.BENCH_N) || 100_000;
const PS = (process.env.BENCH_P || '1,16').split(',').map(Number);
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const shards = await Promise.all([0, 1, 2, 3].map(startRedis));
const minirs = await startMinirs(shards);
const twem = await startTwemproxy(shards);
const shardPids = execFileSync('pgrep', ['-P', String(process.pid), 'redis-server'], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .map(Number);
const targets = [
  ['minirs', minirs.port, '', minirs.proc.pid],
  ['twemproxy', twem.port, PASS, twem.pid],
  ['direct', shards[0], PASS, shardPids[0]],
];
for (const P of PS)
  for (const t of ['set', 'get'])
    for (const [name, port, pass, pid] of targets) {
      const c0 = cpu(pid);
      const r = Object.values(await bench(port, pass, P, ['-t', t], N))[0];
      const c1 = cpu(pid);
      const us = (i) => (((c1[i] - c0[i]) * 1e6) / N).toFixed(2);
      console.log(
        `${t.toUpperCase()} -P ${P} ${name.padEnd(9)}: ${String(Math.round(r)).padStart(7)} req/s, process CPU us/req user ${us(0)} sys ${us(1)}`,
      );
    }
const exited = new Promise((r) => minirs.proc.once('exit', r));
minirs.proc.kill('SIGTERM');
await exited;
minirs.control.close();
const dir = process.env.BENCH_PROFILE;
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
console.log(execFileSync(process.execPath, [join(here, '../../syncer/bench/profile-top.mjs'), join(dir, file), process.env.BENCH_ROWS || '30'], { encoding: 'utf8' }));
process.exit(0);
