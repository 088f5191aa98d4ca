import type { StartedMiniCluster } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expect400,
  expectSameConsumerGroups,
  expectSameData,
  newEnv,
  rawApi,
  startClusters,
  syncSourceStats,
  teardown,
  waitInSync,
  waitStatus,
  writeEveryType,
} from '@minirs/harness/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A 1-shard minirs database replicated into a 3-shard database of another cluster: data of every
 * type with TTLs written before, during (a bounded writer while the status says syncing) and after
 * the full sync ends identical; progress, lag, sync_source_stats and /metrics are populated;
 * compression shrinks what crosses the link; bad configurations are refused and change nothing.
 */

const env: Env = newEnv('rod');
let east: StartedMiniCluster;
let west: StartedMiniCluster;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
  await Promise.all([
    east.createDb({ name: 'src', memory: '200mb' }),
    west.createDb({ name: 'dst', shards: 3 }),
  ]);
});

afterAll(async () => {
  await teardown(env);
});

describe('Replica Of data', () => {
  it('replicates every type with TTLs written before, during and after the full sync', async () => {
    const src = await dbClient(env, east, 'src');
    const dst = await west.db('dst');
    // Before: ~1.5 MB, so a throttled full sync lasts long enough to write during it.
    await writeEveryType(src, 'pre', 3000, 400);
    const absAt = Date.now() + 900_000;
    await src.set('abs:pre', '1');
    await src.pexpireat('abs:pre', absAt);

    const throttle = await west.api.createFault({
      kind: 'bandwidth',
      target: `syncer:${dst.uid}`,
      kbps: 4000,
    });
    let healed = false;
    await west.replicaOf('dst', ['east/src']);
    const t0 = Date.now();
    let writtenDuringTransfer = 0;
    let midway: { rdb_size: number; rdb_transferred: number; progress: number } | undefined;
    for (let round = 0; round < 300; round++) {
      const b = await west.api.getBdb(dst.uid);
      const s = b.replica_sources[0]!;
      if (s.status !== 'syncing') break;
      const transferring = s.rdb_transferred > 0;
      await writeEveryType(src, `during${round}`, 12);
      const after = (await west.api.getBdb(dst.uid)).replica_sources[0]!;
      if (transferring && after.status === 'syncing') writtenDuringTransfer += 12;
      if (after.status === 'syncing' && after.rdb_size > 0 && after.rdb_transferred > 0) {
        const progress = (await west.replicaStatus('dst')).sources[0]!.progress;
        if (after.rdb_transferred < after.rdb_size && !midway)
          midway = { rdb_size: after.rdb_size, rdb_transferred: after.rdb_transferred, progress };
      }
      if (midway && writtenDuringTransfer >= 120) {
        // Enough seen: let the full sync run at full speed, and stop writing.
        await west.api.deleteFault(throttle.id);
        healed = true;
        break;
      }
    }
    if (!healed) await west.api.deleteFault(throttle.id);
    console.log(
      `full sync progress seen midway: ${JSON.stringify(midway)}; keys written during it: ${writtenDuringTransfer}`,
    );
    expect(midway, 'a status with 0 < rdb_transferred < rdb_size while syncing').toBeDefined();
    expect(midway!.progress).toBeGreaterThanOrEqual(0);
    expect(midway!.progress).toBeLessThan(100);
    expect(writtenDuringTransfer).toBeGreaterThan(0);

    await waitInSync(west, 'dst');
    const t1 = Date.now();
    console.log(`in-sync ${t1 - t0} ms after replica-of`);
    await writeEveryType(src, 'post', 600);
    await src.set('abs:post', '1');
    await src.pexpireat('abs:post', absAt + 1);
    await src.incrby('counter', 41);
    await src.incr('counter');
    const st = await waitStatus(
      west,
      'dst',
      (s) =>
        s.status === 'in-sync' && !!s.sources[0]!.last_update && Date.parse(s.sources[0]!.last_update!) >= t1,
      'to apply the writes made after the full sync',
    );
    const s0 = st.sources[0]!;
    expect(s0.progress).toBe(100);
    expect(s0.lag).toBeGreaterThanOrEqual(0);
    expect(s0.last_error).toBe('');
    console.log(`in-sync: lag ${s0.lag} ms, last_update ${s0.last_update}`);

    const cmp = await expectSameData([await east.sourceUrl('src')], await dbUri(west, 'dst'));
    expect(cmp.checked).toBeGreaterThanOrEqual(3000 + 600 + writtenDuringTransfer);
    const d = await dbClient(env, west, 'dst');
    expect(await d.dbsize()).toBe(await src.dbsize());
    expect(await d.get('counter')).toBe('42');
    // TTLs carry over as absolute times, through the RDB and through the stream.
    expect(await d.pexpiretime('abs:pre')).toBe(await src.pexpiretime('abs:pre'));
    expect(await d.pexpiretime('abs:post')).toBe(await src.pexpiretime('abs:post'));
    await expectSameConsumerGroups(src, d, 'pre', 3000);
    await expectSameConsumerGroups(src, d, 'post', 600, false);
  });

  it('reports sync_source_stats in the RS shape and the bdb_replicaof_syncer_* metrics', async () => {
    const dst = await west.db('dst');
    const stats = await syncSourceStats(west, dst.uid);
    expect(stats).toHaveLength(1);
    const s = stats[0]!;
    expect(s.uid).toBe('1');
    expect(s.status).toBe('in-sync');
    expect(s.intervals.length).toBeGreaterThan(0);
    expect(s.intervals[0]!).toMatchObject({
      interval: expect.any(String),
      stime: expect.any(String),
      etime: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(s.intervals[0]!.stime))).toBe(false);
    const iv = s.totals;
    expect(iv.ingress_bytes).toBeGreaterThan(1_000_000);
    // No compression: what arrived is what was decompressed.
    expect(iv.ingress_bytes_decompressed).toBe(iv.ingress_bytes);
    expect(iv.local_ingress_lag_time).toBeGreaterThanOrEqual(0);
    expect(iv.full_syncs).toBe(1);
    expect(iv.lag_samples.length).toBeGreaterThan(0);

    const m = await rawApi(west, 'GET', '/metrics');
    expect(m.status).toBe(200);
    const text = String(m.body.text);
    const line = (name: string) =>
      new RegExp(`^${name}\\{[^}]*bdb="${dst.uid}"[^}]*source="1"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1];
    expect(line('bdb_replicaof_syncer_status')).toBe('0');
    expect(Number(line('bdb_replicaof_syncer_local_ingress_lag_time'))).toBeGreaterThanOrEqual(0);
    expect(Number(line('bdb_replicaof_syncer_ingress_bytes'))).toBeGreaterThan(1_000_000);
    expect(Number(line('bdb_replicaof_syncer_ingress_bytes_decompressed'))).toBeGreaterThan(1_000_000);
  });

  it('compresses the link with compression 6: fewer bytes in than decompressed, same data', async () => {
    const c = await west.createDb({ name: 'cdst', shards: 2 });
    await west.replicaOf('cdst', ['east/src'], { compression: 6 });
    expect((await west.api.getBdb(c.uid)).replica_sources[0]!.compression).toBe(6);
    let t = Date.now();
    await waitInSync(west, 'cdst');
    console.log(`compressed full sync in-sync after ${Date.now() - t} ms`);
    t = Date.now();
    const src = await dbClient(env, east, 'src');
    await writeEveryType(src, 'zip', 120, 200);
    await expectSameData([await east.sourceUrl('src')], await dbUri(west, 'cdst'));
    console.log(`compressed compare clean after ${Date.now() - t} ms`);
    const iv = (await syncSourceStats(west, c.uid))[0]!.totals;
    console.log(`compression 6: ${iv.ingress_bytes} bytes in, ${iv.ingress_bytes_decompressed} decompressed`);
    expect(iv.ingress_bytes).toBeGreaterThan(0);
    expect(iv.ingress_bytes).toBeLessThan(iv.ingress_bytes_decompressed);
  });
});

describe('Replica Of configuration errors', () => {
  it('refuses self-replication, cycles, malformed URIs and wrong admin passwords, changing nothing', async () => {
    const [va] = await Promise.all([
      west.createDb({ name: 'va' }),
      west.createDb({ name: 'vb' }),
      west.createDb({ name: 'vc' }),
    ]);
    const vaUrl = await west.sourceUrl('va');
    const snapshot = async () =>
      (await west.api.listBdbs()).map((b) => ({
        name: b.name,
        replica_sync: b.replica_sync,
        sync_epoch: b.sync_epoch,
        uris: b.replica_sources.map((s) => s.uri),
      }));

    // va <- vb, vb <- vc are fine; va <- ... <- va is not.
    await west.replicaOf('vb', ['va']);
    await west.replicaOf('vc', ['vb']);
    const before = await snapshot();
    const put = (uri: string, extra: Record<string, unknown> = {}) =>
      west.api.updateBdb(va.uid, { replica_sources: [{ uri, ...extra }] });
    const field = 'replica_sources[0].uri';
    const vbUrl = await west.sourceUrl('vb');
    const vcUrl = await west.sourceUrl('vc');
    expect(await expect400(put(`vb:${vbUrl}`), field)).toMatch(/cycle/);
    expect(await expect400(put(`vc:${vcUrl}`), field)).toMatch(/cycle/);
    // Without the prefix the manager still recognizes its own endpoint.
    expect(await expect400(put(vcUrl), field)).toMatch(/cycle/);
    expect(await expect400(put(`va:${vaUrl}`), field)).toMatch(/itself/);
    expect(await expect400(put(vaUrl), field)).toMatch(/itself/);

    const wrong = `vb:${vbUrl.replace(/admin:[^@]*@/, 'admin:not-the-password@')}`;
    const wrongMsg = await expect400(
      west.api.updateBdb((await west.db('vc')).uid, { replica_sources: [{ uri: wrong }] }),
      field,
    );
    expect(wrongMsg).toMatch(/admin password/);
    expect(wrongMsg).not.toContain('not-the-password');

    const malformed: [string, RegExp][] = [
      ['http://127.0.0.1:1234', /malformed/],
      ['redis://127.0.0.1', /no port/],
      ['redis://127.0.0.1:99999', /malformed|invalid port/],
      ['redis://127.0.0.1:1234/3', /database 0/],
      ['redis://:%zz@127.0.0.1:1234', /URL-encoded/],
      ['redis://admin@127.0.0.1:1234', /admin password/],
      ['nosuchdb:redis://admin:secret@127.0.0.1:1234', /no database named/],
      ['not a uri at all', /malformed/],
    ];
    for (const [uri, why] of malformed) {
      const msg = await expect400(put(uri), field);
      expect(msg, uri).toMatch(why);
      expect(msg).not.toContain('secret');
    }
    expect(await expect400(put('redis://127.0.0.1:1234', { compression: 7 }), /compression/)).toMatch(
      /compression.*6/,
    );
    const twice = west.api.updateBdb(va.uid, {
      replica_sources: [{ uri: 'redis://127.0.0.1:1234' }, { uri: 'redis://127.0.0.1:1234' }],
    });
    expect(await expect400(twice, 'replica_sources[1].uri')).toMatch(/twice/);
    expect(await expect400(west.api.updateBdb(va.uid, { replica_sync: 'enabled' }), 'replica_sync')).toMatch(
      /without replica_sources/,
    );
    expect(await snapshot()).toEqual(before);
    expect(west.processes().has(`syncer-${va.uid}`)).toBe(false);
  });
});
