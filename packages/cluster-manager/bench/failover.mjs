#!/usr/bin/env node
// Benchmark: failover time of a replicated database (replication: true, 2 nodes), from the
// kill -9 of the node's process tree holding the master shard (its proxy, shard processes and
// redis-servers, SIGKILLed by this script: the manager learns it on its own) to the first
// successful write through the endpoint of the surviving node. KILLS kills (default 10),
// alternating nodes; after each, the supervisor restarts the killed processes and the old
// master rejoins as an in-sync slave before the next kill. Bounded: a paced writer (one SET at a
// time, 300 ms timeout), at most 60 s per kill. Prints median and max and the load average.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { MiniCluster } = await import(resolve(here, '../../cli/dist/index.js'));
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
const c = await new MiniCluster('fobench').withNodes(2).withHome(home).withStartTimeout(60_000).start();
const times = [];
try {
  const db = await c.api.createBdb({ name: 'ha', replication: true });
  await c.api.waitForBdb(db.uid, (b) => b.status === 'active', 'active');
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
    times.push(ms);
    console.log(`kill ${k + 1}: node ${master.node_uid} (shard ${master.uid}) -> first write after ${ms.toFixed(0)} ms`);
    // The killed processes come back (the supervisor's restart); the old master as a slave.
    await waitFor(async () => {
      const l = await c.api.bdbShards(db.uid);
      const old = l.find((s) => s.uid === master.uid);
      return old.role === 'slave' && old.redis_info?.master_link_status === 'up';
    }, `shard ${master.uid} back as an in-sync slave`);
  }
} finally {
  await c.delete().catch(() => {});
  rmSync(home, { recursive: true, force: true });
}
const sorted = [...times].sort((a, b) => a - b);
console.log(`kills: ${times.length}`);
console.log(`failover (kill -> first successful write): median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms`);
console.log(`load average (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
