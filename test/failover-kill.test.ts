import { execFile } from 'node:child_process';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { type Env, newEnv, startClusters, teardown, track } from '@minirs/harness/vitest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Failover of a replicated database: kill -9 of the node holding the master shard (every
 * process of the node, a machine crash) under a write load through the endpoint. The manager
 * promotes the slave and routes every proxy to it; writes resume after a short error window;
 * no write that `WAIT 1` acknowledged is lost; the old master comes back as the new one's slave.
 */

const env: Env = newEnv('fkil');
let c: StartedMiniCluster;
const BDB = 2; // uid 2: its master lands on node 2, its slave on node 1 (the client's node)

beforeAll(async () => {
  [c] = await startClusters(env, ['fkil'], 2);
});

afterAll(async () => {
  if (c) await c.faults.healAll().catch(() => {});
  await teardown(env);
});

function run(args: string[], home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['packages/cli/dist/main.js', ...args],
      { env: { ...process.env, MINIRS_HOME: home }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

type Failover = { time: string; old_master_shard: number; new_master_shard: number; reason: string };
const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe('failover on a node crash', () => {
  it('promotes the slave; acknowledged writes survive; the old master rejoins as a slave', async () => {
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
    expect(master.node_uid).toBe('2');
    expect(slave.node_uid).toBe('1');

    // The client talks to node 1's endpoint (node 2's proxy dies with its node).
    const b = await c.api.getBdb(BDB);
    const r = track(
      env,
      new Redis({
        host: b.endpoints[0]!.addr[0]!,
        port: b.port,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: true,
      }),
    );
    // A bounded writer: SET then WAIT 1 (a write counts as acknowledged when a slave has it).
    const acked = new Map<string, string>();
    const w = { errors: 0, okAfterKill: 0, killed: false, stop: false, n: 0 };
    const writer = (async () => {
      const deadline = Date.now() + 90_000;
      for (let i = 0; i < 50_000 && !w.stop && Date.now() < deadline; i++) {
        const key = `k:${i}`;
        try {
          await r.set(key, String(i));
          if (w.killed) w.okAfterKill++;
          // With no slave left (after the failover, until the node is back) WAIT answers 0.
          if (Number(await r.call('WAIT', '1', '200')) >= 1) acked.set(key, String(i));
        } catch {
          if (w.killed) w.errors++;
          await new Promise((res) => setTimeout(res, 20)); // back off a retryable error
        }
        w.n = i;
      }
    })();
    await waitFor(async () => acked.size >= 200 || undefined, '200 acknowledged writes', 30_000);
    w.killed = true;
    await c.faults.kill('node:2');
    await waitFor(async () => w.okAfterKill >= 100 || undefined, 'writes to resume after the kill', 30_000);
    w.stop = true;
    await writer;

    // The failover is on record: the slave is the master now.
    const after = await c.api.getBdb(BDB);
    const fos = (after as unknown as { failovers: Failover[] }).failovers;
    expect(fos.length).toBeGreaterThanOrEqual(1);
    expect(fos.at(-1)).toMatchObject({
      old_master_shard: Number(master.uid),
      new_master_shard: Number(slave.uid),
    });
    const shards = await c.api.bdbShards(BDB);
    expect(shards.find((s) => s.uid === slave.uid)!.role).toBe('master');
    expect(shards.find((s) => s.uid === master.uid)!.role).toBe('slave');
    // What `minirs status` shows: the failover, which shard, old and new master.
    const text = await run(['status', 'fkil'], env.home);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('fkil/ha: replication on, 1 failover');
    // Either watcher may see the crash first: the node's processes gone ("crashed", with the
    // fault), or the node marked down on the next probe tick ("is down").
    expect(text.stdout).toMatch(
      new RegExp(
        `shard ${master.uid} \\(node 2\\) -> shard ${slave.uid} \\(node 1\\): node 2 (crashed|is down)`,
      ),
    );
    const json = await run(['status', 'fkil', 'ha', '--json'], env.home);
    expect(JSON.parse(json.stdout)).toMatchObject({
      replication: true,
      failovers: [{ old_master_shard: Number(master.uid), new_master_shard: Number(slave.uid) }],
    });

    // Writes resumed through the endpoint, and no acknowledged write was lost.
    await r.set('after', 'ok');
    expect(await r.get('after')).toBe('ok');
    const keys = [...acked.keys()];
    const values = keys.length ? await r.mget(...keys) : [];
    const lost = keys.filter((k, i) => values[i] !== acked.get(k));
    expect(lost).toEqual([]);
    console.log(
      `failover-kill: ${w.n} writes, ${acked.size} acknowledged by WAIT 1, ${w.errors} errors after the kill`,
    );

    // The node comes back: the old master is a slave of the new master and catches up.
    await c.faults.healAll();
    const dbsize = await r.dbsize();
    await waitFor(
      async () => {
        const l = await c.api.bdbShards(BDB);
        const old = l.find((s) => s.uid === master.uid)!;
        return linkUp(old) && old.redis_info.db0_keys === dbsize;
      },
      'the old master to be an in-sync slave of the new one',
      30_000,
    );
    // With its slave back, the new master is fenced again and WAIT 1 succeeds.
    await r.set('rejoined', '1');
    expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
  });

  it("fails over when the master's redis-server or shard process is killed -9, and back", async () => {
    const b = await c.api.getBdb(BDB);
    const r = track(
      env,
      new Redis({ host: b.endpoints[0]!.addr[0]!, port: b.port, maxRetriesPerRequest: 1 }),
    );
    for (const target of ['redis', 'shard'] as const) {
      const l = await waitFor(
        async () => {
          const x = await c.api.bdbShards(BDB);
          return x.some(linkUp) ? x : undefined;
        },
        'a linked slave',
        30_000,
      );
      const m = l.find((s) => s.role === 'master')!;
      const s = l.find((x) => x.role === 'slave')!;
      await r.set(`before-${target}`, 'v');
      expect(Number(await r.call('WAIT', '1', '5000'))).toBe(1);
      const n = ((await c.api.getBdb(BDB)) as unknown as { failovers: Failover[] }).failovers.length;
      await c.faults.kill(`${target}:${m.uid}`);
      const fo = await waitFor(
        async () => ((await c.api.getBdb(BDB)) as unknown as { failovers: Failover[] }).failovers[n],
        `a failover after killing ${target}:${m.uid}`,
        30_000,
      );
      expect(fo).toMatchObject({ old_master_shard: Number(m.uid), new_master_shard: Number(s.uid) });
      // Writes resume through the endpoint (a bounded retry over the error window).
      await waitFor(
        async () => (await r.set(`after-${target}`, 'v').catch(() => null)) === 'OK' || undefined,
        'a write to succeed after the failover',
        30_000,
      );
      expect(await r.get(`before-${target}`)).toBe('v');
      // The killed side restarts as a slave of the new master.
      await waitFor(
        async () => {
          const x = (await c.api.bdbShards(BDB)).find((y) => y.uid === m.uid)!;
          return linkUp(x) || undefined;
        },
        `shard ${m.uid} back as a slave`,
        30_000,
      );
    }
  });
});
