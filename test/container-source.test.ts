import { MiniCluster, type StartedMiniCluster } from '@minirs/cli';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killProcessesUnder, removeHome, tmpHome, waitFor } from './helpers/cluster.js';

/**
 * Replica Of from a Redis running in a container (testcontainers), the way users point minirs
 * at a dockerised Redis. Needs a Docker engine; without one the file is skipped with a message,
 * and the same path is covered with local redis-server processes by replica-of-sources.test.ts.
 */

async function dockerEngine(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await Promise.race([
      getContainerRuntimeClient(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
    return client.info.containerRuntime.host;
  } catch {
    return undefined;
  }
}

const engine = await dockerEngine();
if (!engine) {
  console.warn(
    'container-source.test.ts skipped: no Docker engine answers here. The same Replica Of path runs against local redis-server processes in test/replica-of-sources.test.ts.',
  );
}

describe.skipIf(!engine)('Replica Of from a containerised Redis (testcontainers)', () => {
  const home = tmpHome('ctr');
  let cluster: StartedMiniCluster;
  let container: { getHost(): string; getMappedPort(p: number): number; stop(): Promise<unknown> };

  beforeAll(async () => {
    const { GenericContainer } = await import('testcontainers');
    container = await new GenericContainer('redis:7')
      .withExposedPorts(6379)
      .withCommand(['redis-server', '--requirepass', 'pw'])
      .start();
    cluster = await new MiniCluster('ctr').withNodes(1).withHome(home).start();
    await cluster.createDb({ name: 'dst', shards: 2 });
  }, 180_000);

  afterAll(async () => {
    await cluster?.delete().catch(() => {});
    await container?.stop().catch(() => {});
    killProcessesUnder(home);
    removeHome(home);
  });

  it('full-syncs and streams from the container into a 2-shard database', async () => {
    const host = container.getHost();
    const port = container.getMappedPort(6379);
    const src = new Redis({ host, port, password: 'pw' });
    for (let i = 0; i < 100; i++) await src.set(`k${i}`, String(i));
    await cluster.replicaOf('dst', [`redis://:pw@${host}:${port}`]);
    await waitFor(async () => (await cluster.replicaStatus('dst')).status === 'in-sync', 'in-sync', 60_000);
    await src.incr('counter');
    const ep = await cluster.endpoint('dst');
    const dst = new Redis({ host: ep.host, port: ep.port });
    await waitFor(async () => (await dst.get('counter')) === '1', 'the stream');
    expect(await dst.dbsize()).toBe(101);
    src.disconnect();
    dst.disconnect();
  });
});
