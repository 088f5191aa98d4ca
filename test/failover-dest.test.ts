import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  startClusters,
  syncSourceStats,
  teardown,
  waitInSync,
  writeEveryType,
} from '@minirs/harness/vitest';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Replica Of through a destination failover: the destination database is replicated; the node of
 * its master shard crashes while the source takes writes. The syncer's writes fail for a moment
 * (the proxy answers errors for the dead shard, the syncer retries them), the slave is promoted,
 * and the sync goes on without a full resync: the compare is clean. (A kill on loopback loses no
 * write the old master had answered: its replication stream left with its replies. Writes a
 * partitioned destination master answered before its fence closed would be lost without a full
 * resync: the syncer does not WAIT; see the cluster-manager README.)
 */

const env: Env = newEnv('fdst');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let src: Redis;
const DST = 2;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['deast', 'dwest'], 2);
});

afterAll(async () => {
  if (west) await west.faults.healAll().catch(() => {});
  await teardown(env);
});

const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

async function syncCounts(c: StartedMiniCluster, bdb: number): Promise<{ full: number; partial: number }> {
  const iv = (await syncSourceStats(c, bdb))[0]!.totals;
  return { full: iv.full_syncs, partial: iv.partial_syncs };
}

describe('Replica Of through a destination failover', () => {
  it('goes on without a full resync and the compare is clean', async () => {
    await east.createDb({ name: 'src' });
    await west.api.createBdb({ name: 'dst', uid: DST, replication: true });
    await west.api.waitForBdb(DST, (b) => b.status === 'active', 'active');
    await waitFor(async () => (await west.api.bdbShards(DST)).some(linkUp) || undefined, 'slave linked', 30_000);
    src = await dbClient(env, east, 'src');
    await writeEveryType(src, 'a', 200);
    await west.replicaOf('dst', ['deast/src']);
    await waitInSync(west, 'dst');
    const before = await syncCounts(west, DST);
    // A bounded writer on the source, running across the destination's failover.
    const w = { stop: false, n: 0 };
    const writer = (async () => {
      for (let i = 0; i < 5000 && !w.stop; i++) {
        await src.set(`w:${i}`, String(i));
        w.n = i + 1;
        await new Promise((r) => setTimeout(r, 2)); // paced
      }
    })();
    await waitFor(async () => w.n >= 100 || undefined, 'source writes under way', 20_000);
    await west.faults.kill('node:2');
    await waitFor(
      async () => ((await west.api.getBdb(DST)) as unknown as { failovers: unknown[] }).failovers?.length === 1 || undefined,
      'the destination failover',
      30_000,
    );
    const at = w.n;
    await waitFor(async () => w.n >= at + 200 || undefined, 'more source writes after the failover', 30_000);
    w.stop = true;
    await writer;
    await waitInSync(west, 'dst');
    const after = await syncCounts(west, DST);
    console.log(`failover-dest: syncs before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    await expectSameData([await dbUri(east, 'src')], await dbUri(west, 'dst'));
    expect(after.full).toBe(before.full);
  });
});
