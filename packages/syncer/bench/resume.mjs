#!/usr/bin/env node
// Exact resume benchmark (issue 15), one run on loopback: an external redis-server source with
// BENCH_KEYS mixed keys, the syncer alone (a child process) into one redis-server, a paced
// writer (BENCH_RATE ops/s) on the source throughout.
//  1. kill -9 of the syncer, a new one started at once: time from the kill until the new one is
//     in sync and a write made on the source after the kill is on the destination; the fewest
//     keys the destination held meanwhile (a read outage shows as 0).
//     (a) exact resume from the destination's checkpoints; (b) today's full reload (the same
//     kill with the checkpoints deleted first: the syncer falls back to flush + full sync).
//  2. The write throughput of streaming with checkpoints (MULTI/EXEC + HSET per batch and
//     shard) against the same syncer without them (MINIRS_BENCH_NO_CHECKPOINTS=1, all else
//     equal) and against BENCH_BASELINE_DIST (default /work/main's syncer, if built): redis-benchmark at
//     full rate on the source (BENCH_STREAM_N requests of SET, INCR, LPUSH), replicated ops/s.
// Run: pnpm build && node packages/syncer/bench/resume.mjs
// Env: BENCH_KEYS (100000), BENCH_RATE (2000), BENCH_STREAM_N (100000), BENCH_PHASES (resume,cost),
// BENCH_TTL=1 (1 string in 20 with a TTL: then the kill -9 resume is a full resync, by design).
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { populateMixed } from './dataset.mjs';
import { parseInfo, procCpuMs, secs, sleep, startRedisServer, until } from './servers.mjs';
import { measureStreaming, redisBenchmarkLoad } from './streaming.mjs';
import { startSyncerChild, syncerConfig } from './syncer-child.mjs';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const STREAM_N = Number(process.env.BENCH_STREAM_N ?? 100_000);
const TTL = process.env.BENCH_TTL === '1';
const PHASES = new Set((process.env.BENCH_PHASES ?? 'resume,cost').split(','));
const BASELINE = process.env.BENCH_BASELINE_DIST ?? '/work/main/packages/syncer/dist/replica-of.js';
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

/** A bounded paced writer (INCR, so a write applied twice would show). */
function pacedWriter(client, rate) {
  let stop = false;
  let n = 0;
  const done = (async () => {
    const t0 = performance.now();
    while (!stop && n < rate * 600) {
      const due = t0 + (n / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const p = client.pipeline();
      for (let i = 0; i < 10; i++) p.incr(`bench:ctr:${(n + i) % 100}`);
      await p.exec();
      n += 10;
    }
  })();
  return {
    get n() {
      return n;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** Kill -9 the syncer, start a new one: ms until in sync with a post-kill write on the destination. */
async function killAndRestart(child, cfg, src, dst, beforeStart) {
  let minKeys = Number.POSITIVE_INFINITY;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      minKeys = Math.min(minKeys, await dst.dbsize());
      await sleep(20);
    }
  })();
  const t0 = performance.now();
  await child.kill9();
  const marker = `m-${Date.now()}`;
  await src.set('bench:after-kill', marker);
  if (beforeStart) await beforeStart();
  const next = await startSyncerChild('resume');
  const tReady = performance.now() - t0;
  const r = await next.start(cfg);
  await until(async () => (await dst.get('bench:after-kill')) === marker, 'the post-kill write', 600_000, 5);
  const ms = performance.now() - t0;

  sampling = false;
  await sampler;
  const rep = r.report.sources[0];
  return {
    next,
    ms,
    syncerMs: r.ms,
    startMs: tReady,
    minKeys,
    mode: rep.resume_mode,
    reason: rep.resume_reason,
    full: rep.full_syncs,
  };
}

async function resumeSection() {
  const src = await startRedisServer(['--repl-backlog-size', '256mb']);
  const dst = await startRedisServer();
  const s = src.client();
  const d = dst.client();
  const cfg = syncerConfig(dst, [`redis://127.0.0.1:${src.port}`]);
  let child;
  const w = { stop: async () => {} };
  try {
    // Without TTLs unless BENCH_TTL=1: a new syncer process resumes exactly only where the
    // destination has no key with a TTL (see the syncer README, "Keys with a TTL").
    await populateMixed(s, KEYS, { ttl: TTL });
    const keys = await s.dbsize();
    console.log(
      `dataset: ${fmt(keys)} keys (bench/dataset.mjs populateMixed, ${TTL ? '1 string in 20 with a TTL' : 'no TTLs'}); load ${load()}`,
    );
    child = await startSyncerChild('first');
    const first = await child.start(cfg);
    console.log(`first full sync: ${secs(first.ms)}`);
    const writer = pacedWriter(s, RATE);
    w.stop = () => writer.stop();
    await until(() => writer.n >= RATE, 'the writer to run a second');
    const exact = await killAndRestart(child, cfg, s, d);
    child = exact.next;
    await sleep(1000);
    const full = await killAndRestart(child, cfg, s, d, async () => {
      // Today's behaviour: no checkpoints, so the restarted syncer flushes and reloads everything.
      await d.select(9);
      await d.del('minirs:replica-of:checkpoints');
      await d.select(0);
    });
    child = full.next;
    await writer.stop();
    // Counters exact: every INCR once, whatever the kills.
    const marker = `end-${Date.now()}`;
    await s.set('bench:end', marker);
    await until(async () => (await d.get('bench:end')) === marker, 'the end marker', 600_000, 5);
    let a = 0;
    let b = 0;
    for (let i = 0; i < 100; i++) {
      a += Number(await s.get(`bench:ctr:${i}`));
      b += Number(await d.get(`bench:ctr:${i}`));
    }
    console.log(
      `\nkill -9 of the syncer -> in sync again (${fmt(keys)} keys, writer at ${RATE} INCR/s), load ${load()}:`,
    );
    for (const [label, r] of [
      ['exact resume from the checkpoints', exact],
      ['full reload (checkpoints deleted: today)', full],
    ])
      console.log(
        `  ${label.padEnd(44)} kill -> in sync ${secs(r.ms).padStart(8)} (process start ${secs(r.startMs)}, syncer start -> in sync ${secs(r.syncerMs)})  destination held >= ${fmt(r.minKeys)} keys meanwhile  (${r.mode}: ${r.reason})`,
      );
    console.log(
      `  ratio full reload / exact resume: kill -> in sync ${(full.ms / exact.ms).toFixed(1)}x, syncer start -> in sync ${(full.syncerMs / exact.syncerMs).toFixed(1)}x`,
    );
    console.log(`  INCR counters: source ${a}, destination ${b} (${a === b ? 'exact' : 'DIFFERENT'})`);
  } finally {
    await w.stop();
    await child?.exit();
    await src.stop();
    await dst.stop();
  }
}

/**
 * One variant's cost, two ways. (a) The live stream: redis-benchmark at full rate on the source
 * while the syncer follows; where the syncer keeps up, its replicated rate is the source's and
 * says nothing about its cost. (b) Saturated: the destination is paused for writes (CLIENT PAUSE
 * WRITE) while the same load runs, so the whole stream waits in the source's backlog; from the
 * unpause until a marker written after the load is on the destination, the syncer and the
 * destination go as fast as they can: that drain rate is the throughput, and the CPU the syncer
 * and the destination's redis-server used meanwhile (from /proc) is the cost per command.
 */
async function streamOnce(label, env) {
  const src = await startRedisServer(['--repl-backlog-size', '256mb']);
  const dst = await startRedisServer();
  const s = src.client();
  const d = dst.client();
  const child = await startSyncerChild(label, env);
  try {
    await child.start(syncerConfig(dst, [`redis://127.0.0.1:${src.port}`]));
    const target = {
      dest: d,
      syncerPid: child.pid,
      reportedLag: async () => {
        const r = (await child.report()).sources[0];
        return r?.status === 'in-sync' ? r.lag : undefined;
      },
      lagSamples: async () => (await child.report()).sources[0]?.lag_samples ?? [],
    };
    const r = await measureStreaming(s, target, redisBenchmarkLoad(src.port, STREAM_N));
    // (b) the saturated drain.
    await d.call('CLIENT', 'PAUSE', '600000', 'WRITE');
    const l = await redisBenchmarkLoad(src.port, STREAM_N).run();
    const marker = `drain-${Date.now()}`;
    await s.set('bench:drain', marker);
    const cpu0 = { syncer: procCpuMs(child.pid), dest: procCpuMs(dst.pid) };
    const t0 = performance.now();
    await d.call('CLIENT', 'UNPAUSE');
    await until(async () => (await d.get('bench:drain')) === marker, 'the drain marker', 600_000, 2);
    const ms = performance.now() - t0;
    const usPerOp = (pid, c0) => ((procCpuMs(pid) - c0) * 1000) / l.ops;
    const drain = {
      rate: l.ops / (ms / 1000),
      syncerUs: usPerOp(child.pid, cpu0.syncer),
      destUs: usPerOp(dst.pid, cpu0.dest),
    };
    const info = parseInfo(await s.info('replication'));
    return { label, ...r, drain, offset: Number(info.master_repl_offset) };
  } finally {
    await child.exit();
    await src.stop();
    await dst.stop();
  }
}

async function costSection() {
  const runs = [
    ['with checkpoints', undefined],
    ['without checkpoints (bench knob)', { MINIRS_BENCH_NO_CHECKPOINTS: '1' }],
  ];
  if (existsSync(BASELINE)) runs.push([`baseline ${BASELINE}`, { BENCH_SYNCER_DIST: BASELINE }]);
  const out = [];
  for (const [label, env] of runs) out.push(await streamOnce(label, env));
  console.log(`\nstreaming at full rate (redis-benchmark, ${fmt(3 * STREAM_N)} requests), load ${load()}:`);
  for (const r of out)
    console.log(
      `  ${r.label.padEnd(60)} source ${fmt(r.sourceRate).padStart(8)} ops/s  replicated ${fmt(r.replicatedRate).padStart(8)} ops/s (${r.ratio.toFixed(2)} of the source's)  catch-up ${secs(r.catchUpMs)}`,
    );
  console.log('saturated (the same load held in the source backlog, then drained at once):');
  for (const r of out)
    console.log(
      `  ${r.label.padEnd(60)} drained ${fmt(r.drain.rate).padStart(8)} ops/s  CPU per command: syncer ${r.drain.syncerUs.toFixed(2)} us, destination redis-server ${r.drain.destUs.toFixed(2)} us`,
    );
  const [withCk, without] = out;
  const pct = (a, b) => `${((1 - a / b) * 100).toFixed(1)}%`;
  console.log(
    `  checkpoint cost: drained ops/s with / without = ${(withCk.drain.rate / without.drain.rate).toFixed(3)} (${pct(withCk.drain.rate, without.drain.rate)} slower); ` +
      `CPU per command with / without: syncer ${(withCk.drain.syncerUs / without.drain.syncerUs).toFixed(2)}, destination ${(withCk.drain.destUs / without.drain.destUs).toFixed(2)}`,
  );
  console.log(
    `  live stream: replicated ops/s with / without = ${(withCk.replicatedRate / without.replicatedRate).toFixed(3)} (bounded by the source's rate where the syncer keeps up)`,
  );
  if (out[2])
    console.log(
      `  with checkpoints / baseline: drained ${(withCk.drain.rate / out[2].drain.rate).toFixed(3)}, live ${(withCk.replicatedRate / out[2].replicatedRate).toFixed(3)}`,
    );
}

console.log(`resume bench: load ${load()}`);
if (PHASES.has('resume')) await resumeSection();
if (PHASES.has('cost')) await costSection();
process.exit(0);
