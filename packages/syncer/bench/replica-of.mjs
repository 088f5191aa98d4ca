#!/usr/bin/env node
// Replica Of benchmark, one run on loopback (issues 4 and 5):
//  1. Full sync of an external redis-server with BENCH_KEYS mixed keys into (a) a native replica
//     (REPLICAOF, the baseline), (b) the syncer alone into one redis-server, (c) a minirs 1-shard
//     db, (d) a minirs 4-shard db; times, ratios vs native, keys/s, syncer peak RSS; and the
//     syncer's peak RSS restoring one list of BENCH_LIST elements.
//  2. Streaming from a redis-server into a minirs 1-shard db and into the syncer alone: the
//     paced writer at BENCH_RATE ops/s, then redis-benchmark at full rate; replicated ops/s vs the
//     source's, lag p50/p99, syncer RSS.
// Run: pnpm build && pnpm --filter @minirs/syncer bench
// Env: BENCH_KEYS (1000000), BENCH_LIST (10000000), BENCH_RATE (20000), BENCH_PACED_SECONDS (15),
//      BENCH_STREAM_N (300000 per redis-benchmark test), BENCH_NODES (3), BENCH_RUNS (1),
//      BENCH_PHASES (native,syncer,list,minirs1,minirs4,stream-minirs,stream-syncer),
//      BENCH_CPU_PROF=<dir> (the syncer-alone runs write .cpuprofile files there; summarise one
//      with `node bench/profile-top.mjs <file>`), BENCH_MEMORY_TRACE=<ms> (the syncer-alone child
//      prints its RSS / heap / Buffers that often), BENCH_DEST_MEMORY (2gb, minirs dbs), BENCH_TTL=0 (no TTLs in the dataset).
// Wall times depend on what else the machine runs (its load average is printed); the CPU
// seconds of the syncer and of the destination compare variants more steadily.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiniCluster } from '@minirs/harness';
import { minirsReplicaOf, nativeReplicaOf, syncerAlone } from './full-sync.mjs';
import { populateBigList, populateMixed } from './dataset.mjs';
import { mb, newClient, parseInfo, secs, startRedisServer, until } from './servers.mjs';
import { measureStreaming, pacedLoad, redisBenchmarkLoad } from './streaming.mjs';
import { startSyncerChild, syncerConfig } from './syncer-child.mjs';

const KEYS = Number(process.env.BENCH_KEYS ?? 1_000_000);
const LIST = Number(process.env.BENCH_LIST ?? 10_000_000);
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 15);
const STREAM_N = Number(process.env.BENCH_STREAM_N ?? 300_000);
const NODES = Number(process.env.BENCH_NODES ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const PHASES = new Set(
  (process.env.BENCH_PHASES ?? 'native,syncer,list,minirs1,minirs4,stream-minirs,stream-syncer').split(','),
);
const DEST_MEMORY = process.env.BENCH_DEST_MEMORY ?? '2gb';
/** BENCH_TTL=0: no key gets a TTL (the syncer's expiry guard then holds no entry). */
const TTL = process.env.BENCH_TTL !== '0';

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const col = (s, w) => String(s).padStart(w);

function row(label, r, nativeMs) {
  const ratio = nativeMs ? `${(r.ms / nativeMs).toFixed(2)}x` : '-';
  const rss = r.hwm ? mb(r.hwm) : '-';
  const cpu = (ms) => (ms === undefined ? '-' : secs(ms));
  const runs =
    r.runs && r.runs.length > 1
      ? `  runs (wall/syncer CPU/dest CPU): ${r.runs.map((x) => `${secs(x.ms)}/${cpu(x.syncerCpuMs)}/${cpu(x.destCpuMs)}`).join(' ')}`
      : '';
  console.log(
    `${label.padEnd(46)} ${col(secs(r.ms), 9)} ${col(fmt(r.keys / (r.ms / 1000)), 10)} ${col(ratio, 9)} ${col(
      rss,
      9,
    )} ${col(cpu(r.syncerCpuMs), 10)} ${col(cpu(r.destCpuMs), 10)}${runs}`,
  );
}

async function fullSyncSection(cluster) {
  const src = await startRedisServer();
  const s = src.client();
  try {
    const t0 = performance.now();
    const counts = await populateMixed(s, KEYS, { ttl: TTL });
    const info = parseInfo(await s.info('memory'));
    console.log(
      `dataset: ${fmt(KEYS)} keys (${Object.entries(counts)
        .map(([k, v]) => `${fmt(v)} ${k}`)
        .join(', ')}), strings of 100 random bytes, ${TTL ? '1 in 20 with a TTL' : 'no TTLs'}; source used_memory ${mb(
        Number(info.used_memory),
      )}; filled in ${secs(performance.now() - t0)}`,
    );
    console.log(
      `${'full sync (goal: <= 1.5x native)'.padEnd(46)} ${col('wall time', 9)} ${col('keys/s', 10)} ${col(
        'vs native',
        9,
      )} ${col('syncer RSS', 9)} ${col('syncer CPU', 10)} ${col('dest CPU', 10)}`,
    );
    console.log(
      '  (syncer RSS = its peak, VmHWM; CPU = user+sys seconds during the sync, of the syncer and of the destination: the redis-server, or the minirs proxies + shards)',
    );
    // Runs interleave (a, b, c, d, a, b, ...) so a burst of load from elsewhere on the machine
    // hits every variant alike; each figure is the median of BENCH_RUNS.
    const variants = [
      ['native', '(a) native REPLICAOF into redis-server', () => nativeReplicaOf(src, KEYS)],
      ['syncer', '(b) syncer alone into one redis-server', (i) => syncerAlone([src], KEYS, `full-sync-${i}`)],
      ...[1, 4].map((shards) => [
        `minirs${shards}`,
        `(${shards === 1 ? 'c' : 'd'}) minirs ${shards}-shard db, until in-sync`,
        () => minirsReplicaOf(cluster, src, KEYS, shards, DEST_MEMORY),
      ]),
    ].filter(([phase]) => PHASES.has(phase) && (cluster || !phase.startsWith('minirs')));
    const results = new Map(variants.map(([phase]) => [phase, []]));
    for (let i = 0; i < RUNS; i++) for (const [phase, , fn] of variants) results.get(phase).push(await fn(i));
    const pick = (phase) => {
      const rs = results.get(phase);
      const m = median(rs.map((r) => r.ms));
      return { ...rs.find((r) => r.ms === m), runs: rs };
    };
    const nativeMs = results.has('native') ? pick('native').ms : undefined;
    for (const [phase, label] of variants) {
      const r = pick(phase);
      row(label, r, nativeMs);
      if (phase === 'syncer') console.log(`    (the syncer child's RSS before the sync: ${mb(r.baseHwm)})`);
      if (phase.startsWith('minirs')) {
        const data = median(results.get(phase).map((x) => x.dataMs));
        row('    same, until DBSIZE matches (data complete)', { ...r, ms: data, runs: undefined }, nativeMs);
      }
    }
  } finally {
    s.disconnect();
    await src.stop();
  }
}

async function bigListSection() {
  const src = await startRedisServer();
  const s = src.client();
  try {
    const t0 = performance.now();
    await populateBigList(s, 'big:list', LIST);
    const used = Number(parseInfo(await s.info('memory')).used_memory);
    console.log(
      `\nbig list: 1 list of ${fmt(LIST)} elements (source used_memory ${mb(used)}, filled in ${secs(performance.now() - t0)})`,
    );
    const r = await syncerAlone([src], 1, 'big-list', async (d) => {
      const n = await d.llen('big:list');
      if (n !== LIST) throw new Error(`destination list has ${n} elements, want ${LIST}`);
    });
    console.log(
      `syncer alone into one redis-server: ${secs(r.ms)}, ${fmt(LIST / (r.ms / 1000))} elements/s, peak RSS ${mb(
        r.hwm,
      )} (goal < 150 MB; ${mb(r.baseHwm)} before the sync)`,
    );
    console.log(`    ${usage(r.peakUsage)}`);
  } finally {
    s.disconnect();
    await src.stop();
  }
}

/** The child's largest process.memoryUsage() figures: JS heap vs Buffers. */
function usage(u) {
  if (!u) return '';
  return `largest seen: heap used ${mb(u.heapUsed)} of ${mb(u.heapTotal)}, Buffers ${mb(u.arrayBuffers)}`;
}

function printStreaming(label, r, goal) {
  console.log(`  ${label}: ${r.command}`);
  console.log(
    `    source ${fmt(r.sourceRate)} ops/s (${fmt(r.ops)} ops in ${secs(r.loadMs)}; ${r.detail}); replicated ${fmt(
      r.replicatedRate,
    )} ops/s; ratio ${r.ratio.toFixed(3)}; ${fmt(r.behindBytes)} bytes behind at the load's end, caught up ${secs(
      r.catchUpMs,
    )} later`,
  );
  console.log(
    `    lag end to end (SET on source -> GET at destination, every 100 ms): p50 ${r.probe.p50.toFixed(
      1,
    )} ms, p99 ${r.probe.p99.toFixed(1)} ms, max ${r.probe.max.toFixed(1)} ms (${r.probe.n} probes); after the first 2 s: p50 ${r.steady.p50.toFixed(
      1,
    )} ms, p99 ${r.steady.p99.toFixed(1)} ms, max ${r.steady.max.toFixed(1)} ms (${r.steady.n})`,
  );
  console.log(
    `    a GET at the destination meanwhile took p50 ${r.destGet.p50.toFixed(2)} ms, p99 ${r.destGet.p99.toFixed(
      1,
    )} ms, max ${r.destGet.max.toFixed(1)} ms (${r.destGet.n} GETs; a stall here is the destination's or the machine's, not the syncer's)`,
  );
  console.log(
    `    lag as the syncer reports it: sampled every 100 ms p50 ${r.reported.p50} ms, p99 ${r.reported.p99} ms (${r.reported.n} samples); its last lag_samples p50 ${r.syncerSamples.p50} ms, p99 ${r.syncerSamples.p99} ms (${r.syncerSamples.n})`,
  );
  console.log(
    `    syncer RSS: max sampled ${mb(r.maxRss)}, peak (VmHWM) so far ${mb(r.hwm)} (goal < 200 MB)`,
  );
  if (goal) {
    const keeps = r.ratio >= 0.95;
    const verdict = (p99) => (keeps && p99 < 50 ? 'met' : 'MISSED');
    console.log(
      `    goal (keeps up, lag p99 < 50 ms): ${verdict(r.probe.p99)} over the whole run, ${verdict(r.steady.p99)} after the first 2 s`,
    );
  }
}

async function streamingSection(cluster) {
  const src = await startRedisServer([
    '--repl-backlog-size',
    '64mb',
    // A lagging syncer must not be cut off by the default 64 MB / 60 s replica buffer limit.
    '--client-output-buffer-limit',
    'replica 512mb 512mb 0',
  ]);
  const s = src.client();
  const loads = () => [
    ['paced', pacedLoad(src.port, RATE, PACED_SECONDS), true],
    ['full rate', redisBenchmarkLoad(src.port, STREAM_N), false],
  ];
  try {
    await s.set('seed', '1');
    if (PHASES.has('stream-minirs') && cluster) {
      const name = `stream${Date.now() % 100000}`;
      const db = await cluster.createDb({ name, shards: 1, memory: DEST_MEMORY });
      const ep = await cluster.endpoint(name);
      const dest = newClient(ep.port, ep.host, ep.password);
      try {
        await cluster.replicaOf(name, [`redis://127.0.0.1:${src.port}`]);
        await until(
          async () => (await cluster.api.getBdb(db.uid)).replica_sources?.[0]?.status === 'in-sync',
          'the streaming db to be in-sync',
          120_000,
          50,
        );
        const syncerPid = cluster.processes().get(`syncer-${db.uid}`);
        console.log(`\nstreaming into a minirs 1-shard db (syncer pid ${syncerPid}):`);
        const target = {
          dest,
          syncerPid,
          reportedLag: async () => {
            const src0 = (await cluster.api.getBdb(db.uid)).replica_sources?.[0];
            return src0?.status === 'in-sync' ? src0.lag : undefined;
          },
          lagSamples: async () =>
            (await cluster.api.syncSourceStats(db.uid)).sync_source_stats?.[0]?.intervals?.[0]?.lag_samples ??
            [],
        };
        for (const [label, load, goal] of loads())
          printStreaming(label, await measureStreaming(s, target, load), goal);
      } finally {
        dest.disconnect();
        await cluster.api.deleteBdb(db.uid).catch(() => {});
        await cluster.api.waitForBdbGone(db.uid, 60_000).catch(() => {});
      }
    }
    if (PHASES.has('stream-syncer')) {
      const dst = await startRedisServer();
      const child = await startSyncerChild('streaming');
      try {
        await child.start(syncerConfig(dst, [`redis://127.0.0.1:${src.port}`]));
        console.log(`\nstreaming into the syncer alone -> one redis-server (syncer pid ${child.pid}):`);
        const target = {
          dest: dst.client(),
          syncerPid: child.pid,
          reportedLag: async () => {
            const r = (await child.report()).sources[0];
            return r?.status === 'in-sync' ? r.lag : undefined;
          },
          lagSamples: async () => (await child.report()).sources[0]?.lag_samples ?? [],
          peakUsage: () => child.peakUsage(),
        };
        for (const [label, load, goal] of loads())
          printStreaming(label, await measureStreaming(s, target, load), goal);
      } finally {
        await child.exit();
        await dst.stop();
      }
    }
  } finally {
    s.disconnect();
    await src.stop();
  }
}

async function main() {
  console.log(
    `Replica Of bench: BENCH_KEYS=${KEYS} BENCH_LIST=${LIST} BENCH_RATE=${RATE} BENCH_PACED_SECONDS=${PACED_SECONDS} BENCH_STREAM_N=${STREAM_N} BENCH_NODES=${NODES} BENCH_RUNS=${RUNS} BENCH_TTL=${TTL ? 1 : 0}`,
  );
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(' ');
  // The figures are only as good as the machine is quiet: say how busy it was.
  console.log(`${cpus().length} CPUs, load average ${load()} at the start`);
  const needCluster = [...PHASES].some((p) => p.startsWith('minirs') || p === 'stream-minirs');
  const home = mkdtempSync(join(tmpdir(), 'minirs-syncer-bench-home-'));
  let cluster;
  const cleanup = async () => {
    if (cluster) await cluster.delete().catch((e) => console.error(`cluster delete: ${e.message}`));
    cluster = undefined;
    rmSync(home, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    if (needCluster) {
      const t0 = performance.now();
      cluster = await new MiniCluster(`bench${process.pid}`).withNodes(NODES).withHome(home).start();
      console.log(`cluster of ${NODES} nodes up in ${secs(performance.now() - t0)} (MINIRS_HOME ${home})\n`);
    }
    if (['native', 'syncer', 'minirs1', 'minirs4'].some((p) => PHASES.has(p))) await fullSyncSection(cluster);
    if (PHASES.has('list')) await bigListSection();
    if ([...PHASES].some((p) => p.startsWith('stream'))) await streamingSection(cluster);
  } finally {
    await cleanup();
    console.log(`\nload average ${load()} at the end`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
