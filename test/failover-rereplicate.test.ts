import { execFile } from 'node:child_process';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import type { ReReplicationRecord } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Re-replication: when the node of a master's slave stays down and the cluster has a third node,
 * the manager creates a new slave on that node (the master is fenced again once it is in sync);
 * when the old node comes back, its stale shard is discarded: it never runs, so there are never
 * two masters and no stale copy returns.
 */

const env: Env = newEnv('frer');
let c: StartedMiniCluster;
const BDB = 2; // uid 2: master on node 2, slave on node 3; the client uses node 1's endpoint

beforeAll(async () => {
  [c] = await startClusters(env, ['frer'], 3);
});

afterAll(async () => {
  if (c) await c.faults.healAll().catch(() => {});
  await teardown(env);
});

function run(args: string[], home: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['packages/cli/dist/main.js', ...args],
      { env: { ...process.env, MINIRS_HOME: home }, timeout: 30_000 },
      (err, stdout) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout }),
    );
  });
}

const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe('re-replication onto a third node', () => {
  it('a new slave replaces the one on the node that stays down; the stale shard never comes back', async () => {
    await c.api.createBdb({ name: 'ha', uid: BDB, replication: true });
    await c.api.waitForBdb(BDB, (b) => b.status === 'active', 'it to become active');
    const before = await waitFor(
      async () => {
        const l = await c.api.bdbShards(BDB);
        return l.some(linkUp) ? l : undefined;
      },
      'the slave linked',
      30_000,
    );
    const master = before.find((s) => s.role === 'master')!;
    const slave = before.find((s) => s.role === 'slave')!;
    expect([master.node_uid, slave.node_uid]).toEqual(['2', '3']);
    const b = await c.api.getBdb(BDB);
    const node1 = b.endpoints[0]!.addr.find((a) => a.endsWith('.1')) ?? b.endpoints[0]!.addr[0]!;
    const r = track(env, new Redis({ host: node1, port: b.port, maxRetriesPerRequest: 1 }));
    for (let i = 0; i < 100; i++) await r.set(`k${i}`, `v${i}`);
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);

    // The master's node crashes and stays down: a failover to node 3, whose new slave (the old
    // master) is on the down node; after a while a new slave is made on node 1.
    await c.faults.kill('node:2');
    const rec = await waitFor(
      async () =>
        ((await c.api.getBdb(BDB)) as unknown as { rereplications: ReReplicationRecord[] }).rereplications[0],
      'a re-replication',
      60_000,
    );
    expect(rec).toMatchObject({
      master_shard: Number(slave.uid),
      old_slave_shard: Number(master.uid),
      old_slave_node: 2,
      new_slave_node: 1,
    });
    const after = await waitFor(
      async () => {
        const l = await c.api.bdbShards(BDB);
        const ns = l.find((s) => Number(s.uid) === rec.new_slave_shard);
        return ns && linkUp(ns) && ns.redis_info.db0_keys === 100 ? l : undefined;
      },
      'the new slave in sync',
      30_000,
    );
    expect(after.map((s) => [s.uid, s.role, s.node_uid]).sort()).toEqual(
      [
        [slave.uid, 'master', '3'],
        [String(rec.new_slave_shard), 'slave', '1'],
      ].sort(),
    );
    // The stale shard is gone from the cluster's shards.
    expect((await c.api.listShards()).some((s) => s.uid === master.uid)).toBe(false);
    // The master has a slave again: WAIT 1 is acknowledged (by the new slave).
    await waitFor(async () => (await r.set('after', '1').catch(() => null)) === 'OK' || undefined, 'a write', 30_000);
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);

    const text = await run(['status', 'frer'], env.home);
    expect(text.stdout).toContain('frer/ha: replication on, 1 failover, 1 re-replication');
    expect(text.stdout).toContain(
      `new slave shard ${rec.new_slave_shard} (node 1) of master shard ${slave.uid}, replacing shard ${master.uid} (node 2)`,
    );

    // Node 2 comes back: nothing of the stale shard runs; one master, one slave; the data is whole.
    await c.faults.healAll();
    await waitFor(
      async () => ((await c.api.listNodes()).every((n) => n.status === 'active') ? true : undefined),
      'node 2 back',
      30_000,
    );
    expect(c.processes().has(`redis-${master.uid}`)).toBe(false);
    expect(c.processes().has(`shard-${master.uid}`)).toBe(false);
    const final = await c.api.bdbShards(BDB);
    expect(final.filter((s) => s.role === 'master').map((s) => s.uid)).toEqual([slave.uid]);
    expect(final).toHaveLength(2);
    expect(await r.dbsize()).toBe(101);
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    expect(await r.mget(...keys)).toEqual(keys.map((_, i) => `v${i}`));
  });
});
