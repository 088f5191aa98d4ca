import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { runCli } from '@minirs/cli';
import { MiniCluster, RedisServer, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { dbClient, type Env, newEnv, teardown, track, waitInSync } from '@minirs/harness/vitest';
import { type ClusterState, nodeMac } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Nodes as hosts (issue 17 item 1): where the OS allows it, node N of cluster C is the network
 * namespace minirs-C-N with 198.18.C.N, and every process of the node runs inside it. Checked
 * here: which namespace each process is in, that a syncer whose source the namespaces cannot
 * reach runs on the host, that a manager killed with -9 is followed by one that adopts the
 * processes (and remakes a namespace removed meanwhile), that `cluster delete` leaves no
 * namespace, link, address or nftables table behind (after a clean run and after a manager
 * crash), and that `--net loopback` keeps 127.0.C.N. Needs root, ip and nft; skips otherwise.
 */

const can =
  process.getuid?.() === 0 &&
  spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('nft', ['list', 'tables'], { stdio: 'ignore' }).status === 0;
if (!can) console.log('netns: skipped (needs root, iproute2 and nftables; run scripts/setup as root)');
const it_ = can ? it : it.skip;

const env: Env = newEnv('nns');

function stateOf(c: StartedMiniCluster): ClusterState {
  return JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
}

/** The network namespace inode a process is in. */
function nsOfPid(pid: number): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

/** The inode of a named namespace (its bind mount in /run/netns is the nsfs file). */
function nsOfName(name: string): string {
  return `net:[${statSync(`/run/netns/${name}`).ino}]`;
}

function sh(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
}

/** What of cluster `index` is left in the kernel: namespaces, switch ports, host addresses, the table. */
function leftovers(index: number): string[] {
  const left: string[] = [];
  for (const n of sh('ip', ['netns', 'list']).split('\n')) {
    if (new RegExp(`^minirs-${index}-\\d+\\b`).test(n)) left.push(`netns ${n.split(' ')[0]}`);
  }
  for (const l of sh('ip', ['-n', 'minirs-sw', '-o', 'link']).split('\n')) {
    const m = new RegExp(`^\\d+: (c${index}-n\\d+)[@:]`).exec(l);
    if (m) left.push(`link ${m[1]}`);
  }
  for (const a of sh('ip', ['-o', '-4', 'addr']).matchAll(
    new RegExp(`inet (198\\.19\\.${index}\\.\\d+)/`, 'g'),
  )) {
    left.push(`address ${a[1]}`);
  }
  if (spawnSync('nft', ['list', 'table', 'inet', `minirs-${index}`], { stdio: 'ignore' }).status === 0) {
    left.push(`nft table minirs-${index}`);
  }
  return left;
}

/** With no netns cluster left on the machine, the shared switch and the host link go too. */
function switchLeftovers(): string[] {
  const names = sh('ip', ['netns', 'list']);
  if (/^minirs-\d+-\d+\b/m.test(names)) return []; // another netns cluster (another test file) uses it
  const left: string[] = [];
  if (/^minirs-sw\b/m.test(names)) left.push('netns minirs-sw');
  if (/\bminirs0[@:]/.test(sh('ip', ['-o', 'link']))) left.push('link minirs0');
  return left;
}

let a: StartedMiniCluster;
let b: StartedMiniCluster;
let ia: number;

beforeAll(async () => {
  if (!can) return;
  [a, b] = await Promise.all(
    ['nsa', 'nsb'].map((n) =>
      new MiniCluster(n).withNodes(2).withHome(env.home).withNet('netns').withStartTimeout(60_000).start(),
    ),
  );
  env.clusters.push(a!, b!);
  ia = stateOf(a!).cluster.index;
  await Promise.all([a!.createDb({ name: 'src', shards: 2 }), b!.createDb({ name: 'dst', shards: 2 })]);
}, 180_000);

afterAll(async () => {
  if (can) await teardown(env);
});

describe('nodes as network namespaces', () => {
  it_('each node is a namespace with its own address; every process of the node runs in it', async () => {
    const s = stateOf(a);
    expect(s.cluster.net).toBe('netns');
    expect(s.cluster.nodes.map((n) => n.addr)).toEqual([`198.18.${ia}.1`, `198.18.${ia}.2`]);
    const cluster = (await a.api.getCluster()) as unknown as { api_url: string; network: { mode: string } };
    expect(cluster.network.mode).toBe('netns');
    expect(cluster.api_url).toBe(`https://198.19.${ia}.254:${s.cluster.api_port}`);

    const procs = a.processes();
    const host = nsOfPid(process.pid);
    expect(nsOfPid(procs.get('manager')!)).toBe(host);
    for (const uid of [1, 2])
      expect(nsOfPid(procs.get(`proxy-${uid}`)!)).toBe(nsOfName(`minirs-${ia}-${uid}`));
    for (const shard of s.shards) {
      const want = nsOfName(`minirs-${ia}-${shard.node_uid}`);
      expect(nsOfPid(procs.get(`shard-${shard.uid}`)!)).toBe(want);
      expect(nsOfPid(procs.get(`redis-${shard.uid}`)!)).toBe(want);
    }
    expect(new Set(s.shards.map((x) => x.node_uid))).toEqual(new Set([1, 2]));
    // The same MAC whenever a node of this index is made: with a random one, a node made again
    // under a reused index was unreachable while the host's neighbour cache held the old MAC.
    for (const uid of [1, 2])
      expect(sh('ip', ['-n', `minirs-${ia}-${uid}`, 'link', 'show', 'eth0'])).toContain(
        `link/ether ${nodeMac(ia, uid)} `,
      );

    // Through either node's endpoint, from the host.
    const bdb = s.bdbs.find((x) => x.name === 'src')!;
    const r1 = track(env, new Redis({ host: `198.18.${ia}.1`, port: bdb.port }));
    const r2 = track(env, new Redis({ host: `198.18.${ia}.2`, port: bdb.port }));
    for (let i = 0; i < 50; i++) await r1.set(`k${i}`, String(i));
    expect(await r2.get('k49')).toBe('49');
  });

  it_(
    "a syncer runs in node 1's namespace, or on the host when its source is outside the node network",
    async () => {
      const dst = await b.replicaOf('dst', ['nsa/src']);
      await waitInSync(b, 'dst');
      const ib = stateOf(b).cluster.index;
      expect(nsOfPid(b.processes().get(`syncer-${dst.uid}`)!)).toBe(nsOfName(`minirs-${ib}-1`));
      expect(await (await dbClient(env, b, 'dst')).get('k49')).toBe('49');

      // A plain redis-server on the host's loopback: no namespace reaches it, so that syncer runs
      // on the host (from node 1's host address 198.19.C.1).
      const plain = await new RedisServer().start();
      env.redis.push(plain);
      const pc = track(env, plain.client());
      await pc.set('plain', 'yes');
      await b.createDb({ name: 'fromhost', shards: 1 });
      const fh = await b.replicaOf('fromhost', [`redis://${plain.host}:${plain.port}`]);
      await waitInSync(b, 'fromhost');
      expect(nsOfPid(b.processes().get(`syncer-${fh.uid}`)!)).toBe(nsOfPid(process.pid));
      expect(await (await dbClient(env, b, 'fromhost')).get('plain')).toBe('yes');
      const peers = sh('ss', ['-t', '-n', '-H', 'dst', `127.0.0.1:${plain.port}`]);
      expect(peers).toContain(`198.19.${ib}.1:`);
    },
  );

  it_(
    'bandwidth on a node is a tbf on its veth: 20 KB through its endpoint takes >= 1.5 s at 80 kbit/s',
    async () => {
      const s = stateOf(a);
      const bdb = s.bdbs.find((x) => x.name === 'src')!;
      const r2 = track(env, new Redis({ host: `198.18.${ia}.2`, port: bdb.port }));
      await r2.set('bw', 'x'.repeat(20_000));
      const f = await a.faults.bandwidth('node:2', 80);
      try {
        expect(f.record.mechanism).toMatch(
          /^tc tbf \(80 kbit\/s on eth0 in minirs-\d+-2 and c\d+-n2 in minirs-sw\)/,
        );
        expect(sh('ip', ['netns', 'exec', `minirs-${ia}-2`, 'tc', 'qdisc', 'show', 'dev', 'eth0'])).toMatch(
          /qdisc tbf .*rate 80Kbit/,
        );
        const t0 = performance.now();
        expect((await r2.get('bw'))?.length).toBe(20_000);
        const ms = performance.now() - t0;
        console.log(`tbf 80 kbit/s on node 2: GET of 20 KB through node 2 took ${ms.toFixed(0)} ms`);
        expect(ms).toBeGreaterThanOrEqual(1500);
      } finally {
        await f.heal();
      }
      expect(sh('ip', ['netns', 'exec', `minirs-${ia}-2`, 'tc', 'qdisc', 'show', 'dev', 'eth0'])).not.toMatch(
        /tbf/,
      );
    },
  );

  it_(
    'a manager killed with -9 leaves the namespaces; the next one adopts their processes and remakes a removed one',
    async () => {
      const before = a.processes();
      process.kill(a.managerPid()!, 'SIGKILL');
      await waitFor(() => a.managerPid() === undefined, 'the manager gone');
      // Node 2's namespace disappears meanwhile (by hand): the next start makes it again and starts
      // node 2's processes afresh in it; node 1's are adopted as they are.
      expect(spawnSync('ip', ['netns', 'del', `minirs-${ia}-2`]).status).toBe(0);
      await a.restartManager();
      const s = stateOf(a);
      const bdb = s.bdbs.find((x) => x.name === 'src')!;
      await waitFor(
        async () => (await a.api.getBdb(bdb.uid)).status === 'active' && a.processes().has('proxy-2'),
        'the database active again',
        60_000,
      );
      const after = a.processes();
      expect(after.get('proxy-1')).toBe(before.get('proxy-1'));
      expect(after.get('proxy-2')).not.toBe(before.get('proxy-2'));
      expect(nsOfPid(after.get('proxy-2')!)).toBe(nsOfName(`minirs-${ia}-2`));
      const r2 = track(env, new Redis({ host: `198.18.${ia}.2`, port: bdb.port, maxRetriesPerRequest: 3 }));
      await waitFor(async () => (await r2.ping().catch(() => '')) === 'PONG', 'node 2 answering', 30_000);
      expect(await r2.set('after', '1')).toBe('OK');
    },
  );

  it_(
    'cluster delete leaves no namespace, link, address or rule behind, also after a manager crash',
    async () => {
      // A fault puts tables into the namespaces and on the host; the manager then dies with -9,
      // so nothing was cleaned by it.
      await a.faults.partition('node:2', { mode: 'drop' });
      expect(sh('ip', ['netns', 'exec', `minirs-${ia}-1`, 'nft', 'list', 'tables'])).toContain(
        `minirs-${ia}`,
      );
      expect(leftovers(ia).length).toBeGreaterThan(0);
      process.kill(a.managerPid()!, 'SIGKILL');
      await waitFor(() => a.managerPid() === undefined, 'the manager gone');
      await a.delete();
      expect(leftovers(ia)).toEqual([]);

      // A clean delete of the other one; then, if no other netns cluster runs here, the switch and
      // the host link are gone as well.
      const ib = stateOf(b).cluster.index;
      await b.delete();
      env.clusters.length = 0;
      expect(leftovers(ib)).toEqual([]);
      expect(switchLeftovers()).toEqual([]);
    },
  );

  it_('--net loopback keeps nodes on 127.0.C.N, and cluster create says which mode it chose', async () => {
    let text = '';
    const io = {
      stdout: { write: (t: string) => (text += t) },
      stderr: { write: (t: string) => (text += t) },
      env: { ...process.env, MINIRS_HOME: env.home },
    };
    const args = ['cluster', 'create', 'nsl', '--nodes', '2', '--net', 'loopback', '--api-port', '19655'];
    expect(await runCli(args, io)).toBe(0);
    expect(text).toMatch(/network\s+loopback: node N is 127\.0\.C\.N on lo \(no namespaces: asked for/);
    const s = JSON.parse(readFileSync(`${env.home}/nsl/state.json`, 'utf8')) as ClusterState;
    expect(s.cluster.net).toBe('loopback');
    expect(s.cluster.nodes[0]!.addr).toBe(`127.0.${s.cluster.index}.1`);
    expect(sh('ip', ['netns', 'list'])).not.toMatch(new RegExp(`^minirs-${s.cluster.index}-`, 'm'));
    expect(await runCli(['cluster', 'delete', 'nsl'], io)).toBe(0);
  });
});
