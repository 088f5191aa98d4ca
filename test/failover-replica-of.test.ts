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
 * Replica Of through a source failover (PSYNC2): the source database is replicated; its master's
 * node crashes; the slave is promoted (its replid2 continues the old master's history) and the
 * syncer's link to that shard resumes with a partial resync through the source proxy (MINIRS.LINK
 * of the old shard uid reaches the new master of its slots). The compare is clean.
 */

const env: Env = newEnv('frof');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let src: Redis;
const SRC = 2; // the source's master on east node 2, its slave on node 1 (where the source URI points)

beforeAll(async () => {
  [east, west] = await startClusters(env, ['feast', 'fwest'], 2);
});

afterAll(async () => {
  if (east) await east.faults.healAll().catch(() => {});
  await teardown(env);
});

const linkUp = (s: ShardView) =>
  s.role === 'slave' && (s.redis_info as Record<string, unknown>).master_link_status === 'up';

async function syncCounts(c: StartedMiniCluster, bdb: number): Promise<{ full: number; partial: number }> {
  const iv = (await syncSourceStats(c, bdb))[0]!.totals;
  return { full: iv.full_syncs, partial: iv.partial_syncs };
}

describe('Replica Of through a source failover', () => {
  it('resumes with a partial resync against the promoted slave', async () => {
    await east.api.createBdb({ name: 'src', uid: SRC, replication: true });
    await east.api.waitForBdb(SRC, (b) => b.status === 'active', 'it to become active');
    await waitFor(async () => (await east.api.bdbShards(SRC)).some(linkUp) || undefined, 'the slave linked', 30_000);
    await west.createDb({ name: 'dst' });
    src = await dbClient(env, east, 'src');
    await writeEveryType(src, 'a', 200);
    const dstUid = (await west.replicaOf('dst', ['feast/src'])).uid;
    await waitInSync(west, 'dst');
    const srcUri = await dbUri(east, 'src');
    const dstUri = await dbUri(west, 'dst');
    await expectSameData([srcUri], dstUri);
    // Everything the syncer has is on the slave too before the crash.
    await src.set('marker', '1');
    expect(Number(await src.call('WAIT', '1', '5000'))).toBe(1);
    await waitInSync(west, 'dst');
    const before = await syncCounts(west, dstUid);

    await east.faults.kill('node:2');
    await waitFor(
      async () => ((await east.api.getBdb(SRC)) as unknown as { failovers: unknown[] }).failovers?.length === 1 || undefined,
      'the source failover',
      30_000,
    );
    await writeEveryType(src, 'b', 100);
    await waitFor(
      async () => {
        const n = await syncCounts(west, dstUid);
        return n.partial > before.partial || n.full > before.full ? n : undefined;
      },
      'the link to resume',
      60_000,
    );
    await waitInSync(west, 'dst');
    await expectSameData([srcUri], dstUri);
    const after = await syncCounts(west, dstUid);
    console.log(`failover-replica-of: syncs before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    expect(after.full).toBe(before.full);
    expect(after.partial).toBeGreaterThan(before.partial);
  });
});
