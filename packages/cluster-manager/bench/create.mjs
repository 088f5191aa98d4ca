#!/usr/bin/env node
// Benchmark: time from `minirs cluster create` (3 nodes) to a 4-shard database whose shards and
// endpoint answer PING, with where the time goes (from the manager's and shards' logs), in both
// network modes (netns namespaces, loopback addresses), against a baseline measured in the same
// run: 4 bare redis-servers started in parallel until each answers PING. Bounded: RUNS (3)
// rounds, each create with its own MINIRS_HOME. NETS=netns,loopback chooses the modes.
// BENCH_BEFORE=<another checkout, built> runs its CLI in every round too (interleaved, same
// load) and prints its totals beside these: a before/after in one run.
import { loadavg } from 'node:os';
import { baseline, minirs } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 3);
const NETS = (process.env.NETS ?? 'netns,loopback').split(',').filter(Boolean);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

console.log(`load average at the start: ${load()} (${RUNS} rounds, modes ${NETS.join(', ')})`);
const BEFORE = process.env.BENCH_BEFORE;
const beforeCli = BEFORE ? `${BEFORE}/packages/cli/dist/main.js` : undefined;
const base = [];
const res = Object.fromEntries(NETS.map((n) => [n, []]));
const before = Object.fromEntries(NETS.map((n) => [n, []]));
for (let i = 0; i < RUNS; i++) {
  base.push(await baseline());
  for (const net of NETS) {
    if (beforeCli) {
      const r0 = await minirs(i + 1000, net, beforeCli);
      before[net].push(r0);
      console.log(
        `round ${i + 1} ${net.padEnd(8)} BEFORE total ${r0.total.toFixed(0)} ms (create ${r0.create.toFixed(0)}, db ${r0.db.toFixed(0)}; load ${loadavg()[0].toFixed(2)})`,
      );
    }
    const r = await minirs(i, net);
    res[net].push(r);
    console.log(
      `round ${i + 1} ${net.padEnd(8)} total ${r.total.toFixed(0)} ms (create ${r.create.toFixed(0)}, db ${r.db.toFixed(0)}; mode ${r.network}; load ${loadavg()[0].toFixed(2)})`,
    );
  }
}
const b = median(base);
console.log(`\nbaseline: 4 bare redis-servers until PING, median ${b.toFixed(0)} ms`);
for (const net of NETS) {
  const rs = res[net];
  const tot = median(rs.map((r) => r.total));
  console.log(`\n${net}: cluster create (3 nodes) + 4-shard db until the endpoint answers PING: median ${tot.toFixed(0)} ms (goal < 1500), ${(tot / b).toFixed(1)}x the baseline`);
  console.log(`  median create ${median(rs.map((r) => r.create)).toFixed(0)} ms, db create ${median(rs.map((r) => r.db)).toFixed(0)} ms`);
  if (beforeCli) {
    const bt = median(before[net].map((r) => r.total));
    console.log(
      `  BEFORE (${BEFORE}): median ${bt.toFixed(0)} ms (create ${median(before[net].map((r) => r.create)).toFixed(0)}, db ${median(before[net].map((r) => r.db)).toFixed(0)}), ${(bt / b).toFixed(1)}x the baseline; after/before ${(tot / bt).toFixed(2)}`,
    );
  }
  const names = rs[0].steps?.map((s) => s.step) ?? [];
  for (const name of names) {
    const xs = rs.map((r) => r.steps?.find((s) => s.step === name)?.ms).filter((x) => x !== undefined);
    console.log(`  ${name.padEnd(52)} ${median(xs).toFixed(0).padStart(6)} ms`);
  }
}
console.log(`\nload average at the end: ${load()}`);
