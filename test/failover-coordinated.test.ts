import { execFile } from 'node:child_process';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { dbClient, type Env, newEnv, rawApi, startClusters, teardown } from '@minirs/harness/vitest';
import type { FailoverRecord } from '@minirs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A coordinated failover (RS's `rladmin failover`; here `minirs db failover` and
 * POST /v1/bdbs/{uid}/actions/failover): Redis's FAILOVER on each master waits until its slave
 * has every write, then swaps them. Under a write load, no write the endpoint answered OK is lost.
 */

const env: Env = newEnv('fcoo');
let c: StartedMiniCluster;

beforeAll(async () => {
  [c] = await startClusters(env, ['fcoo'], 2);
});

afterAll(async () => {
  await teardown(env);
});

function run(args: string[], home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['packages/cli/dist/main.js', ...args],
      { env: { ...process.env, MINIRS_HOME: home }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe('coordinated failover', () => {
  it('swaps every master with its slave under a write load; no acknowledged write is lost', async () => {
    const created = await c.api.createBdb({ name: 'ha', shards_count: 2, sharding: true, replication: true });
    await c.api.waitForBdb(created.uid, (b) => b.status === 'active', 'it to become active');
    const before = await waitFor(
      async () => {
        const l = await c.api.bdbShards(created.uid);
        return l.filter(linkUp).length === 2 ? l : undefined;
      },
      'both slaves linked',
      30_000,
    );
    const r = await dbClient(env, c, 'ha');
    const acked = new Map<string, string>();
    const w = { stop: false, errors: 0 };
    const writer = (async () => {
      const deadline = Date.now() + 60_000;
      for (let i = 0; i < 100_000 && !w.stop && Date.now() < deadline; i++) {
        try {
          if ((await r.set(`k:${i}`, String(i))) === 'OK') acked.set(`k:${i}`, String(i));
        } catch {
          w.errors++;
          await new Promise((res) => setTimeout(res, 10));
        }
      }
    })();
    await waitFor(async () => acked.size >= 300 || undefined, '300 writes', 30_000);

    const out = await run(['db', 'failover', 'fcoo', 'ha', '--json'], env.home);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const fos = (JSON.parse(out.stdout) as { failovers: FailoverRecord[] }).failovers;
    expect(fos).toHaveLength(2);
    for (const f of fos) {
      const m = before.find((s) => Number(s.uid) === f.old_master_shard)!;
      const s = before.find((x) => Number(x.uid) === f.new_master_shard)!;
      expect(m.role).toBe('master');
      expect(s.role).toBe('slave');
      expect(s.assigned_slots).toBe(m.assigned_slots);
      expect(f).toMatchObject({ reason: 'coordinated failover', slave_in_sync: true });
    }
    const n = acked.size;
    await waitFor(async () => acked.size >= n + 300 || undefined, 'writes to go on after the failover', 30_000);
    w.stop = true;
    await writer;

    // The roles swapped; the old masters are in-sync slaves of the new ones.
    const after = await waitFor(
      async () => {
        const l = await c.api.bdbShards(created.uid);
        return l.filter(linkUp).length === 2 ? l : undefined;
      },
      'the old masters linked as slaves',
      30_000,
    );
    for (const f of fos) {
      expect(after.find((s) => Number(s.uid) === f.new_master_shard)!.role).toBe('master');
      expect(after.find((s) => Number(s.uid) === f.old_master_shard)!.role).toBe('slave');
    }
    const keys = [...acked.keys()];
    const values: (string | null)[] = [];
    for (let i = 0; i < keys.length; i += 500) values.push(...(await r.mget(...keys.slice(i, i + 500))));
    expect(keys.filter((k, i) => values[i] !== acked.get(k))).toEqual([]);
    console.log(`failover-coordinated: ${acked.size} writes answered OK, ${w.errors} errors, none lost`);

    // One shard only, back (by REST), and the requests it refuses.
    const one = fos[0]!.new_master_shard;
    const res = await rawApi(c, 'POST', `/v1/bdbs/${created.uid}/actions/failover`, { shard_uids: [one] });
    expect(res.status).toBe(200);
    expect((res.body as { failovers: FailoverRecord[] }).failovers).toMatchObject([
      { old_master_shard: one, new_master_shard: fos[0]!.old_master_shard },
    ]);
    const slaveUid = fos[1]!.old_master_shard; // a slave now
    const bad = await rawApi(c, 'POST', `/v1/bdbs/${created.uid}/actions/failover`, { shard_uids: [slaveUid] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain(`shard ${slaveUid} is not a master shard`);
    const plain = await c.api.createBdb({ name: 'plain' });
    const none = await rawApi(c, 'POST', `/v1/bdbs/${plain.uid}/actions/failover`, {});
    expect(none.status).toBe(409);
    expect(JSON.stringify(none.body)).toContain('has no replication');
  });
});
