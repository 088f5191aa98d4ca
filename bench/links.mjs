#!/usr/bin/env node
// Scale (issue 12 item 5): one destination replicating from 32 sources of 2 shards each, so 64
// links in one syncer, each source written at BENCH_RATE writes/s (500) for BENCH_SECONDS (30)
// into a 4-shard destination. Real clusters (MiniCluster): "east" holds the 32 sources, "west"
// the destination, one node each unless BENCH_NODES says otherwise.
//
// Prints: whether the syncer keeps up (every source's last write on the destination, and how
// long after the load ended); end-to-end lag (a SET on a source -> GET at the destination, every
// BENCH_PROBE_MS per source, round robin over the sources); the lag the syncer reports; the
// syncer's RSS (at the start of the load, peak, and per link) and CPU (% of one core, per link,
// per write); the key counts of the sources and the destination, and INCR counters compared.
//
// Run: pnpm build && node bench/links.mjs
// Env: BENCH_SOURCES (32), BENCH_SOURCE_SHARDS (2), BENCH_DEST_SHARDS (4), BENCH_RATE (500 per
// source), BENCH_SECONDS (30), BENCH_PROBE_MS (50), BENCH_NODES (1).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiniCluster } from '@minirs/harness';
import { procCpuMs, procMemory } from '../packages/syncer/bench/proc.mjs';
import { newClient, percentile, sleep, until } from '../packages/syncer/bench/servers.mjs';

const SOURCES = Number(process.env.BENCH_SOURCES ?? 32);
const SOURCE_SHARDS = Number(process.env.BENCH_SOURCE_SHARDS ?? 2);
const DEST_SHARDS = Number(process.env.BENCH_DEST_SHARDS ?? 4);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const PROBE_MS = Number(process.env.BENCH_PROBE_MS ?? 50);
const NODES = Number(process.env.BENCH_NODES ?? 1);
const TICK_MS = 100;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const log = (m) => console.error(`[links ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** Paced writes on one source: every tick a pipeline of SETs (and an INCR, so a double apply shows). */
function writer(client, i, rate, seconds) {
  let n = 0;
  let stop = false;
  const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
  const done = (async () => {
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    for (let tick = 0; !stop && performance.now() < end; tick++) {
      const due = t0 + tick * TICK_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const p = client.pipeline();
      for (let j = 0; j < perTick - 1; j++) p.set(`s${i}:k:${(n + j) % 5000}`, `v${n + j}`);
      p.incr(`s${i}:ctr`);
      await p.exec();
      n += perTick;
    }
  })();
  return {
    get n() {
      return n;
    },
    /** Resolves when the writer has run its `seconds`. */
    done,
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function main() {
  const startLoad = load();
  log(`load ${startLoad}; ${SOURCES} sources x ${SOURCE_SHARDS} shards -> ${DEST_SHARDS} shards`);
  const home = mkdtempSync(join(tmpdir(), 'minirs-links-bench-'));
  const clusters = [];
  const clients = [];
  try {
    const east = await new MiniCluster(`east${process.pid}`).withNodes(NODES).withHome(home).start();
    clusters.push(east);
    const west = await new MiniCluster(`west${process.pid}`).withNodes(NODES).withHome(home).start();
    clusters.push(west);
    const tCreate = performance.now();
    const names = [];
    for (let i = 0; i < SOURCES; i++) {
      names.push(`src${i}`);
      await east.createDb({ name: `src${i}`, shards: SOURCE_SHARDS, memory: '64mb' });
    }
    await west.createDb({ name: 'dest', shards: DEST_SHARDS, memory: '2gb' });
    log(
      `created ${SOURCES} sources and the destination in ${((performance.now() - tCreate) / 1000).toFixed(1)} s`,
    );
    const srcClients = [];
    for (const name of names) {
      const ep = await east.endpoint(name);
      const c = newClient(ep.port, ep.host, ep.password);
      clients.push(c);
      srcClients.push(c);
    }
    const dep = await west.endpoint('dest');
    const d = newClient(dep.port, dep.host, dep.password);
    clients.push(d);
    const urls = [];
    for (const name of names) urls.push(await east.sourceUrl(name));
    const tSync = performance.now();
    await west.replicaOf('dest', urls);
    await until(
      async () => {
        const st = await west.replicaStatus('dest');
        return st.sources?.length === SOURCES && st.sources.every((s) => s.status === 'in-sync');
      },
      `all ${SOURCES} sources in sync`,
      300_000,
      200,
    );
    log(`all ${SOURCES} sources in sync ${((performance.now() - tSync) / 1000).toFixed(1)} s after the PUT`);
    const syncerPid = [...west.processes()].find(([n]) => n.startsWith('syncer'))?.[1];
    if (!syncerPid) throw new Error(`no syncer process among ${[...west.processes().keys()].join(', ')}`);
    await sleep(2000);
    const rss0 = procMemory(syncerPid).rss;

    // The load, the probes and the samplers.
    const cpu0 = procCpuMs(syncerPid);
    const t0 = performance.now();
    const writers = srcClients.map((c, i) => writer(c, i, RATE, SECONDS));
    let stop = false;
    const lags = [];
    const probes = (async () => {
      for (let seq = 0; !stop; seq++) {
        const i = seq % SOURCES;
        const id = `p${seq}`;
        const t = performance.now();
        await srcClients[i].set(`s${i}:probe`, id);
        const tSet = performance.now();
        for (;;) {
          if ((await d.get(`s${i}:probe`)) === id) {
            lags.push(performance.now() - tSet);
            break;
          }
          if (stop || performance.now() - tSet > 60_000) break;
          await sleep(1);
        }
        const wait = PROBE_MS - (performance.now() - t);
        if (wait > 0) await sleep(wait);
      }
    })();
    let peakRss = rss0;
    const reported = [];
    const samplers = (async () => {
      while (!stop) {
        peakRss = Math.max(peakRss, procMemory(syncerPid).rss);
        const st = await west.replicaStatus('dest').catch(() => undefined);
        for (const s of st?.sources ?? []) if (typeof s.lag === 'number') reported.push(s.lag);
        await sleep(500);
      }
    })();
    // The writers stop on their own after SECONDS (stop() would end them at once).
    await Promise.all(writers.map((w) => w.done));
    const tLoadEnd = performance.now();
    const written = writers.reduce((a, w) => a + w.n, 0);
    // Caught up: every source's last write (a marker) is on the destination.
    for (let i = 0; i < SOURCES; i++) await srcClients[i].set(`s${i}:end`, 'end');
    await until(
      async () => {
        for (let i = 0; i < SOURCES; i++) if ((await d.get(`s${i}:end`)) !== 'end') return false;
        return true;
      },
      'every source end marker on the destination',
      300_000,
      5,
    );
    const catchUpMs = performance.now() - tLoadEnd;
    stop = true;
    await Promise.all([probes, samplers]);
    const cpuMs = procCpuMs(syncerPid) - cpu0;
    const wallMs = performance.now() - t0;
    const links = SOURCES * SOURCE_SHARDS;
    let srcKeys = 0;
    let exactCounters = 0;
    for (let i = 0; i < SOURCES; i++) {
      srcKeys += await srcClients[i].dbsize();
      if ((await srcClients[i].get(`s${i}:ctr`)) === (await d.get(`s${i}:ctr`))) exactCounters++;
    }
    const destKeys = await d.dbsize();
    const hwm = procMemory(syncerPid).hwm;
    console.log(`\n64-link scale bench: load at the start ${startLoad}, at the end ${load()}`);
    console.log(
      `  ${SOURCES} sources x ${SOURCE_SHARDS} shards = ${links} links -> ${DEST_SHARDS}-shard destination, ${RATE} writes/s per source for ${SECONDS} s (${NODES} node(s) per cluster)`,
    );
    console.log(
      `  written ${fmt(written)} (${fmt(written / (SECONDS || 1))}/s in all); caught up ${(catchUpMs / 1000).toFixed(2)} s after the load ended`,
    );
    console.log(
      `  end-to-end lag (${fmt(lags.length)} probes): p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms  (goal p99 < 100 ms)`,
    );
    console.log(
      `  reported lag (${fmt(reported.length)} samples): p50 ${percentile(reported, 50)} ms, p99 ${percentile(reported, 99)} ms`,
    );
    console.log(
      `  syncer RSS: ${mb(rss0)} before the load, peak ${mb(peakRss)} (VmHWM ${mb(hwm)}; goal < 300 MB); ${mb(peakRss / links)} per link`,
    );
    console.log(
      `  syncer CPU: ${((cpuMs / wallMs) * 100).toFixed(0)}% of one core (${((cpuMs / wallMs / links) * 100).toFixed(2)}% per link), ${((cpuMs / written) * 1000).toFixed(1)} us per write`,
    );
    console.log(
      `  keys: sources ${fmt(srcKeys)}, destination ${fmt(destKeys)} (${srcKeys === destKeys ? 'equal' : 'DIFFERENT'}); INCR counters equal on ${exactCounters}/${SOURCES} sources`,
    );
  } finally {
    for (const c of clients) c.disconnect();
    for (const c of clusters.reverse()) await c.delete().catch((e) => log(`delete: ${e.message}`));
    rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
