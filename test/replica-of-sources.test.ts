import { RedisServer, type StartedMiniCluster, waitFor } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expect400,
  expectSameConsumerGroups,
  expectSameData,
  newEnv,
  redisUri,
  startClusters,
  syncerLog,
  teardown,
  waitInSync,
  writeEveryType,
} from '@minirs/harness/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Replica Of topologies, end to end with real processes: an external redis-server (password that
 * needs URL encoding) into a 4-shard database; three sources of the three URI forms (a sharded db
 * of another cluster, an external Redis, a db of the same cluster with the `<db name>:` prefix)
 * into one destination; 32 sources; a 33rd refused with nothing changed.
 */

const LIB_BEFORE = "#!lua name=before\nredis.register_function('ping2', function() return 'pong2' end)";
const LIB_AFTER =
  "#!lua name=after\nredis.register_function{function_name='getit', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";

const env: Env = newEnv('ros');
let east: StartedMiniCluster;
let west: StartedMiniCluster;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
});

afterAll(async () => {
  await teardown(env);
});

describe('Replica Of sources', () => {
  it('syncs an external redis-server with a URL-encoded password into a 4-shard db; only db 0', async () => {
    const password = 'p@ss:w/rd %#?&+=';
    // Pings to replicas every second, so an idle minute is a few seconds here.
    const ext = await new RedisServer().withPassword(password).withArgs('--repl-ping-replica-period', '1').start();
    env.redis.push(ext);
    const src = ext.client();
    env.clients.push(src);
    await writeEveryType(src, 'pre', 600);
    // Another logical db: counted and reported by the syncer, not replicated.
    await src.select(1);
    await src.set('db1-only', 'x');
    await src.select(0);
    // Function libraries travel with the RDB (and later ones with the stream) to every shard.
    await src.call('FUNCTION', 'LOAD', LIB_BEFORE);

    const dest = await west.createDb({ name: 'ext4', shards: 4 });
    const uri = redisUri(ext);
    expect(uri).toContain(encodeURIComponent(password));
    await west.replicaOf('ext4', [uri]);
    await writeEveryType(src, 'post', 300);
    await src.call('FUNCTION', 'LOAD', LIB_AFTER);
    const st = await waitInSync(west, 'ext4');
    expect(st.sources).toHaveLength(1);
    expect(st.sources[0]!.uri).not.toContain(encodeURIComponent(password));

    const destUri = await dbUri(west, 'ext4');
    const cmp = await expectSameData([uri], destUri);
    expect(cmp.checked).toBe(900);
    const dst = await dbClient(env, west, 'ext4');
    expect(await dst.dbsize()).toBe(900);
    expect(await dst.exists('db1-only')).toBe(0);
    await expectSameConsumerGroups(src, dst, 'pre', 600);
    // The keys really spread over the destination's 4 shards.
    const perShard = (await west.api.listShards()).filter((s) => s.bdb_uid === dest.uid);
    expect(perShard).toHaveLength(4);
    // Through the proxy, FCALL goes to each key's shard: every shard has both libraries.
    await waitFor(
      async () => (await dst.call('FCALL', 'getit', 1, 'pre:0:str')) !== null,
      'the streamed library',
    );
    for (const key of ['pre:0:str', 'pre:6:str', 'pre:12:str', 'pre:18:str', 'pre:24:str', 'pre:30:str']) {
      expect(await dst.call('FCALL', 'getit', 1, key), key).toBe(await src.get(key));
    }
    expect(await dst.call('FCALL', 'ping2', 0)).toBe('pong2');
    // last_update is when the source's last command ran on the destination: the source's
    // PINGs to its replica are not commands run there.
    const before = (await west.replicaStatus('ext4')).sources[0]!.last_update;
    expect(before).not.toBeNull();
    const offset = async () => Number(/master_repl_offset:(\d+)/.exec(await src.info('replication'))![1]);
    const acked = async () => Number(/slave0:.*offset=(\d+)/.exec(await src.info('replication'))?.[1] ?? -1);
    const o0 = await offset();
    await waitFor(
      async () => (await offset()) >= o0 + 2 * 14 && (await acked()) >= (await offset()),
      'two source PINGs applied and acknowledged',
      20_000,
      100,
    );
    expect((await west.replicaStatus('ext4')).sources[0]!.last_update).toBe(before);
    const loaded = syncerLog(west, dest.uid).find((l) => l.msg === 'full sync loaded');
    expect(loaded?.other_db_keys).toBe(1);
    // ... and reported through the API, not only in the log.
    const stats = (await west.api.syncSourceStats(dest.uid)) as {
      sync_source_stats: { totals: { other_db_keys: number } }[];
    };
    expect(stats.sync_source_stats[0]!.totals.other_db_keys).toBe(1);
  });

  it('syncs three sources of the three URI forms (one sharded) into one destination', async () => {
    // Passwords on both sides: sources are read as admin, the destination is written with its own.
    await Promise.all([
      east.createDb({ name: 'sh2', shards: 2, password: 'src pass/1' }),
      west.createDb({ name: 'loc' }),
      west.createDb({ name: 'multi', shards: 2, password: 'dst:pass@2' }),
    ]);
    const ext = await new RedisServer().start();
    env.redis.push(ext);
    const a = await dbClient(env, east, 'sh2');
    const b = ext.client();
    env.clients.push(b);
    const c = await dbClient(env, west, 'loc');
    await Promise.all([
      writeEveryType(a, 'a', 300),
      writeEveryType(b, 'b', 300),
      writeEveryType(c, 'c', 300),
    ]);

    const bdb = await west.replicaOf('multi', ['east/sh2', redisUri(ext), 'loc']);
    expect(bdb.replica_sources.map((s) => s.uri.replace(/admin:[^@]*@/, 'admin:***@'))).toEqual([
      expect.stringMatching(/^redis:\/\/admin:\*\*\*@/),
      redisUri(ext),
      expect.stringMatching(/^loc:redis:\/\/admin:\*\*\*@/),
    ]);
    await Promise.all([
      writeEveryType(a, 'a2', 60),
      writeEveryType(b, 'b2', 60),
      writeEveryType(c, 'c2', 60),
    ]);
    const st = await waitInSync(west, 'multi');
    expect(st.sources.map((s) => s.status)).toEqual(['in-sync', 'in-sync', 'in-sync']);

    const sources = [await east.sourceUrl('sh2'), redisUri(ext), await west.sourceUrl('loc')];
    const cmp = await expectSameData(sources, await dbUri(west, 'multi'));
    expect(cmp.checked).toBe(3 * 360);
    const dst = await dbClient(env, west, 'multi');
    expect(await dst.dbsize()).toBe(3 * 360);

    // Any change of the sources starts over from scratch: dropping the external one flushes its
    // keys (and anything written on the destination) away, and the other two are reloaded.
    await dst.set('written-on-destination', '1');
    const epoch = (await west.db('multi')).sync_epoch;
    const changed = await west.replicaOf('multi', ['east/sh2', 'loc']);
    expect(changed.sync_epoch).toBe(epoch + 1);
    await waitInSync(west, 'multi');
    await expectSameData([sources[0]!, sources[2]!], await dbUri(west, 'multi'));
    expect(await dst.dbsize()).toBe(2 * 360);
  });

  it('syncs 32 sources into one destination and refuses a 33rd, changing nothing', async () => {
    const servers = [];
    for (let i = 0; i < 32; i += 8) {
      servers.push(...(await Promise.all(Array.from({ length: 8 }, () => new RedisServer().start()))));
    }
    env.redis.push(...servers);
    await Promise.all(
      servers.map(async (s, i) => {
        const r = s.client();
        env.clients.push(r);
        await writeEveryType(r, `s${i}`, 12);
      }),
    );
    const dest = await west.createDb({ name: 'many', shards: 2 });
    const uris = servers.map(redisUri);
    await west.replicaOf('many', uris);
    const t0 = Date.now();
    await waitInSync(west, 'many', 120_000);
    console.log(`32 sources in-sync ${Date.now() - t0} ms after replica-of`);
    // Writes after the full sync stream in from every source.
    await Promise.all(
      servers.map(async (s, i) => {
        const r = s.client();
        env.clients.push(r);
        await r.set(`after:${i}`, String(i));
      }),
    );
    const cmp = await expectSameData(uris, await dbUri(west, 'many'));
    expect(cmp.checked).toBe(32 * 13);

    const before = await west.api.getBdb(dest.uid);
    const syncerPid = west.processes().get(`syncer-${dest.uid}`);
    expect(syncerPid).toBeGreaterThan(0);
    const extra = await new RedisServer().start();
    env.redis.push(extra);
    const msg = await expect400(
      west.api.updateBdb(dest.uid, { replica_sources: [...uris, redisUri(extra)].map((uri) => ({ uri })) }),
      'replica_sources',
    );
    expect(msg).toMatch(/at most 32/);
    const after = await west.api.getBdb(dest.uid);
    expect(after.sync_epoch).toBe(before.sync_epoch);
    expect(after.replica_sync).toBe('enabled');
    expect(after.replica_sources.map((s) => s.uri)).toEqual(uris);
    expect(west.processes().get(`syncer-${dest.uid}`)).toBe(syncerPid);
    await waitInSync(west, 'many');
  });
});
