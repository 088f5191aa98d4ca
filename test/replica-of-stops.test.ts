import { execFile } from 'node:child_process';
import type { StartedMiniCluster } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  startClusters,
  teardown,
  waitInSync,
  waitStatus,
  writeEveryType,
} from '@minirs/harness/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The errors that need a person stop the sync (`replica_sync: stopped`) with a `last_error` that
 * names the source, the command or key, and what to do: authentication (admin password
 * regenerated, or wrong from the start), CROSSSLOT on a sharded destination, OOM on the
 * destination. Restarting a stopped sync flushes the destination and starts over, ending identical.
 */

const env: Env = newEnv('rst');
let east: StartedMiniCluster;
let west: StartedMiniCluster;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
  await Promise.all([
    east.createDb({ name: 'asrc' }),
    east.createDb({ name: 'csrc' }),
    east.createDb({ name: 'osrc' }),
    west.createDb({ name: 'adst', shards: 2 }),
    west.createDb({ name: 'cdst', shards: 3 }),
    west.createDb({ name: 'odst', shards: 2 }),
  ]);
});

afterAll(async () => {
  await teardown(env);
});

/** Runs the built `minirs` CLI against the test's MINIRS_HOME. */
function run(args: string[], home: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['packages/cli/dist/main.js', ...args],
      { env: { ...process.env, MINIRS_HOME: home }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const stopped = (c: StartedMiniCluster, db: string, what: string) =>
  waitStatus(c, db, (s) => s.replica_sync === 'stopped' && s.sources.some((x) => x.last_error !== ''), what);

/** Re-enable a stopped sync; the destination is flushed and fully resynced. */
async function restartSync(c: StartedMiniCluster, db: string): Promise<void> {
  const b = await c.db(db);
  const epoch = b.sync_epoch;
  const after = await c.api.updateBdb(b.uid, { replica_sync: 'enabled' });
  expect(after.replica_sync).toBe('enabled');
  expect(after.sync_epoch).toBe(epoch + 1);
}

describe('stop-worthy errors', () => {
  it('stops on an authentication error after reset_admin_pass, and recovers with the new URI', async () => {
    const src = await dbClient(env, east, 'asrc');
    await writeEveryType(src, 'a', 120);
    const asrc = await east.db('asrc');
    const srcHostPort = `${asrc.endpoints[0]!.addr[0]}:${asrc.port}`;
    await west.replicaOf('adst', ['east/asrc']);
    await waitInSync(west, 'adst');

    await east.api.resetAdminPass(asrc.uid);
    // A destination keeps its old URI: it must notice, even with no write flowing.
    const st = await stopped(west, 'adst', 'to stop on the regenerated admin password');
    const err = st.sources[0]!.last_error;
    console.log(`auth stop: ${err}`);
    expect(err).toMatch(/WRONGPASS|auth|password/i);
    expect(err).toContain(srcHostPort);
    expect(err).toMatch(/^source 1 /);
    expect(err).not.toContain(asrc.authentication_admin_pass);
    expect(st.status).toBe('stopped');
    // What `minirs status` shows a person.
    const cli = await run(['status', 'west', 'adst'], env.home);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/Sync stopped: source 1 .*WRONGPASS/);

    // Writes while stopped are not lost: the new URI restarts the sync from scratch.
    await writeEveryType(src, 'while-stopped', 60);
    const dst = await dbClient(env, west, 'adst');
    await dst.set('written-on-destination', '1');
    await west.replicaOf('adst', ['east/asrc']);
    await waitInSync(west, 'adst');
    await expectSameData([await east.sourceUrl('asrc')], await dbUri(west, 'adst'));
    expect(await dst.exists('written-on-destination')).toBe(0);
  });

  it('pauses on request, and resuming flushes and starts over', async () => {
    const src = await dbClient(env, east, 'asrc');
    const adst = await west.db('adst');
    await waitInSync(west, 'adst');
    await west.api.updateBdb(adst.uid, { replica_sync: 'paused' });
    const st = await waitStatus(west, 'adst', (s) => s.status === 'paused', 'to be paused');
    expect(st.replica_sync).toBe('paused');
    await src.set('while-paused', '1');
    const dst = await dbClient(env, west, 'adst');
    await dst.set('written-on-destination', '1');
    // Paused means nothing flows.
    await new Promise((r) => setTimeout(r, 500));
    expect(await dst.exists('while-paused')).toBe(0);
    await restartSync(west, 'adst');
    await waitInSync(west, 'adst');
    await expectSameData([await east.sourceUrl('asrc')], await dbUri(west, 'adst'));
    expect(await dst.get('while-paused')).toBe('1');
    expect(await dst.exists('written-on-destination')).toBe(0);
  });

  it('stops on a wrong admin password of another cluster, naming the source', async () => {
    const good = await east.sourceUrl('asrc');
    const wrong = good.replace(/admin:[^@]*@/, 'admin:wrong-password@');
    const d = await west.createDb({ name: 'wdst' });
    // Another cluster's password cannot be checked by this cluster's API: the syncer finds out.
    await west.api.updateBdb(d.uid, { replica_sources: [{ uri: wrong }] });
    const st = await stopped(west, 'wdst', 'to stop on the wrong password');
    expect(st.sources[0]!.last_error).toMatch(/WRONGPASS|auth|password/i);
    expect(st.sources[0]!.last_error).not.toContain('wrong-password');
    expect(st.sources[0]!.last_error).toMatch(/source 1|redis:\/\/admin:\*\*\*@/);
  });

  it('stops on CROSSSLOT from the sharded destination; a restart flushes and ends identical', async () => {
    const src = await dbClient(env, east, 'csrc');
    await writeEveryType(src, 'c', 120);
    await west.replicaOf('cdst', ['east/csrc']);
    await waitInSync(west, 'cdst');

    // One slot per key: fine on the 1-shard source, CROSSSLOT through the 3-shard destination.
    const multi = await src.multi().set('{x}k1', '1').set('{y}k2', '2').exec();
    expect(multi?.map(([e]) => e)).toEqual([null, null]);
    let st = await stopped(west, 'cdst', 'to stop on CROSSSLOT (MULTI/EXEC)');
    let err = st.sources[0]!.last_error;
    console.log(`CROSSSLOT stop: ${err}`);
    expect(err).toMatch(/CROSSSLOT/);
    expect(err).toMatch(/source 1/);
    expect(err).toMatch(/\{x\}k1|\{y\}k2|EXEC|MULTI/);
    expect(err).toMatch(/hash slot.*restart the sync/);

    const dst = await dbClient(env, west, 'cdst');
    await dst.set('written-on-destination', '1');
    await restartSync(west, 'cdst');
    await waitInSync(west, 'cdst');
    await expectSameData([await east.sourceUrl('csrc')], await dbUri(west, 'cdst'));
    expect(await dst.get('{y}k2')).toBe('2');
    expect(await dst.exists('written-on-destination')).toBe(0);

    // A multi-key command across slots stops it too.
    await src.sadd('{x}s1', 'a', 'b');
    await src.sadd('{y}s2', 'c');
    await src.sunionstore('{z}s3', '{x}s1', '{y}s2');
    st = await stopped(west, 'cdst', 'to stop on CROSSSLOT (SUNIONSTORE)');
    err = st.sources[0]!.last_error;
    expect(err).toMatch(/CROSSSLOT/);
    expect(err).toMatch(/SUNIONSTORE/);
    await restartSync(west, 'cdst');
    await waitInSync(west, 'cdst');
    await expectSameData([await east.sourceUrl('csrc')], await dbUri(west, 'cdst'));
    expect((await dst.smembers('{z}s3')).sort()).toEqual(['a', 'b', 'c']);

    // A script is replicated as its effects in a transaction: across slots, it stops the sync too.
    await src.eval("redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '2')", 2, '{x}e1', '{y}e2');
    st = await stopped(west, 'cdst', 'to stop on CROSSSLOT (script)');
    expect(st.sources[0]!.last_error).toMatch(/CROSSSLOT.*\{[xy]\}e[12]|\{[xy]\}e[12].*CROSSSLOT/);
    await restartSync(west, 'cdst');
    await waitInSync(west, 'cdst');
    await expectSameData([await east.sourceUrl('csrc')], await dbUri(west, 'cdst'));
  });

  it('stops on OOM at the destination; healed and restarted, it ends identical', async () => {
    const src = await dbClient(env, east, 'osrc');
    await writeEveryType(src, 'o', 120);
    const odst = await west.db('odst');
    await west.replicaOf('odst', ['east/osrc']);
    await waitInSync(west, 'odst');

    const oom = await west.api.createFault({ kind: 'oom', target: `bdb:${odst.uid}`, bytes: 1 });
    await writeEveryType(src, 'more', 60, 2000);
    const st = await stopped(west, 'odst', 'to stop on OOM');
    const err = st.sources[0]!.last_error;
    console.log(`OOM stop: ${err}`);
    expect(err).toMatch(/OOM/);
    expect(err).toMatch(/source 1/);
    expect(err).toMatch(/more:\d+/);
    expect(err).toMatch(/memory_size.*restart the sync/);

    await west.api.deleteFault(oom.id);
    await restartSync(west, 'odst');
    await waitInSync(west, 'odst');
    await expectSameData([await east.sourceUrl('osrc')], await dbUri(west, 'odst'));
  });
});
