#!/usr/bin/env node
// `pnpm bench`: every figure of issue 12 in ONE table, each with its baseline measured in the
// same run, and the machine's load average at the start (and before each row: the machine is
// shared, a busy neighbour shows there). Runs each measurement once; never part of the tests.
//
//   node bench/table.mjs [--quick]     (BENCH_QUICK=1 is the same as --quick)
//
// Rows (full / --quick sizes):
//   1. full sync, 200k mixed keys (every type, 1 in 20 with a TTL) + one 100k-element list, an
//      external redis-server -> a minirs 4-shard db, from the REST PUT to in-sync (polled every
//      25 ms), vs native REPLICAOF into a fresh redis-server (until link up and DBSIZE matches).
//      --quick: 50k keys + a 25k-element list.
//   2. full sync, 1M x 100 B strings (DEBUG POPULATE) into 1-shard and 4-shard dbs, vs native.
//      --quick: 200k strings.
//   3. proxy, redis-benchmark -c 50 -P 16 SET and GET over 4 shards vs twemproxy over the same 4
//      redis-servers; -c 50 -P 1 vs one redis-server direct. -n 200000 (--quick: 100000).
//   4. `minirs cluster create` (3 nodes) + `db create --shards 4` until the endpoint answers PING,
//      vs 4 bare redis-servers started in parallel until they answer PING.
//   5. streaming: redis-benchmark at full rate (SET, INCR, LPUSH -P 16 -c 50) on the source of a
//      minirs 1-shard db: replicated ops/s over the source's, end-to-end lag p99 (SET on the
//      source -> GET at the destination every 100 ms). -n 300000 per test (--quick: 100000).
// After the table: the full-sync breakdown (from the syncer's log) and the syncer's peak RSS.
// Env: BENCH_ROWS=1,2,3,4,5 picks rows; BENCH_NODES (3) nodes of the full-sync cluster.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiniCluster } from '@minirs/harness';
import { baseline as bareRedisStart, minirs as minirsCreate } from '../packages/cluster-manager/bench/lib.mjs';
import {
  bench as redisBenchmark,
  cleanup as proxyBenchCleanup,
  cpuSeconds,
  PASS,
  startMinirs as startMinirsProxy,
  startRedis as startProxyShard,
  startTwemproxy,
} from '../packages/proxy/bench/lib.mjs';
import { populateBigList, populateMixed } from '../packages/syncer/bench/dataset.mjs';
import { minirsReplicaOf, nativeReplicaOf } from '../packages/syncer/bench/full-sync.mjs';
import { mb, newClient, startRedisServer, until } from '../packages/syncer/bench/servers.mjs';
import { measureStreaming, redisBenchmarkLoad } from '../packages/syncer/bench/streaming.mjs';

const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const ROWS = new Set((process.env.BENCH_ROWS ?? '1,2,3,4,5').split(',').map(Number));
const NODES = Number(process.env.BENCH_NODES ?? 3);
const MIXED_KEYS = QUICK ? 50_000 : 200_000;
const MIXED_LIST = QUICK ? 25_000 : 100_000;
const STRINGS = QUICK ? 200_000 : 1_000_000;
const PROXY_N = QUICK ? 100_000 : 200_000;
const STREAM_N = QUICK ? 100_000 : 300_000;

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const k = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rps = (x) => `${Math.round(x / 1000)}k/s`;
const x2 = (r) => `${r.toFixed(2)}x`;

/** Rows of the table: figure, minirs, baseline, ratio, goal, met. */
const rows = [];
const notes = [];
function add(figure, minirs, base, ratio, goal, met) {
  rows.push({ figure, minirs, base, ratio, goal, met: met === undefined ? '-' : met ? 'yes' : 'NO' });
}
const note = (line) => {
  notes.push(line);
  console.error(`  ${line}`);
};
const progress = (what) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${what} (load ${load()})`);

/**
 * The syncer's own timeline of its last full sync, from its pino log: process ready, full sync
 * requested (flush + links), RDB stream started (flush done), RDB loaded (transfer, parse and
 * writes overlap: they stream), relative to the REST PUT at `t0` (Date.now()).
 */
function syncBreakdown(cluster, uid, t0, inSyncMs) {
  let text;
  try {
    text = readFileSync(cluster.paths.log(`syncer-${uid}`), 'utf8');
  } catch {
    return 'no syncer log';
  }
  const at = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    const key = { 'syncer ready': 'ready', 'starting full sync': 'start', 'full sync started': 'rdb' }[e.msg];
    const t = (typeof e.time === 'number' ? e.time : Date.parse(e.time)) - t0;
    if (key && at[key] === undefined) at[key] = t;
    if (e.msg === 'full sync loaded') at.loaded = Math.max(at.loaded ?? 0, t);
  }
  const span = (a, b) => (at[a] !== undefined && at[b] !== undefined ? s(at[b] - at[a]) : '?');
  return (
    `syncer process up ${at.ready === undefined ? '?' : s(at.ready)}, ` +
    `sync requested -> ${span('ready', 'start')}, flush + connect + source fork ${span('start', 'rdb')}, ` +
    `RDB transfer+parse+writes ${span('rdb', 'loaded')}, loaded -> in-sync seen by REST ${
      at.loaded === undefined ? '?' : s(inSyncMs - at.loaded)
    }`
  );
}

async function fullSync(cluster, src, keys, shards) {
  // The breakdown counts from the REST PUT of the replica sources, as the row's time does.
  let tPut = 0;
  const c = Object.create(cluster);
  c.replicaOf = (...args) => {
    tPut = Date.now();
    return cluster.replicaOf(...args);
  };
  const r = await minirsReplicaOf(c, src, keys, shards, '2gb');
  r.breakdown = syncBreakdown(cluster, r.uid, tPut, r.ms);
  return r;
}

async function rowMixed(cluster) {
  progress(`row 1: filling ${k(MIXED_KEYS)} mixed keys + one ${k(MIXED_LIST)}-element list`);
  const src = await startRedisServer();
  try {
    const c = src.client();
    await populateMixed(c, MIXED_KEYS);
    await populateBigList(c, 'big:list', MIXED_LIST);
    const keys = MIXED_KEYS + 1;
    progress('row 1: native REPLICAOF');
    const nat = await nativeReplicaOf(src, keys);
    progress('row 1: minirs 4-shard db');
    const m = await fullSync(cluster, src, keys, 4);
    const ratio = m.ms / nat.ms;
    add(
      `full sync ${k(MIXED_KEYS)} mixed keys + ${k(MIXED_LIST)}-elem list -> 4 shards, PUT to in-sync`,
      s(m.ms),
      `native REPLICAOF ${s(nat.ms)}`,
      x2(ratio),
      '<= 1.5x',
      ratio <= 1.5,
    );
    note(`row 1 breakdown: ${m.breakdown}; data complete (DBSIZE) at ${s(m.dataMs)}`);
    note(
      `row 1 CPU: syncer ${s(m.syncerCpuMs)}, destination proxies+shards ${s(m.destCpuMs)}, native replica ${s(nat.destCpuMs)}; syncer peak RSS ${mb(m.hwm)}`,
    );
  } finally {
    await src.stop();
  }
}

async function rowStrings(cluster) {
  progress(`row 2: DEBUG POPULATE ${k(STRINGS)} x 100 B`);
  const src = await startRedisServer(['--enable-debug-command', 'local']);
  try {
    const c = src.client();
    await c.call('DEBUG', 'POPULATE', String(STRINGS), 'key', '100');
    progress('row 2: native REPLICAOF');
    const nat = await nativeReplicaOf(src, STRINGS);
    const out = [];
    for (const shards of [1, 4]) {
      progress(`row 2: minirs ${shards}-shard db`);
      const m = await fullSync(cluster, src, STRINGS, shards);
      out.push([shards, m]);
      note(`row 2 (${shards} shard${shards > 1 ? 's' : ''}) breakdown: ${m.breakdown}`);
      note(
        `row 2 (${shards} shard${shards > 1 ? 's' : ''}) CPU: syncer ${s(m.syncerCpuMs)}, destination ${s(m.destCpuMs)} (native replica ${s(nat.destCpuMs)}); syncer peak RSS ${mb(m.hwm)}`,
      );
    }
    for (const [shards, m] of out) {
      const ratio = m.ms / nat.ms;
      add(
        `full sync ${k(STRINGS)} x 100 B strings -> ${shards} shard${shards > 1 ? 's' : ''}`,
        s(m.ms),
        `native REPLICAOF ${s(nat.ms)}`,
        x2(ratio),
        '<= 1.2x',
        ratio <= 1.2,
      );
    }
  } finally {
    await src.stop();
  }
}

async function rowProxy() {
  progress('row 3: 4 redis-servers, twemproxy, minirs proxy');
  const shards = await Promise.all([0, 1, 2, 3].map(startProxyShard));
  const twem = await startTwemproxy(shards);
  const minirs = await startMinirsProxy(shards);
  try {
    // Warm-up (JIT, connections, key space), then one run each.
    for (const [port, pass] of [
      [twem.port, PASS],
      [minirs.port, ''],
    ])
      await redisBenchmark(port, pass, 16, ['-t', 'set,get'], PROXY_N / 2);
    const one = async (port, pass, P, test, pid) => {
      const cpu0 = pid ? cpuSeconds(pid) : 0;
      const r = Object.values(await redisBenchmark(port, pass, P, ['-t', test], PROXY_N))[0];
      return { rps: r, cpuUs: pid ? ((cpuSeconds(pid) - cpu0) * 1e6) / PROXY_N : undefined };
    };
    for (const [P, label, basePort, basePass, baseName, goal] of [
      [16, '-P 16', twem.port, PASS, 'twemproxy', 1.5],
      [1, '-P 1', shards[0], PASS, 'redis-server direct', 1.0],
    ]) {
      for (const test of ['set', 'get']) {
        progress(`row 3: ${test.toUpperCase()} ${label}`);
        const base = await one(basePort, basePass, P, test, baseName === 'twemproxy' ? twem.pid : undefined);
        const m = await one(minirs.port, '', P, test, minirs.proc.pid);
        const ratio = m.rps / base.rps;
        add(
          `proxy ${test.toUpperCase()} -c 50 ${label} -n ${k(PROXY_N)}, 4 shards`,
          rps(m.rps),
          `${baseName} ${rps(base.rps)}`,
          x2(ratio),
          `>= ${goal.toFixed(1)}x`,
          ratio >= goal,
        );
        note(
          `row 3 ${test.toUpperCase()} ${label}: minirs proxy CPU ${m.cpuUs.toFixed(2)} us/request${
            base.cpuUs !== undefined ? `, twemproxy ${base.cpuUs.toFixed(2)} us/request` : ''
          }`,
        );
      }
    }
  } finally {
    const exited = new Promise((r) => minirs.proc.once('exit', r));
    minirs.proc.kill('SIGTERM');
    await exited;
    minirs.control.close();
    proxyBenchCleanup();
  }
}

async function rowCreate() {
  progress('row 4: 4 bare redis-servers');
  const base = await bareRedisStart();
  progress('row 4: minirs cluster create + db create');
  const m = await minirsCreate(0);
  add(
    'cluster create (3 nodes) + 4-shard db, until the endpoint answers',
    s(m.total),
    `4 bare redis-servers ${s(base)}`,
    x2(m.total / base),
    '< 1.5 s',
    m.total < 1500,
  );
  note(
    `row 4 breakdown: cluster create ${s(m.create)}, db create ${s(m.db)}, shards + endpoint answer ${s(
      m.total - m.create - m.db,
    )}`,
  );
}

async function rowStreaming(cluster) {
  progress('row 5: streaming source and 1-shard db');
  const src = await startRedisServer([
    '--repl-backlog-size',
    '64mb',
    '--client-output-buffer-limit',
    'replica 512mb 512mb 0',
  ]);
  const name = `stream${Date.now() % 100000}`;
  let db;
  let dest;
  try {
    const c = src.client();
    await c.set('seed', '1');
    db = await cluster.createDb({ name, shards: 1, memory: '2gb' });
    const ep = await cluster.endpoint(name);
    dest = newClient(ep.port, ep.host, ep.password);
    await cluster.replicaOf(name, [`redis://127.0.0.1:${src.port}`]);
    await until(
      async () => (await cluster.api.getBdb(db.uid)).replica_sources?.[0]?.status === 'in-sync',
      'the streaming db to be in-sync',
      120_000,
      20,
    );
    const syncerPid = cluster.processes().get(`syncer-${db.uid}`);
    progress('row 5: redis-benchmark at full rate on the source');
    const r = await measureStreaming(
      c,
      {
        dest,
        syncerPid,
        reportedLag: async () => {
          const s0 = (await cluster.api.getBdb(db.uid)).replica_sources?.[0];
          return s0?.status === 'in-sync' ? s0.lag : undefined;
        },
        lagSamples: async () =>
          (await cluster.api.syncSourceStats(db.uid)).sync_source_stats?.[0]?.intervals?.[0]?.lag_samples ?? [],
      },
      redisBenchmarkLoad(src.port, STREAM_N),
    );
    const ok = r.ratio >= 0.98 && r.probe.p99 < 100;
    add(
      `streaming, redis-benchmark full rate -> 1-shard db: replicated/source rate, lag p99`,
      `${r.ratio.toFixed(3)}, p99 ${Math.round(r.probe.p99)} ms`,
      `source ${rps(r.sourceRate)}`,
      r.ratio.toFixed(3),
      '>= 0.98, p99 < 100 ms',
      ok,
    );
    note(
      `row 5: ${r.command}: ${r.detail}; catch-up ${s(r.catchUpMs)} after the load; lag p50 ${r.probe.p50.toFixed(
        1,
      )} ms, max ${r.probe.max.toFixed(0)} ms (${r.probe.n} probes); after the first 2 s p99 ${r.steady.p99.toFixed(
        0,
      )} ms; syncer RSS max ${mb(r.maxRss)}`,
    );
  } finally {
    dest?.disconnect();
    if (db) {
      await cluster.api.deleteBdb(db.uid).catch(() => {});
      await cluster.api.waitForBdbGone(db.uid, 60_000).catch(() => {});
    }
    await src.stop();
  }
}

function printTable(startLoad) {
  const head = ['figure', 'minirs', 'baseline (same run)', 'ratio', 'goal', 'met'];
  const body = rows.map((r) => [r.figure, r.minirs, r.base, r.ratio, r.goal, r.met]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  console.log(
    `\nminirs bench (${QUICK ? 'quick' : 'full'}): ${cpus().length} CPUs, load average ${startLoad} at the start, ${load()} at the end`,
  );
  console.log(line(head));
  console.log(`| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`);
  for (const b of body) console.log(line(b));
  if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join('\n')}`);
}

async function main() {
  const startLoad = load();
  console.error(`minirs bench${QUICK ? ' --quick' : ''}: load average ${startLoad} at the start`);
  const home = mkdtempSync(join(tmpdir(), 'minirs-bench-home-'));
  let cluster;
  const cleanup = async () => {
    if (cluster) await cluster.delete().catch((e) => console.error(`cluster delete: ${e.message}`));
    cluster = undefined;
    rmSync(home, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  let failed;
  try {
    // The cluster-create row first: it starts and deletes its own cluster, nothing else runs.
    if (ROWS.has(4)) await rowCreate();
    if (ROWS.has(3)) await rowProxy();
    if ([1, 2, 5].some((r) => ROWS.has(r))) {
      progress(`starting a ${NODES}-node cluster for the Replica Of rows`);
      cluster = await new MiniCluster(`bench${process.pid}`).withNodes(NODES).withHome(home).start();
      if (ROWS.has(1)) await rowMixed(cluster);
      if (ROWS.has(2)) await rowStrings(cluster);
      if (ROWS.has(5)) await rowStreaming(cluster);
    }
  } catch (e) {
    failed = e;
  } finally {
    await cleanup();
  }
  printTable(startLoad);
  if (failed) {
    console.error(failed);
    process.exit(1);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
