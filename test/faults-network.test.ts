import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { runCli } from '@minirs/cli';
import { type Fault, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * Network faults in the kernel (nftables, and the delaying relay where there is no netem) on the
 * targets of one 2-node cluster, each with its effect measured through a node's endpoint: a
 * latency fault is a lower bound on a PING's round trip, a drop makes a connect hang, a reject
 * refuses it, loss shows as TCP retransmits, bandwidth as a lower bound on a transfer.
 * Needs root and nft; skips with one line otherwise.
 */

const root =
  process.getuid?.() === 0 && spawnSync('nft', ['list', 'tables'], { stdio: 'ignore' }).status === 0;
if (!root) console.log('faults-network: skipped (needs root and nftables; run scripts/setup as root)');

const env: Env = newEnv('fnet');
let c: StartedMiniCluster;
let bdbUid: number;
let port: number;
let addr: [string, string];
let index: number;

beforeAll(async () => {
  if (!root) return;
  [c] = await startClusters(env, ['fnet'], 2);
  const b = await c.createDb({ name: 'db', shards: 2 });
  bdbUid = b.uid;
  port = b.port;
  const nodes = await c.api.listNodes();
  addr = [nodes[0]!.addr, nodes[1]!.addr];
  index = (JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState).cluster.index;
});

// A failed test must not leave its fault on for the next one.
afterEach(async () => {
  if (root && c) await c.faults.healAll();
});

afterAll(async () => {
  if (!root) return;
  await teardown(env);
  // cluster delete leaves no table, namespace or link of the cluster behind.
  expect(spawnSync('nft', ['list', 'table', 'inet', `minirs-${index}`], { stdio: 'ignore' }).status).not.toBe(
    0,
  );
  expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toMatch(
    new RegExp(`minirs-${index}\\b`),
  );
  expect(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout).not.toMatch(
    new RegExp(`minirs-${index}\\b`),
  );
});

function client(host: string, localAddress?: string): Redis {
  return track(
    env,
    new Redis({
      host,
      port,
      localAddress,
      maxRetriesPerRequest: 1,
      connectTimeout: 3000,
      retryStrategy: () => null,
    } as never),
  );
}

/** Round trip of one PING on an open connection, in ms. */
async function pingMs(r: Redis): Promise<number> {
  const t0 = performance.now();
  expect(await r.ping()).toBe('PONG');
  return performance.now() - t0;
}

async function minPing(r: Redis, n = 5): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) best = Math.min(best, await pingMs(r));
  return best;
}

/** How a fresh TCP connect ends within `ms`: connected, refused (or reset), or no answer at all. */
function tryConnect(
  host: string,
  ms = 1500,
  localAddress?: string,
): Promise<'connected' | 'refused' | 'silent'> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host, port, localAddress });
    const t = setTimeout(() => {
      s.destroy();
      resolve('silent');
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve('connected');
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve('refused');
    });
  });
}

const it_ = root ? it : it.skip;

describe('network faults in the kernel', () => {
  it_('latency on node 2: PING through node 2 takes >= 100 ms, through node 1 not', async () => {
    const f = await c.faults.latency('node:2', 100);
    expect(f.record.mechanism).toMatch(/^relay/);
    try {
      const r1 = client(addr[0]);
      const r2 = client(addr[1]);
      const slow = await minPing(r2);
      const fast = await minPing(r1);
      console.log(
        `latency 100 ms on node 2: PING node 2 ${slow.toFixed(1)} ms, node 1 ${fast.toFixed(1)} ms`,
      );
      expect(slow).toBeGreaterThanOrEqual(100);
      expect(fast).toBeLessThan(100);
    } finally {
      await f.heal();
    }
    const r2b = client(addr[1]);
    expect(await minPing(r2b)).toBeLessThan(100);
  });

  it_(
    'partition drop on node 2 is silent, reject refuses; node 1 stays reachable; heal restores',
    async () => {
      const drop = await c.faults.partition('node:2', { mode: 'drop' });
      expect(drop.record.mechanism).toMatch(/nftables \(drop\)/);
      expect(await tryConnect(addr[1])).toBe('silent');
      expect(await tryConnect(addr[0])).toBe('connected');
      await drop.heal();
      expect(await tryConnect(addr[1])).toBe('connected');

      const rej = await c.faults.partition(`endpoint:${bdbUid}@2`, { mode: 'reject' });
      expect(await tryConnect(addr[1])).toBe('refused');
      expect(await tryConnect(addr[0])).toBe('connected');
      await rej.heal();
      expect(await tryConnect(addr[1])).toBe('connected');
    },
  );

  it_('between two nodes, and on one shard: the proxy -> shard path is cut', async () => {
    // Shard slots 0-8191 live on node 1, 8192-16383 on node 2: "b" (slot 3300) and "a" (15495).
    const shards = await c.api.listShards();
    const onNode2 = shards.find((s) => s.bdb_uid === bdbUid && s.node_uid === '2')!;
    expect(onNode2.slot_start).toBe(8192);
    // The previous tests' faults reset connections on node 2's paths (a reject partition, the
    // latency relay going away): a connection made meanwhile may meet such a reset. Start once
    // fresh connections through both nodes serve both shards.
    let r1 = client(addr[0]);
    let r2 = client(addr[1]);
    await waitFor(
      async () => {
        const ok = await r1
          .set('a', '1')
          .then(() => r2.set('b', '2'))
          .catch(() => 'retry');
        if (ok !== 'OK') {
          r1.disconnect();
          r2.disconnect();
          r1 = client(addr[0]);
          r2 = client(addr[1]);
        }
        return ok === 'OK';
      },
      'both nodes to serve both shards',
      15_000,
    );
    const cut = await c.faults.partition('nodes:1-2', { mode: 'drop' });
    try {
      expect(await r1.get('b')).toBe('2'); // node 1's own shard
      expect(await r2.get('a')).toBe('1'); // node 2's own shard
      await expect(r1.get('a')).rejects.toThrow(/did not answer|unavailable|timed out/i);
    } finally {
      await cut.heal();
    }
    await waitFor(
      async () => (await r1.get('a').catch(() => undefined)) === '1',
      'node 1 to reach node 2 again',
      15_000,
    );

    const shardCut = await c.faults.partition(`shard:${onNode2.uid}`, { mode: 'reject' });
    try {
      await waitFor(
        async () => (await r2.get('a').catch((e: Error) => e.message)) !== '1',
        'the shard link to break',
        10_000,
      );
      expect(await r2.get('b')).toBe('2');
    } finally {
      await shardCut.heal();
    }
    await waitFor(async () => (await r2.get('a').catch(() => undefined)) === '1', 'the shard back', 15_000);
  });

  it_('a client-address fault hits that client only', async () => {
    // Two client addresses of this host that reach the nodes: loopback ones on lo, or in netns
    // mode two of the host's addresses on minirs0 (the cluster's API address, the route's source).
    const net = (JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState).cluster.net;
    const [hit, spared] = net === 'netns' ? [`198.19.${index}.254`, '198.19.255.254'] : ['127.0.0.77', '127.0.0.78'];
    const f = await c.faults.partition(`endpoint:${bdbUid}`, { mode: 'reject', client: hit });
    try {
      expect(await tryConnect(addr[0], 1500, hit)).toBe('refused');
      expect(await tryConnect(addr[0], 1500, spared)).toBe('connected');
    } finally {
      await f.heal();
    }
    expect(await tryConnect(addr[0], 1500, hit)).toBe('connected');
  });

  it_('loss shows as TCP retransmits (a PING waits >= 200 ms, the minimum RTO)', async () => {
    const r = client(addr[1]);
    await r.ping();
    const f = await c.faults.loss(`endpoint:${bdbUid}@2`, 50);
    let worst = 0;
    try {
      for (let i = 0; i < 30 && worst < 200; i++) worst = Math.max(worst, await pingMs(r));
    } finally {
      await f.heal();
    }
    console.log(`loss 50%: slowest PING ${worst.toFixed(0)} ms`);
    expect(worst).toBeGreaterThanOrEqual(200);
  });

  it_('bandwidth: 20 KB through an 80 kbit/s path takes >= 1.5 s', async () => {
    const f = await c.faults.bandwidth(`endpoint:${bdbUid}@2`, 80);
    try {
      const r = client(addr[1]);
      await r.ping();
      const t0 = performance.now();
      await r.set('bw', 'x'.repeat(20_000));
      const ms = performance.now() - t0;
      console.log(`bandwidth 80 kbit/s: SET of 20 KB took ${ms.toFixed(0)} ms`);
      expect(ms).toBeGreaterThanOrEqual(1500);
    } finally {
      await f.heal();
    }
  });

  it_('reset closes the open connections of the path', async () => {
    const s = connect({ host: addr[1], port });
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise<string>((resolve) => {
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.once('close', () => resolve('closed'));
    });
    const f = await c.faults.reset(`endpoint:${bdbUid}@2`);
    expect(f.record.active).toBe(false);
    expect(await closed).toMatch(/ECONNABORTED|ECONNRESET|closed/);
  });

  it_('duration_ms heals by itself; fault list shows target, since, until, mechanism', async () => {
    const f = await c.faults.partition('node:2', { mode: 'reject', durationMs: 1500 });
    expect(f.record.until).toBeDefined();
    expect(Date.parse(f.record.until!) - Date.parse(String(f.record.since))).toBe(1500);
    let out = '';
    const io = {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: () => true },
      env: { ...process.env, MINIRS_HOME: env.home },
    };
    expect(await runCli(['fault', 'fnet', 'list'], io)).toBe(0);
    expect(out).toMatch(/TARGET\s+STATE\s+SINCE\s+UNTIL\s+DETAIL\s+MECHANISM/);
    expect(out).toMatch(/partition\s+node:2\s+active/);
    expect(await tryConnect(addr[1])).toBe('refused');
    const healed = await waitFor(
      async () =>
        (await c.faults.list()).find((x) => x.id === f.id && x.active === false) as Fault | undefined,
      'the fault to heal by itself',
      10_000,
    );
    expect(healed.healed_time).toBeDefined();
    expect(await tryConnect(addr[1])).toBe('connected');
  });

  it_('faults are persisted and survive a manager restart', async () => {
    const f = await c.faults.partition('node:2', { mode: 'reject' });
    const pid = c.managerPid()!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => c.managerPid() === undefined, 'the manager to die');
    // The kernel keeps the rules meanwhile; the next manager rebuilds its table from faults.json.
    expect(await tryConnect(addr[1])).toBe('refused');
    await c.restartManager();
    const again = (await c.faults.list()).find((x) => x.id === f.id)!;
    expect(again.active).toBe(true);
    expect(await tryConnect(addr[1])).toBe('refused');
    await f.heal();
    expect(await tryConnect(addr[1])).toBe('connected');
  });
});
