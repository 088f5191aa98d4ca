import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  startClusters,
  syncerLog,
  syncSourceStats,
  teardown,
  waitInSync,
  writeEveryType,
} from '@minirs/harness/vitest';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 10's gap, closed by issue 15's checkpoints: the destination is replicated and its master
 * fails over to a slave that lags what the syncer wrote (the slave was frozen while the stream
 * ran, then the master's redis-server was killed with its replication buffer unsent). The
 * syncer's checkpoints are in the same MULTI as its writes, so the promoted slave's checkpoint
 * matches its data: the syncer re-reads it and resumes from there. No write lost, none doubled
 * (INCR counters exact), no full resync.
 */

const env: Env = newEnv('fdlag');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let src: Redis;
const DST = 2;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['lageast', 'lagwest'], 2);
});

afterAll(async () => {
  if (west) await west.faults.healAll().catch(() => {});
  await teardown(env);
});

const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

describe('Replica Of through a destination failover to a lagging slave', () => {
  it('resumes from the promoted slave checkpoint: counters exact, no full resync', async () => {
    await east.createDb({ name: 'src', memory: '300mb' });
    await west.api.createBdb({ name: 'dst', uid: DST, replication: true, memory_size: 300 * 1024 * 1024 });
    await west.api.waitForBdb(DST, (b) => b.status === 'active', 'active');
    await waitFor(
      async () => (await west.api.bdbShards(DST)).some(linkUp) || undefined,
      'slave linked',
      30_000,
    );
    src = await dbClient(env, east, 'src');
    await writeEveryType(src, 'a', 200);
    await west.replicaOf('dst', ['lageast/src']);
    await waitInSync(west, 'dst');
    const fullBefore = (await syncSourceStats(west, DST))[0]!.totals.full_syncs;
    // Bounded writer: INCR counters (exact or not) and 16 KB values (volume that outgrows the
    // socket buffers, so the killed master's unsent replication buffer is lost).
    const big = 'x'.repeat(16384);
    const w = { stop: false, n: 0 };
    const writer = (async () => {
      for (let i = 0; i < 20_000 && !w.stop; i++) {
        const r = await src
          .pipeline()
          .incr(`ctr:${i % 4}`)
          .set(`big:${i % 500}`, `${i}:${big}`)
          .exec();
        if (r?.every(([e]) => !e)) w.n++;
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    await waitFor(() => w.n >= 100 || undefined, 'source writes under way', 20_000);
    const shards = await west.api.bdbShards(DST);
    const master = shards.find((s) => s.role === 'master')!;
    const slave = shards.find((s) => s.role === 'slave')!;
    // The slave stops reading its master's stream; the syncer's writes go on to the master.
    const pause = await west.api.createFault({ kind: 'pause', target: `redis:${slave.uid}` });
    const atPause = w.n;
    await waitFor(() => w.n >= atPause + 600 || undefined, 'writes while the slave is frozen', 30_000);
    await west.api.createFault({ kind: 'kill', target: `redis:${master.uid}` });
    await west.api.deleteFault(pause.id);
    await waitFor(
      async () =>
        ((await west.api.getBdb(DST)) as unknown as { failovers: unknown[] }).failovers?.length === 1 ||
        undefined,
      'the destination failover',
      30_000,
    );
    const at = w.n;
    await waitFor(() => w.n >= at + 200 || undefined, 'more source writes after the failover', 30_000);
    w.stop = true;
    await writer;
    await waitInSync(west, 'dst');
    await expectSameData([await dbUri(east, 'src')], await dbUri(west, 'dst'));
    const dst = await dbClient(env, west, 'dst');
    let a = 0;
    let b = 0;
    for (let i = 0; i < 4; i++) {
      a += Number(await src.get(`ctr:${i}`));
      b += Number(await dst.get(`ctr:${i}`));
    }
    const log = syncerLog(west, DST);
    for (const l of log.filter((x) => x.msg === 'starting full sync' || x.msg === 'resuming the sync'))
      console.log(`failover-dest-lag: ${l.msg}: ${String(l.reason)}`);
    const plans = log.filter((l) => l.msg === 'resume plan');
    console.log(
      `failover-dest-lag: ${w.n} writes; resume plans: ${plans.map((p) => `applied before ${p.applied_before}, resumed from ${p.resume_from}`).join('; ')}`,
    );
    expect(b).toBe(a);
    expect(a).toBe(w.n);
    expect((await syncSourceStats(west, DST))[0]!.totals.full_syncs).toBe(fullBefore);
    expect(plans.length).toBeGreaterThan(0);
  });
});
