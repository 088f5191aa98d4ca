import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { StartedMiniCluster } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  rawApi,
  startClusters,
  syncSourceStats,
  teardown,
  track,
  waitInSync,
  waitStatus,
} from '@minirs/harness/vitest';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Regression tests of issue 16 on real clusters: a sharded source's FLUSHALL/FLUSHDB replays
 * exactly (b), a refused write shows in status, sync_source_stats and /metrics (d), a frozen
 * syncer is noticed (f), a TLS destination receives Replica Of while refusing TLS clients
 * without a certificate (h), and an invalid POST /v1/bdbs leaves nothing behind (i).
 */

const env: Env = newEnv('trust');
let east: StartedMiniCluster;
let west: StartedMiniCluster;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
  await Promise.all([
    east.createDb({ name: 'fsrc', shards: 2 }),
    east.createDb({ name: 'psrc' }),
    west.createDb({ name: 'fdst', shards: 3 }),
    west.createDb({ name: 'pdst', shards: 2 }),
    west.createDb({ name: 'tdst', tls: 'enabled' }),
  ]);
});

afterAll(async () => {
  await teardown(env);
});

/** Pipelined SETs in bounded batches. */
async function setMany(r: Redis, prefix: string, n: number, value = 'v'): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 1000); j++) p.set(`${prefix}${j}`, value);
    await p.exec();
  }
}

describe('issue 16 on clusters', () => {
  it('(b) FLUSHALL and FLUSHDB of a 2-shard source replay once: the 3-shard destination equals the source', async () => {
    const src = await dbClient(env, east, 'fsrc');
    await west.replicaOf('fdst', ['east/fsrc']);
    await waitInSync(west, 'fdst');
    // {a} and {b} live on different shards of the source (slots 15495 and 3300). A slow link
    // makes the {a} shard's link lag behind the {b} one: its copy of the flush arrives last.
    const fdst = await west.db('fdst');
    const slow = await west.api.createFault({
      kind: 'bandwidth',
      target: `source:${fdst.uid}/${fdst.replica_sources[0]!.uid}`,
      kbps: 16_000,
    } as never);
    try {
      await setMany(src, '{a}:k', 30_000, 'x'.repeat(200));
      await src.flushall();
      await setMany(src, '{b}:k', 3000);
    } finally {
      await west.api.deleteFault(slow.id);
    }
    await expectSameData([await dbUri(east, 'fsrc')], await dbUri(west, 'fdst'));
    expect(await src.dbsize()).toBe(3000);
    await setMany(src, '{b}:m', 20_000);
    await src.flushdb();
    await setMany(src, '{a}:n', 2000);
    await src.incr('{b}:after');
    const dst = await dbClient(env, west, 'fdst');
    await expectSameData([await dbUri(east, 'fsrc')], await dbUri(west, 'fdst'));
    expect(await dst.dbsize()).toBe(2001);
    const st = await waitInSync(west, 'fdst');
    expect(st.sources[0]!.last_error).toBe('');
  });

  it('(d) a write the destination refuses shows in status, sync_source_stats and /metrics', async () => {
    const src = await dbClient(env, east, 'psrc');
    await west.replicaOf('pdst', ['east/psrc']);
    await waitInSync(west, 'pdst');
    const dst = await dbClient(env, west, 'pdst');
    await dst.rpush('clash', 'a list written on the destination only');
    await src.incr('clash');
    const st = await waitStatus(
      west,
      'pdst',
      (s) => s.sources[0]!.rejected_writes === 1,
      'the refused write to be counted',
    );
    expect(st.status).toBe('in-sync');
    expect(st.sources[0]!.last_error).toMatch(/INCR clash.*WRONGTYPE/);
    expect(st.sources[0]!.last_error_code).toBe('MINIRS_ERR_DEST_REJECTED_WRITE');
    const pdst = await west.db('pdst');
    const stats = await syncSourceStats(west, pdst.uid);
    expect((stats[0] as unknown as { totals: { rejected_writes: number } }).totals.rejected_writes).toBe(1);
    const m = await rawApi(west, 'GET', '/metrics');
    const text = String(m.body.text);
    expect(text).toMatch(
      new RegExp(`bdb_replicaof_syncer_rejected_writes\\{[^}]*bdb="${pdst.uid}"[^}]*\\} 1`),
    );
    // The source's DEL replaces the destination's list: both sides agree again.
    await src.del('clash');
  });

  it('(f) a frozen syncer is noticed within seconds: out-of-sync, last_error says so; it recovers', async () => {
    const pdst = await west.db('pdst');
    await waitInSync(west, 'pdst');
    const fault = await west.api.createFault({ kind: 'pause', target: `syncer:${pdst.uid}` } as never);
    try {
      const st = await waitStatus(
        west,
        'pdst',
        (s) => s.status === 'out-of-sync',
        'the frozen syncer to be noticed',
        15_000,
      );
      expect(st.sources[0]!.last_error).toMatch(/syncer .* has not reported/);
      expect(st.sources[0]!.last_error_code).toBe('MINIRS_ERR_SYNCER_UNRESPONSIVE');
      const src = await dbClient(env, east, 'psrc');
      for (let i = 0; i < 100; i++) await src.incr('while-frozen');
      // Still frozen: never Synced.
      expect((await west.replicaStatus('pdst')).status).toBe('out-of-sync');
    } finally {
      await west.api.deleteFault(fault.id);
    }
    await waitInSync(west, 'pdst');
    const dst = await dbClient(env, west, 'pdst');
    await expectSameData([await dbUri(east, 'psrc')], await dbUri(west, 'pdst'));
    expect(await dst.get('while-frozen')).toBe('100');
  });

  it('(h) a TLS destination receives Replica Of, and refuses a TLS client without a certificate', async () => {
    const src = await dbClient(env, east, 'psrc');
    await src.set('tls-marker', 'over tls');
    await west.replicaOf('tdst', ['east/psrc']);
    await waitInSync(west, 'tdst');
    const certs = join(west.paths.dir, 'certs');
    const ep = await west.endpoint('tdst');
    const withCert = track(
      env,
      new Redis({
        host: ep.host,
        port: ep.port,
        maxRetriesPerRequest: 1,
        tls: {
          ca: readFileSync(join(certs, 'proxy.pem'), 'utf8'),
          cert: readFileSync(join(certs, 'syncer.pem'), 'utf8'),
          key: readFileSync(join(certs, 'syncer.key'), 'utf8'),
          allowPartialTrustChain: true,
        },
      }),
    );
    expect(await withCert.get('tls-marker')).toBe('over tls');
    // No certificate at all: no answer (fail closed).
    const answer = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: ep.host, port: ep.port, rejectUnauthorized: false });
      let got = '';
      s.on('secureConnect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        got += d.toString();
      });
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
      setTimeout(() => {
        s.destroy();
        resolve(got);
      }, 5000).unref();
    });
    expect(answer).not.toMatch(/PONG/);
  });

  it('(i) POST /v1/bdbs with invalid replica_sources answers 400 and creates nothing', async () => {
    const before = (await west.api.listBdbs()).length;
    const r = await rawApi(west, 'POST', '/v1/bdbs', {
      name: 'never',
      replica_sources: [{ uri: 'redis://127.0.0.1' }],
    });
    expect(r.status).toBe(400);
    expect(String(r.body.field)).toMatch(/replica_sources/);
    const after = await west.api.listBdbs();
    expect(after.length).toBe(before);
    expect(after.some((b) => b.name === 'never')).toBe(false);
  });
});
