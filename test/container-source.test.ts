import { compareDatabases, waitFor } from '@minirs/harness';
import {
  dockerReadiness,
  freeLoopbackPort,
  MINIRS_IMAGE,
  MinirsContainer,
  REDIS_IMAGE,
  type StartedMinirsContainer,
} from '@minirs/harness/containers';
import { Redis } from 'ioredis';
import type { StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * An external Redis in a container (a redis:7 equivalent) -> a minirs cluster in a container ->
 * Replica Of -> key-by-key compare. Both on the host's network, on loopback.
 */

const docker = await dockerReadiness([MINIRS_IMAGE, REDIS_IMAGE]);
if (!docker.ok) console.warn(`container-source.test.ts skipped: ${docker.reason}`);

describe.skipIf(!docker.ok)('Replica Of from a containerised Redis into a containerised cluster', () => {
  let redis: StartedTestContainer;
  let cluster: StartedMinirsContainer;
  let sourceUri: string;
  const clients: Redis[] = [];

  beforeAll(async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    const port = await freeLoopbackPort();
    // One after the other, so that afterAll stops whichever started if the other did not.
    redis = await new GenericContainer(REDIS_IMAGE)
      .withNetworkMode('host')
      .withCommand(['--bind', '127.0.0.1', '--port', String(port), '--requirepass', 'src-pw', '--save', ''])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
    cluster = await new MinirsContainer(MINIRS_IMAGE)
      .withClusterName('ctrdst')
      .withNodes(2)
      .withDatabase({ name: 'dst', shards: 2 })
      .start();
    sourceUri = `redis://:src-pw@127.0.0.1:${port}`;
  }, 240_000);

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([cluster?.stop(), redis?.stop()]);
  });

  it('the cluster keeps its own 127.0.C.N addresses', async () => {
    const ep = await cluster.getEndpoint('dst');
    expect(ep.host).toBe(`127.0.${cluster.clusterIndex}.1`);
    expect(cluster.getApiUrl()).toMatch(new RegExp(`^https://127\\.0\\.${cluster.clusterIndex}\\.1:\\d+$`));
    const bdbs = await cluster.api.listBdbs();
    expect(bdbs.map((b) => [b.name, b.shards_count])).toEqual([['dst', 2]]);
  });

  it('full-syncs, streams, and compares equal key by key', async () => {
    const src = new Redis(sourceUri);
    clients.push(src);
    const p = src.pipeline();
    for (let i = 0; i < 300; i++) p.set(`s:${i}`, `v${i}`);
    for (let i = 0; i < 20; i++) p.hset(`h:${i}`, { a: String(i), b: 'x' });
    p.rpush('list', 'a', 'b', 'c');
    p.sadd('set', 'x', 'y');
    p.zadd('zset', 1, 'one', 2, 'two');
    p.set('ttl', 'soon', 'EX', 600);
    await p.exec();

    await cluster.replicaOf('dst', [sourceUri]);
    await waitFor(async () => (await cluster.replicaStatus('dst')).status === 'in-sync', 'in-sync', 60_000);

    await src.incr('counter');
    await src.rpush('list', 'd');
    const ep = await cluster.getEndpoint('dst');
    const dst = new Redis(ep.url);
    clients.push(dst);
    await waitFor(
      async () => (await dst.get('counter')) === '1' && (await dst.llen('list')) === 4,
      'the stream',
    );

    const cmp = await compareDatabases([sourceUri], ep.url);
    expect(cmp).toMatchObject({ missing: 0, extra: 0, different: 0 });
    expect(cmp.checked).toBe(await src.dbsize());
  });
});
