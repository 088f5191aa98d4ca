/**
 * A sample of how an application's own vitest suite uses the minirs harness for failure
 * injection (copy it as a start): two clusters, Replica Of between them, a silent partition
 * between the clusters, and the checks an application would make once it is healed.
 * Only @minirs/harness is imported, as a user's suite would.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compare, MiniCluster, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';

const kernel = process.getuid?.() === 0 && spawnSync('nft', ['list', 'tables'], { stdio: 'ignore' }).status === 0;
if (!kernel) console.log('faults-sample: skipped (kernel network faults need root and nftables)');

const home = mkdtempSync(join('/tmp', 'mrs-smp-'));
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let app: Redis;

beforeAll(async () => {
  if (!kernel) return;
  [east, west] = await Promise.all([
    new MiniCluster('east').withNodes(1).withHome(home).start(),
    new MiniCluster('west').withNodes(1).withHome(home).start(),
  ]);
  await east.createDb({ name: 'orders' });
  await west.createDb({ name: 'orders-replica' });
  await west.replicaOf('orders-replica', ['east/orders']);
  const ep = await east.endpoint('orders');
  app = new Redis({ host: ep.host, port: ep.port });
});

afterAll(async () => {
  app?.disconnect();
  await Promise.allSettled([east?.delete(), west?.delete()]);
  rmSync(home, { recursive: true, force: true });
});

it.skipIf(!kernel)('the replica catches up after a partition between the clusters', async () => {
  await waitFor(async () => (await west.replicaStatus('orders-replica')).status === 'in-sync', 'in-sync');

  const partition = await west.faults.partition('peer:east'); // silent: packets dropped
  await waitFor(async () => (await west.replicaStatus('orders-replica')).status === 'out-of-sync', 'out-of-sync');
  for (let i = 0; i < 100; i++) await app.hset(`order:${i}`, 'state', 'paid'); // the application goes on
  await partition.heal();

  await waitFor(async () => (await west.replicaStatus('orders-replica')).status === 'in-sync', 'in-sync again');
  const src = await east.endpoint('orders');
  const dst = await west.endpoint('orders-replica');
  const diff = await waitFor(async () => {
    const r = await compare([`redis://${src.host}:${src.port}`], `redis://${dst.host}:${dst.port}`);
    return r.missing + r.extra + r.different === 0 ? r : undefined;
  }, 'the replica to equal the source');
  expect(diff.checked).toBe(100);
});
