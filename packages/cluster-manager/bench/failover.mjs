#!/usr/bin/env node
// Benchmark: failover time of a replicated database (replication: true, 2 nodes), from the
// kill -9 of the node's process tree holding the master shard (its proxy, shard processes and
// redis-servers, SIGKILLed by this script: the manager learns it on its own) to the first
// successful write through the endpoint of the surviving node. KILLS kills (default 10),
// alternating nodes; after each, the supervisor restarts the killed processes and the old
// master rejoins as an in-sync slave before the next kill. With REPLICA_OF=1 (the default) a
// database of a second cluster is a Replica Of of the replicated one, and the full and partial
// resyncs of its link over the same kills are counted (GET /v1/bdbs/{uid}/sync_source_stats). Bounded: a paced writer (one SET at a
// time, 300 ms timeout), at most 60 s per kill. Prints median and max and the load average.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { MiniCluster } = await import(resolve(here, '../../local/dist/index.js'));
const KILLS = Number(process.env.KILLS ?? 10);

/** One SET, +OK within timeoutMs, on a fresh or kept connection; false on anything else. */
class Writer {
  constructor(host, port) {
    this.host = host;
    this.port = port;
    this.sock = undefined;
    this.buf = '';
  }
  set(key, timeoutMs = 300) {
    return new Promise((res) => {
      if (!this.sock) {
        this.buf = '';
        this.sock = connect({ host: this.host, port: this.port });
        this.sock.on('error', () => {});
        this.sock.on('data', (d) => {
          this.buf += d;
        });
      }
      const sock = this.sock;
      const done = (ok) => {
        clearTimeout(t);
        clearInterval(poll);
        if (!ok) {
          sock.destroy();
          this.sock = undefined;
        }
        res(ok);
      };
      const t = setTimeout(() => done(false), timeoutMs);
      const poll = setInterval(() => {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) {
          if (sock.destroyed) done(false);
          return;
        }
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        done(line === '+OK');
      }, 1);
      sock.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$1\r\n1\r\n`);
    });
  }
  close() {
    this.sock?.destroy();
  }
}

const waitFor = async (fn, what, ms = 60_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const home = mkdtempSync('/tmp/mrs-bench-fo-');
const withReplicaOf = (process.env.REPLICA_OF ?? '1') === '1';
const [c, d] = await Promise.all(
  ['fobench', ...(withReplicaOf ? ['fodest'] : [])].map((n) =>
    new MiniCluster(n).withNodes(2).withHome(home).withStartTimeout(60_000).start(),
  ),
);
const times = [];
let syncs;
try {
  const db = await c.api.createBdb({ name: 'ha', replication: true });
  await c.api.waitForBdb(db.uid, (b) => b.status === 'active', 'active');
  let dst;
  const counts = async () => {
    const r = await d.api.syncSourceStats(dst.uid);
    const t = r.sync_source_stats[0].totals;
    return { full: t.full_syncs, partial: t.partial_syncs };
  };
  const inSync = async () => {
    const st = await d.replicaStatus('dst');
    return st.status === 'in-sync' && st.sources.every((x) => x.status === 'in-sync');
  };
  if (d) {
    await d.createDb({ name: 'dst' });
    dst = await d.replicaOf('dst', ['fobench/ha']);
    await waitFor(inSync, 'the Replica Of in sync');
    syncs = { before: await counts() };
  }
  const nodes = await c.api.listNodes();
  const linked = async () => {
    const l = await c.api.bdbShards(db.uid);
    return l.some((s) => s.role === 'slave' && s.redis_info?.master_link_status === 'up') ? l : undefined;
  };
  for (let k = 0; k < KILLS; k++) {
    const shards = await waitFor(linked, 'an in-sync slave');
    const master = shards.find((s) => s.role === 'master');
    const survivor = nodes.find((n) => String(n.uid) !== master.node_uid);
    const w = new Writer(survivor.addr, db.port);
    if (!(await w.set('warm', 2000))) throw new Error('the endpoint does not take writes before the kill');
    const names = [`proxy-${master.node_uid}`];
    for (const s of shards) if (s.node_uid === master.node_uid) names.push(`shard-${s.uid}`, `redis-${s.uid}`);
    const procs = c.processes();
    const pids = names.map((n) => procs.get(n)).filter((p) => p > 0);
    if (pids.length !== names.length) throw new Error(`not every process of node ${master.node_uid} runs: ${names}`);
    const t0 = performance.now();
    for (const p of pids) process.kill(p, 'SIGKILL');
    let ms = -1;
    for (let i = 0; i < 100_000 && performance.now() - t0 < 60_000; i++) {
      if (await w.set(`k${k}:${i}`)) {
        ms = performance.now() - t0;
        break;
      }
    }
    w.close();
    if (ms < 0) throw new Error(`kill ${k + 1}: no successful write within 60 s`);
    // The write must have gone to the promoted slave, not to the killed master restarted empty.
    const fos = (await c.api.getBdb(db.uid)).failovers ?? [];
    if (fos.length !== k + 1 || fos.at(-1).old_master_shard !== Number(master.uid)) {
      throw new Error(`kill ${k + 1}: shard ${master.uid} was not failed over (${JSON.stringify(fos.at(-1))})`);
    }
    times.push(ms);
    console.log(`kill ${k + 1}: node ${master.node_uid} (shard ${master.uid}) -> first write after ${ms.toFixed(0)} ms`);
    // The killed processes come back (the supervisor's restart); the old master as a slave.
    await waitFor(async () => {
      const l = await c.api.bdbShards(db.uid);
      const old = l.find((s) => s.uid === master.uid);
      return old.role === 'slave' && old.redis_info?.master_link_status === 'up';
    }, `shard ${master.uid} back as an in-sync slave`);
    if (d) await waitFor(inSync, 'the Replica Of in sync again');
  }
  if (d) syncs.after = await counts();
} finally {
  // KEEP=1 keeps the clusters' home (logs, state) for a look; the processes stop either way.
  const keep = process.env.KEEP === '1';
  await Promise.all([c, d].filter(Boolean).map((x) => (keep ? x.stop() : x.delete()).catch(() => {})));
  if (keep) console.log(`kept ${home}`);
  else rmSync(home, { recursive: true, force: true });
}
const sorted = [...times].sort((a, b) => a - b);
console.log(`kills: ${times.length}`);
console.log(`failover (kill -> first successful write): median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms`);
if (syncs) {
  console.log(
    `Replica Of over the same ${times.length} source failovers: ${syncs.after.partial - syncs.before.partial} partial resyncs, ${syncs.after.full - syncs.before.full} full resyncs (link totals ${JSON.stringify(syncs.after)})`,
  );
}
console.log(`load average (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
