import { readFileSync } from 'node:fs';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { dbClient, type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * RS's in-memory replication (`replication: true`): a slave shard per master on another node,
 * a real redis-server replicating with REPLICAOF; GET /v1/shards shows both roles and the link
 * state; `replication: false` removes the slaves. Proxies route to masters only.
 */

const env: Env = newEnv('frep');
let c: StartedMiniCluster;

beforeAll(async () => {
  [c] = await startClusters(env, ['frep'], 2);
});

afterAll(async () => {
  await teardown(env);
});

const linkUp = (s: ShardView) => s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe('replication: true', () => {
  it('creates a slave per master on another node, replicating; false removes them', async () => {
    const created = await c.api.createBdb({ name: 'ha', shards_count: 2, sharding: true, replication: true });
    expect((created as unknown as { replication: boolean }).replication).toBe(true);
    await c.api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
    const shards = await waitFor(
      async () => {
        const list = await c.api.bdbShards(created.uid);
        // A master's redis_info comes with its shard's first stats report, which may follow
        // the shard's first answer to the manager (the shard answers it before its stats client).
        const mastersReported = list.filter(
          (s) => s.role === 'master' && (s.redis_info as Record<string, unknown>)?.role === 'master',
        ).length;
        return list.filter(linkUp).length === 2 && mastersReported === 2 ? list : undefined;
      },
      'both slaves linked to their masters, and both masters reporting',
      30_000,
    );
    const masters = shards.filter((s) => s.role === 'master');
    const slaves = shards.filter((s) => s.role === 'slave');
    expect(masters).toHaveLength(2);
    expect(slaves).toHaveLength(2);
    for (const m of masters) {
      const s = slaves.find((x) => x.assigned_slots === m.assigned_slots)!;
      expect(s).toBeDefined();
      expect(s.node_uid).not.toBe(m.node_uid);
      expect((s as unknown as { sync: { status: string } }).sync.status).toBe('idle');
      expect((m.redis_info as Record<string, unknown>).role).toBe('master');
    }
    // GET /v1/shards shows both roles, and each slave's link state.
    const all = (await c.api.listShards()).filter((s) => s.bdb_uid === created.uid);
    expect(all).toHaveLength(4);
    expect(all.filter((s) => s.role === 'master')).toHaveLength(2);
    expect(all.filter((s) => s.role === 'slave').map((s) => (s.redis_info as Record<string, unknown>).master_link_status)).toEqual(['up', 'up']);

    // Writes through the endpoint reach the masters and, by replication, the slaves.
    const r = await dbClient(env, c, 'ha');
    for (let i = 0; i < 200; i++) await r.set(`k${i}`, `v${i}`);
    expect(await r.dbsize()).toBe(200);
    await waitFor(
      async () => {
        const list = await c.api.bdbShards(created.uid);
        const keys = list.filter((s) => s.role === 'slave').reduce((n, s) => n + (s.redis_info.db0_keys ?? 0), 0);
        return keys === 200;
      },
      'the slaves to hold every key',
      20_000,
    );

    // WAIT on the sharded database waits on every shard: 1 while both slaves acknowledge; 0
    // once the slave of one shard (not the first: the old WAIT asked only the first) cannot.
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
    const lastMaster = masters.reduce((a, b) => (Number(b.uid) > Number(a.uid) ? b : a));
    const stuck = slaves.find((x) => x.assigned_slots === lastMaster.assigned_slots)!;
    const state = JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
    const direct = track(env, new Redis({ host: stuck.addr, port: stuck.port, password: state.internal_password }));
    await direct.call('REPLICAOF', '127.0.0.1', '1'); // its link down: it acknowledges nothing more
    expect(Number(await r.call('WAIT', '1', '300'))).toBe(0);
    // A WAIT with no timeout blocks on every shard; CLIENT UNBLOCK releases all of them.
    const waiter = await dbClient(env, c, 'ha');
    const waiterId = Number(await waiter.call('CLIENT', 'ID'));
    const blocked = waiter.call('WAIT', '1', '0');
    await waitFor(
      async () => {
        const list = String(await r.call('CLIENT', 'LIST'));
        return new RegExp(`(^|\\n)id=${waiterId} [^\\n]*flags=b`).test(list) || undefined;
      },
      'the WAIT to block',
      10_000,
    );
    expect(Number(await r.call('CLIENT', 'UNBLOCK', String(waiterId)))).toBe(1);
    expect(Number(await blocked)).toBe(0);
    direct.disconnect();

    // replication: false removes the slaves; the masters keep serving (no fence left).
    await c.api.request('PUT', `/v1/bdbs/${created.uid}`, { replication: false });
    await waitFor(
      async () => (await c.api.bdbShards(created.uid)).every((s) => s.role === 'master') || undefined,
      'the slaves to be removed',
      20_000,
    );
    const after = await c.api.getBdb(created.uid);
    expect((after as unknown as { replication: boolean }).replication).toBe(false);
    expect(after.shard_list).toHaveLength(2);
    await r.set('after-off', '1');
    expect(await r.dbsize()).toBe(201);

    // And on again: new slaves full-sync what the masters hold.
    await c.api.request('PUT', `/v1/bdbs/${created.uid}`, { replication: true });
    await waitFor(
      async () => {
        const list = await c.api.bdbShards(created.uid);
        const slavesNow = list.filter(linkUp);
        return slavesNow.length === 2 && slavesNow.reduce((n, s) => n + (s.redis_info.db0_keys ?? 0), 0) === 201;
      },
      'new slaves in sync with every key',
      30_000,
    );
    await r.set('after-on', '1');
    expect(await r.get('after-on')).toBe('1');
  });

  it('a restarted manager adopts the shards with their roles; the fence comes back; failover still works', async () => {
    const created = await c.api.createBdb({ name: 'ha2', replication: true });
    await c.api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
    const r = await dbClient(env, c, 'ha2');
    await waitFor(async () => (await c.api.bdbShards(created.uid)).some(linkUp) || undefined, 'slave linked', 30_000);
    await r.set('a', '1');
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
    const pidsBefore = c.processes();
    process.kill(c.managerPid()!, 'SIGKILL');
    await waitFor(() => c.managerPid() === undefined, 'the manager to die');
    await c.restartManager();
    const l = await waitFor(
      async () => {
        const x = await c.api.bdbShards(created.uid);
        return x.some(linkUp) ? x : undefined;
      },
      'the slave linked after the manager restart',
      30_000,
    );
    const m = l.find((s) => s.role === 'master')!;
    const s = l.find((x) => x.role === 'slave')!;
    // Adopted, not restarted: the same redis-servers hold the data.
    expect(c.processes().get(`redis-${m.uid}`)).toBe(pidsBefore.get(`redis-${m.uid}`));
    expect(await r.get('a')).toBe('1');
    await r.set('b', '1');
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
    // The new manager fences the master again (min-replicas-to-write 1 while its slave is in sync).
    const state = JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
    const direct = track(env, new Redis({ host: m.addr, port: m.port, password: state.internal_password }));
    await waitFor(
      async () => (await direct.config('GET', 'min-replicas-to-write'))[1] === '1' || undefined,
      'the fence after the manager restart',
      20_000,
    );
    // The new manager watches them: a killed master fails over.
    await c.faults.kill(`redis:${m.uid}`);
    await waitFor(
      async () => (await c.api.bdbShards(created.uid)).find((x) => x.uid === s.uid)?.role === 'master' || undefined,
      'the failover after the manager restart',
      30_000,
    );
    await waitFor(
      async () => (await r.get('b').catch(() => null)) === '1' || undefined,
      'reads through the endpoint after the failover',
      30_000,
    );
  });

  it('refuses a replication field that is not a boolean', async () => {
    await expect(c.api.createBdb({ name: 'bad', replication: 'yes' as unknown as boolean })).rejects.toThrow(
      /replication/,
    );
  });
});
