import { compareDatabases, waitFor } from '@minirs/harness';
import {
  dockerReadiness,
  MINIRS_IMAGE,
  MinirsContainer,
  type StartedMinirsContainer,
} from '@minirs/harness/containers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Two minirs clusters, each in its own container, one a Replica Of source of the other. */

const docker = await dockerReadiness([MINIRS_IMAGE]);
if (!docker.ok) console.warn(`container-replica.test.ts skipped: ${docker.reason}`);

describe.skipIf(!docker.ok)('Replica Of between two containerised clusters', () => {
  let east: StartedMinirsContainer;
  let west: StartedMinirsContainer;
  const clients: Redis[] = [];

  beforeAll(async () => {
    // One after the other: two clusters starting at once on a loaded 2-core machine can miss the
    // manager's wait for a new shard's control socket.
    east = await new MinirsContainer(MINIRS_IMAGE)
      .withClusterName('east')
      .withNodes(2)
      .withDatabase({ name: 'orders', shards: 2 })
      .start();
    west = await new MinirsContainer(MINIRS_IMAGE)
      .withClusterName('west')
      .withNodes(1)
      .withDatabase({ name: 'copy', shards: 3 })
      .start();
  }, 240_000);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([west?.stop(), east?.stop()]);
  });

  it('the two clusters hold distinct cluster indexes', () => {
    expect(east.clusterIndex).not.toBe(west.clusterIndex);
  });

  it('replicates a 2-shard database into a 3-shard one and compares equal', async () => {
    const srcEp = await east.getEndpoint('orders');
    const src = new Redis(srcEp.url);
    clients.push(src);
    const p = src.pipeline();
    for (let i = 0; i < 500; i++) p.set(`order:{${i % 37}}:${i}`, `amount-${i}`);
    for (let i = 0; i < 10; i++) p.hset(`customer:${i}`, { name: `c${i}`, orders: String(i) });
    await p.exec();

    const sourceUrl = await east.getSourceUrl('orders');
    expect(sourceUrl).toMatch(
      new RegExp(`^redis://admin:[^@]+@127\\.0\\.${east.clusterIndex}\\.1:${srcEp.port}$`),
    );
    await west.replicaOf('copy', [sourceUrl]);
    await waitFor(async () => (await west.replicaStatus('copy')).status === 'in-sync', 'in-sync', 60_000);

    await src.set('late', 'after the full sync');
    const dstEp = await west.getEndpoint('copy');
    const dst = new Redis(dstEp.url);
    clients.push(dst);
    await waitFor(async () => (await dst.get('late')) === 'after the full sync', 'the stream');

    const cmp = await compareDatabases([srcEp.url], dstEp.url);
    expect(cmp).toMatchObject({ checked: 511, missing: 0, extra: 0, different: 0 });
  });
});
