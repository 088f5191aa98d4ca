import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * No split brain: the master's node is partitioned from everything else (nftables drop). The
 * manager cannot reach the master, promotes the slave on the other side; the old master, cut off
 * from its slave, is fenced (min-replicas-to-write) and refuses writes before the new master
 * takes any. Clients on the old side (node 2's own address: its endpoint, or the old master
 * directly) and on the new side (node 1's endpoint) never both succeed: every write the old
 * side got accepted after the partition came before the first the new side got accepted. After
 * the heal the old master is a slave of the new one.
 *
 * Needs root and nft; skips with one line otherwise.
 */

const root =
  process.getuid?.() === 0 && spawnSync('nft', ['list', 'tables'], { stdio: 'ignore' }).status === 0;
if (!root) console.log('failover-partition: skipped (needs root and nftables; run scripts/setup as root)');

const env: Env = newEnv('fpar');
let c: StartedMiniCluster;
const BDB = 2; // master on node 2, slave on node 1
const clients: BoundClient[] = [];

beforeAll(async () => {
  if (!root) return;
  // Loopback mode: the old side's clients bind node 2's address, which in netns mode exists only
  // inside node 2's namespace (this process cannot bind it there).
  [c] = await startClusters(env, ['fpar'], 2, 'loopback');
});

afterAll(async () => {
  for (const x of clients) x.close();
  if (c) await c.faults.healAll().catch(() => {});
  await teardown(env);
});

/**
 * A minimal RESP client bound to a local address (ioredis cannot bind one): one command at a
 * time, replies of one line (+OK, -ERR ...); a timed-out connection is dropped and redialed.
 */
class BoundClient {
  private sock?: Socket;
  private buf = '';
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly local: string,
    private readonly password?: string,
  ) {}

  private line(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = this.sock!;
      const timer = setTimeout(() => finish(new Error('timed out')), timeoutMs);
      const check = () => {
        const i = this.buf.indexOf('\r\n');
        if (i >= 0) {
          const l = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 2);
          finish(undefined, l);
        }
      };
      const onData = (d: Buffer) => {
        this.buf += d.toString();
        check();
      };
      const onGone = () => finish(new Error('connection closed'));
      const finish = (err?: Error, l?: string) => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onGone);
        if (err) {
          sock.destroy();
          this.sock = undefined;
          reject(err);
        } else resolve(l!);
      };
      sock.on('data', onData);
      sock.on('close', onGone);
      check();
    });
  }

  async command(args: string[], timeoutMs = 1000): Promise<string> {
    if (!this.sock) {
      this.buf = '';
      const sock = connect({ host: this.host, port: this.port, localAddress: this.local });
      sock.on('error', () => {});
      this.sock = sock;
      if (this.password) {
        await this.command(['AUTH', this.password], timeoutMs);
      }
    }
    this.sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    const l = await this.line(timeoutMs);
    if (l.startsWith('-')) throw new Error(l.slice(1));
    return l.slice(1);
  }

  close(): void {
    this.sock?.destroy();
  }
}

type Failover = { time: string; old_master_shard: number; new_master_shard: number };
const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe.skipIf(!root)('failover on a partition of the master node', () => {
  it('fences the old master: no write is accepted on both sides', async () => {
    await c.api.createBdb({ name: 'ha', uid: BDB, replication: true });
    await c.api.waitForBdb(BDB, (b) => b.status === 'active', 'it to become active');
    const shards = await waitFor(
      async () => {
        const l = await c.api.bdbShards(BDB);
        return l.some(linkUp) ? l : undefined;
      },
      'the slave linked',
      30_000,
    );
    const master = shards.find((s) => s.role === 'master')!;
    const slave = shards.find((s) => s.role === 'slave')!;
    expect(master.node_uid).toBe('2');
    const state = JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
    const node2 = state.cluster.nodes.find((n) => n.uid === 2)!.addr;
    const node1 = state.cluster.nodes.find((n) => n.uid === 1)!.addr;
    const b = await c.api.getBdb(BDB);
    const opts = { maxRetriesPerRequest: 1, connectTimeout: 1000, commandTimeout: 1000 };
    // The new side: node 1's endpoint. The old side: node 2's endpoint and the old master itself,
    // from node 2's own address (inside the partitioned side).
    const newSide = track(env, new Redis({ host: node1, port: b.port, ...opts }));
    const oldEndpoint = new BoundClient(node2, b.port, node2);
    const oldMaster = new BoundClient(master.addr, master.port, node2, state.internal_password);
    clients.push(oldEndpoint, oldMaster);
    // The master is fenced (min-replicas-to-write 1) while its slave is in sync.
    const direct = track(env, new Redis({ host: master.addr, port: master.port, password: state.internal_password }));
    await waitFor(
      async () => (await direct.config('GET', 'min-replicas-to-write'))[1] === '1' || undefined,
      'the master write fence',
      20_000,
    );
    await newSide.set('pre', '1');
    expect(Number(await newSide.call('WAIT', '1', '5000'))).toBe(1);
    // The old master answers from node 2's address before the cut.
    await waitFor(
      async () => {
        await oldMaster.command(['CONFIG', 'SET', 'loglevel', 'notice']); // reachable from node 2
        return (await c.api.bdbShards(BDB)).some(linkUp) || undefined;
      },
      'the master write fence',
      10_000,
    );

    const accepted = { old: [] as number[], new: [] as number[] };
    let stop = false;
    const writer = (side: 'old' | 'new', r: Redis | BoundClient, tag: string) =>
      (async () => {
        const deadline = Date.now() + 60_000;
        for (let i = 0; i < 5000 && !stop && Date.now() < deadline; i++) {
          try {
            if (r instanceof BoundClient) await r.command(['SET', `${tag}:${i}`, '1']);
            else await r.set(`${tag}:${i}`, '1');
            accepted[side].push(Date.now());
          } catch {
            // refused (NOREPLICAS, READONLY, TRYAGAIN) or unreachable: the error window
          }
          await new Promise((res) => setTimeout(res, 25)); // a bounded, paced load
        }
      })();
    const cut = await c.faults.partition('node:2', { mode: 'drop' });
    const since = Date.now();
    const loops = [
      writer('old', oldEndpoint, 'old-ep'),
      writer('old', oldMaster, 'old-direct'),
      writer('new', newSide, 'new-ep'),
    ];
    const fo = await waitFor(
      async () => ((await c.api.getBdb(BDB)) as unknown as { failovers: Failover[] }).failovers?.[0],
      'the failover',
      30_000,
    );
    expect(fo).toMatchObject({ old_master_shard: Number(master.uid), new_master_shard: Number(slave.uid) });
    await waitFor(async () => accepted.new.length >= 20 || undefined, 'writes on the new side', 30_000);
    stop = true;
    await Promise.all(loops);

    const oldAfter = accepted.old.filter((t) => t >= since);
    const firstNew = Math.min(...accepted.new.filter((t) => t >= since));
    console.log(
      `failover-partition: old side accepted ${oldAfter.length} writes after the cut (last ${oldAfter.length ? Math.max(...oldAfter) - since : '-'} ms), new side first at ${firstNew - since} ms`,
    );
    // Never both sides: the old side's last accepted write precedes the new side's first.
    expect(oldAfter.every((t) => t < firstNew)).toBe(true);
    // The old master refuses writes now (fenced or demoted).
    await expect(oldMaster.command(['SET', 'late', '1'])).rejects.toThrow(/NOREPLICAS|READONLY/);

    await cut.heal();
    await waitFor(
      async () => {
        const x = (await c.api.bdbShards(BDB)).find((y) => y.uid === master.uid)!;
        return (x.role === 'slave' && linkUp(x)) || undefined;
      },
      'the old master to rejoin as a slave',
      30_000,
    );
    expect(await newSide.get('pre')).toBe('1');
    await newSide.set('post', '1');
    expect(Number(await newSide.call('WAIT', '1', '5000'))).toBe(1);
  });
});
