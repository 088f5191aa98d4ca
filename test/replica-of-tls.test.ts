import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  compareDatabases,
  killProcessesUnder,
  MiniCluster,
  removeHome,
  type StartedMiniCluster,
  tmpHome,
  waitFor,
} from '@minirs/harness';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Replica Of over TLS, as RS sets it up: the source database requires TLS for replication
 * (`replica_ssl`) and trusts the destination cluster's syncer certificate; the destination pins
 * the source cluster's proxy certificate. With compression on top.
 */

const home = tmpHome('tls');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
const clients: Redis[] = [];

beforeAll(async () => {
  [east, west] = await Promise.all([
    new MiniCluster('east').withNodes(2).withHome(home).start(),
    new MiniCluster('west').withNodes(2).withHome(home).start(),
  ]);
  const syncerCert = readFileSync(join(west.paths.dir, 'certs', 'syncer.pem'), 'utf8');
  await east.createDb({ name: 'src', shards: 2, tls: 'replica_ssl' });
  const src = await east.db('src');
  await east.api.updateBdb(src.uid, {
    authentication_ssl_client_certs: [{ client_cert: syncerCert }],
  } as never);
  await east.createDb({ name: 'locked', shards: 1, tls: 'replica_ssl' });
  // Trusts only east's own syncer: west's is not on the list.
  const locked = await east.db('locked');
  const eastSyncer = readFileSync(join(east.paths.dir, 'certs', 'syncer.pem'), 'utf8');
  await east.api.updateBdb(locked.uid, {
    authentication_ssl_client_certs: [{ client_cert: eastSyncer }],
  } as never);
  await west.createDb({ name: 'dst', shards: 3 });
  await west.createDb({ name: 'dst2', shards: 1 });
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.allSettled([east?.delete(), west?.delete()]);
  killProcessesUnder(home);
  removeHome(home);
});

async function client(c: StartedMiniCluster, db: string): Promise<Redis> {
  const ep = await c.endpoint(db);
  const r = new Redis({ host: ep.host, port: ep.port, password: ep.password, maxRetriesPerRequest: 2 });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

describe('Replica Of over TLS', () => {
  it('syncs through an encrypted, compressed link and stays identical', async () => {
    const s = await client(east, 'src');
    for (let i = 0; i < 2000; i++) await s.set(`k${i}`, `value-${i}-`.repeat(10));
    await s.hset('h', 'a', '1', 'b', '2');
    await west.replicaOf('dst', ['east/src'], { encryption: true, compression: 6 });
    const dst = await west.db('dst');
    await waitFor(
      async () => (await west.replicaStatus('dst')).status === 'in-sync',
      'in-sync over TLS',
      60_000,
    );
    await s.incrby('counter', 5);
    const d = await client(west, 'dst');
    await waitFor(async () => (await d.get('counter')) === '5', 'the stream over TLS');
    // Ordinary clients may stay plaintext on a replica_ssl database; only replication needs TLS.
    const sep = await east.endpoint('src');
    const ep = await west.endpoint('dst');
    const r = await compareDatabases([`redis://${sep.host}:${sep.port}`], `redis://${ep.host}:${ep.port}`);
    expect(r).toMatchObject({ missing: 0, extra: 0, different: 0 });
    const stats = (await west.api.syncSourceStats(dst.uid)) as {
      sync_source_stats: { totals: { ingress_bytes: number; ingress_bytes_decompressed: number } }[];
    };
    const iv = stats.sync_source_stats[0]!.totals;
    console.log(
      `TLS + gzip 6: ingress ${iv.ingress_bytes} B, decompressed ${iv.ingress_bytes_decompressed} B`,
    );
    expect(iv.ingress_bytes).toBeLessThan(iv.ingress_bytes_decompressed);
  });

  it('refuses plaintext replication to a replica_ssl database', async () => {
    const ep = await east.endpoint('src');
    const admin = (await east.db('src')).authentication_admin_pass;
    const r = new Redis({ host: ep.host, port: ep.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    clients.push(r);
    await r.connect();
    await expect(r.call('AUTH', 'admin', admin)).rejects.toThrow(/over TLS only/);
    await expect(r.call('MINIRS.SHARDS')).rejects.toThrow(/NOPERM/);
  });

  it('stops with a TLS error when the source does not trust this cluster, and names the fix', async () => {
    await west.replicaOf('dst2', ['east/locked'], { encryption: true });
    const dst2 = await west.db('dst2');
    const b = await waitFor(
      async () => {
        const x = await west.api.getBdb(dst2.uid);
        return x.replica_sync === 'stopped' ? x : undefined;
      },
      'the sync to stop',
      30_000,
    ).catch(async (err) => {
      console.log(readFileSync(join(west.paths.dir, 'logs', `syncer-${dst2.uid}.log`), 'utf8').slice(-3000));
      throw err;
    });
    expect(b.replica_sources[0]!.last_error).toMatch(/TLS|certificate|SSL/i);
  });
});
