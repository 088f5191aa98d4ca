import { readFileSync } from 'node:fs';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { dbClient, type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The hazard of a master lost while its slave is not confirmed in sync: without persistence the
 * master restarts empty, and a slave left in place would copy the empty dataset. RS never lets
 * an empty restarted master overwrite a replica that holds data: the manager promotes the slave
 * (it holds the only copy left), and the old master comes back as its slave.
 */

const env: Env = newEnv('funf');
let c: StartedMiniCluster;

beforeAll(async () => {
  [c] = await startClusters(env, ['funf'], 2);
});

afterAll(async () => {
  await teardown(env);
});

type Failover = { old_master_shard: number; new_master_shard: number; reason: string; slave_in_sync?: boolean };
const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';
/** The manager's longest look-back for a slave's link (failover.ts LINK_FRESH_MS is 10 s). */
const LINK_FRESH_S = 10;

describe('a master lost while its slave is out of sync', () => {
  it('promotes the slave anyway: the data it holds survives; the old master rejoins as its slave', async () => {
    const created = await c.api.createBdb({ name: 'unfit', replication: true });
    await c.api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
    const before = await waitFor(
      async () => {
        const l = await c.api.bdbShards(created.uid);
        return l.some(linkUp) ? l : undefined;
      },
      'the slave linked',
      30_000,
    );
    const m = before.find((s) => s.role === 'master')!;
    const s = before.find((x) => x.role === 'slave')!;
    const r = await dbClient(env, c, 'unfit');
    for (let i = 0; i < 100; i++) await r.set(`k${i}`, `v${i}`);
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);

    // The slave's link goes down (it is pointed at a port nothing listens on; it keeps its data)
    // and stays down longer than the manager's look-back: the slave is not confirmed in sync.
    const state = JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
    const direct = track(env, new Redis({ host: s.addr, port: s.port, password: state.internal_password }));
    await direct.call('REPLICAOF', '127.0.0.1', '1');
    await waitFor(
      async () => {
        const info = String(await direct.info('replication'));
        const down = Number(/master_link_down_since_seconds:(-?\d+)/.exec(info)?.[1] ?? -1);
        return (info.includes('master_link_status:down') && down > LINK_FRESH_S) || undefined;
      },
      `the slave's link down for more than ${LINK_FRESH_S} s`,
      40_000,
    );
    expect(await direct.dbsize()).toBe(100);

    // The master's redis-server dies (its data with it: no persistence).
    await c.faults.kill(`redis:${m.uid}`);
    const fo = await waitFor(
      async () => ((await c.api.getBdb(created.uid)) as unknown as { failovers?: Failover[] }).failovers?.[0],
      'a failover to the out-of-sync slave',
      30_000,
    );
    expect(fo).toMatchObject({ old_master_shard: Number(m.uid), new_master_shard: Number(s.uid), slave_in_sync: false });
    expect(fo.reason).toMatch(/not confirmed in sync/);

    // Through the endpoint, the slave's data: nothing it held was discarded.
    await waitFor(async () => (await r.get('k0').catch(() => null)) === 'v0' || undefined, 'reads after the failover', 30_000);
    expect(await r.dbsize()).toBe(100);
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    expect(await r.mget(...keys)).toEqual(keys.map((_, i) => `v${i}`));

    // The old master restarted as a slave of the new one and copied its data (not the reverse).
    await waitFor(
      async () => {
        const old = (await c.api.bdbShards(created.uid)).find((x) => x.uid === m.uid)!;
        return (linkUp(old) && old.redis_info.db0_keys === 100) || undefined;
      },
      'the old master back as an in-sync slave',
      30_000,
    );
    await r.set('after', '1');
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
    expect(await r.dbsize()).toBe(101);
  });

  it('a master that died while no manager ran does not come back empty over its slave', async () => {
    const created = await c.api.createBdb({ name: 'nomgr', replication: true });
    await c.api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
    const l = await waitFor(
      async () => {
        const x = await c.api.bdbShards(created.uid);
        return x.some(linkUp) ? x : undefined;
      },
      'the slave linked',
      30_000,
    );
    const m = l.find((s) => s.role === 'master')!;
    const s = l.find((x) => x.role === 'slave')!;
    const r = await dbClient(env, c, 'nomgr');
    for (let i = 0; i < 50; i++) await r.set(`n${i}`, `v${i}`);
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);

    // The manager dies; then the master's redis-server (its shard process exits with it).
    process.kill(c.managerPid()!, 'SIGKILL');
    await waitFor(() => c.managerPid() === undefined || undefined, 'the manager to die');
    process.kill(c.processes().get(`redis-${m.uid}`)!, 'SIGKILL');
    await waitFor(() => !c.processes().has(`shard-${m.uid}`) || undefined, "the master's shard process to exit");
    await c.restartManager();

    // The slave, which holds the data, is the master; the old master is its slave.
    const fo = await waitFor(
      async () => ((await c.api.getBdb(created.uid)) as unknown as { failovers?: Failover[] }).failovers?.[0],
      'the failover the restarted manager made',
      30_000,
    );
    expect(fo).toMatchObject({ old_master_shard: Number(m.uid), new_master_shard: Number(s.uid), slave_in_sync: false });
    await waitFor(async () => (await r.get('n0').catch(() => null)) === 'v0' || undefined, 'reads after the restart', 30_000);
    expect(await r.dbsize()).toBe(50);
    await waitFor(
      async () => {
        const old = (await c.api.bdbShards(created.uid)).find((x) => x.uid === m.uid)!;
        return (linkUp(old) && old.redis_info.db0_keys === 50) || undefined;
      },
      'the old master back as an in-sync slave',
      30_000,
    );
    await r.set('after', '1');
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
  });
});
