#!/usr/bin/env node
// Benchmark: time from `minirs cluster create` (3 nodes) to a 4-shard database whose shards all
// answer PING, against a baseline measured in the same run: 4 bare redis-servers started in
// parallel until each answers PING. Bounded: RUNS iterations, each with its own MINIRS_HOME.
import { baseline, minirs } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const base = [];
const mini = [];
const create = [];
for (let i = 0; i < RUNS; i++) {
  base.push(await baseline());
  const m = await minirs(i);
  mini.push(m.total);
  create.push(m.create);
}
const b = median(base);
const m = median(mini);
console.log(`runs: ${RUNS}`);
console.log(`baseline: 4 bare redis-servers to PING      median ${b.toFixed(0)} ms`);
console.log(`minirs: cluster create (3 nodes)            median ${median(create).toFixed(0)} ms`);
console.log(`minirs: create + 4-shard db, all shards PING median ${m.toFixed(0)} ms (goal < 2000 ms)`);
console.log(`ratio minirs / baseline: ${(m / b).toFixed(1)}x`);
