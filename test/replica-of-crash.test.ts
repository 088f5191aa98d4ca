import { type StartedMiniCluster, waitFor } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  startClusters,
  syncerLog,
  teardown,
  waitInSync,
  writeEveryType,
} from '@minirs/harness/vitest';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Crash safety: `kill -9` of the syncer mid full sync and mid stream (INCR counters and LPUSH
 * running) ends with a destination identical to its source, counters exact; a destination shard
 * whose redis-server restarts empty is noticed and triggers a full resync (it has no checkpoint).
 */

const env: Env = newEnv('rcr');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let src: Redis;
let srcUri: string;
let dstUid: number;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
  await Promise.all([
    east.createDb({ name: 'ksrc', memory: '200mb' }),
    west.createDb({ name: 'kdst', shards: 3 }),
  ]);
  src = await dbClient(env, east, 'ksrc');
  srcUri = await east.sourceUrl('ksrc');
  dstUid = (await west.db('kdst')).uid;
  // ~1.2 MB of RDB, so a throttled full sync is long enough to be killed in the middle.
  await writeEveryType(src, 'k', 3000, 400);
});

afterAll(async () => {
  await teardown(env);
});

function syncerPid(): number | undefined {
  return west.processes().get(`syncer-${dstUid}`);
}

async function killSyncer(): Promise<void> {
  const pid = syncerPid();
  expect(pid).toBeGreaterThan(0);
  await west.api.createFault({ kind: 'kill', target: `syncer:${dstUid}` });
  await waitFor(
    () => {
      const now = syncerPid();
      return now !== undefined && now !== pid;
    },
    'the manager to restart the syncer',
    30_000,
  );
}

/** INCR on a few counters and LPUSH on a list, bounded; counts what the source acknowledged. */
function counterWriter(max: number) {
  let stopping = false;
  let ok = 0;
  const done = (async () => {
    for (let i = 0; i < max && !stopping; i++) {
      const res = await src
        .pipeline()
        .incr(`ctr:${i % 4}`)
        .lpush('pushed', String(i))
        .exec();
      if (res?.every(([e]) => !e)) ok++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    get ok() {
      return ok;
    },
    stop: async () => {
      stopping = true;
      await done;
      return ok;
    },
  };
}

describe('crash safety', () => {
  it('ends identical after kill -9 of the syncer in the middle of the full sync', async () => {
    const throttle = await west.api.createFault({
      kind: 'bandwidth',
      target: `syncer:${dstUid}`,
      kbps: 4000,
    });
    await west.replicaOf('kdst', ['east/ksrc']);
    const mid = await waitFor(
      async () => {
        const s = (await west.api.getBdb(dstUid)).replica_sources[0]!;
        return s.status === 'syncing' && s.rdb_transferred > 0 && s.rdb_transferred < s.rdb_size
          ? s
          : undefined;
      },
      'the full sync to be under way',
      60_000,
      50,
    );
    console.log(`killing the syncer at ${mid.rdb_transferred}/${mid.rdb_size} bytes of the RDB`);
    await killSyncer();
    await west.api.deleteFault(throttle.id);
    await waitInSync(west, 'kdst');
    await expectSameData([srcUri], await dbUri(west, 'kdst'));
    const starts = syncerLog(west, dstUid).filter((l) => l.msg === 'syncer ready');
    expect(starts.length).toBeGreaterThanOrEqual(2);
  });

  it('ends identical, counters exact, after kill -9 of the syncer mid stream', async () => {
    const w = counterWriter(4000);
    await waitFor(() => w.ok >= 100, 'the counters to be moving', 30_000);
    await killSyncer();
    const atKill = w.ok;
    await waitFor(() => w.ok >= atKill + 100, 'more writes after the kill', 30_000);
    const total = await w.stop();
    await waitInSync(west, 'kdst');
    await expectSameData([srcUri], await dbUri(west, 'kdst'));
    const dst = await dbClient(env, west, 'kdst');
    const sum = async (r: Redis) => {
      let n = 0;
      for (let i = 0; i < 4; i++) n += Number(await r.get(`ctr:${i}`));
      return n;
    };
    console.log(`counter writes: ${total} acknowledged, ${atKill} before the kill`);
    expect(await sum(src)).toBe(total);
    expect(await sum(dst)).toBe(total);
    expect(await dst.llen('pushed')).toBe(total);
    expect(await dst.lrange('pushed', 0, -1)).toEqual(await src.lrange('pushed', 0, -1));
  });

  it('never reports in-sync while a restarted syncer reloads the destination', async () => {
    await waitInSync(west, 'kdst');
    const dst = await dbClient(env, west, 'kdst');
    const want = await src.dbsize();
    expect(await dst.dbsize()).toBe(want);
    const pid = syncerPid();
    await west.api.createFault({ kind: 'kill', target: `syncer:${dstUid}` });
    // No writes now: whenever the status says in-sync, the destination must hold every key.
    const lies: string[] = [];
    let sawNotInSync = false;
    await waitFor(
      async () => {
        const [st, n] = await Promise.all([west.replicaStatus('kdst'), dst.dbsize()]);
        if (st.status !== 'in-sync') sawNotInSync = true;
        else if (n !== want) lies.push(`in-sync with ${n}/${want} keys`);
        const now = syncerPid();
        return sawNotInSync && st.status === 'in-sync' && n === want && now !== undefined && now !== pid;
      },
      'the restarted syncer to reload the destination',
      60_000,
      20,
    );
    expect(lies.slice(0, 5)).toEqual([]);
  });

  it('notices a destination shard that restarted empty and resyncs in full', async () => {
    const shards = (await west.api.listShards()).filter((s) => s.bdb_uid === dstUid);
    const victim = shards[1]!;
    const before = syncerLog(west, dstUid).filter((l) => l.msg === 'starting full sync').length;
    await west.api.createFault({ kind: 'kill', target: `redis:${victim.uid}` });
    await waitFor(
      () => syncerLog(west, dstUid).filter((l) => l.msg === 'starting full sync').length > before,
      'the syncer to start a full resync',
      60_000,
      100,
    );
    const reason = syncerLog(west, dstUid)
      .filter((l) => l.msg === 'starting full sync')
      .slice(before)
      .map((l) => String(l.reason));
    console.log(`after the destination shard restart: ${reason.join(' | ')}`);
    await waitInSync(west, 'kdst');
    await expectSameData([srcUri], await dbUri(west, 'kdst'));
    const dst = await dbClient(env, west, 'kdst');
    expect(await dst.dbsize()).toBe(await src.dbsize());
  });
  it('does not skip writes while the destination shards are paused: no full resync, counters exact', async () => {
    const shards = (await west.api.listShards()).filter((s) => s.bdb_uid === dstUid);
    const w = counterWriter(6000);
    await waitFor(() => w.ok >= 50, 'the counters to be moving', 30_000);
    const before = syncerLog(west, dstUid).length;
    // SIGSTOP every destination redis-server. The syncer writes its stream over replication
    // pipes to the shards (issue 15), with no proxy shard timeout in between: its writes wait,
    // and each transaction commits with its checkpoint or not at all.
    const faults = await Promise.all(
      shards.map((s) =>
        // A shard restarted by the previous test may still be writing its redis pid file.
        waitFor(
          () => west.api.createFault({ kind: 'pause', target: `redis:${s.uid}` }),
          `a pause of redis:${s.uid}`,
          15_000,
          200,
        ),
      ),
    );
    const atPause = w.ok;
    await waitFor(() => w.ok >= atPause + 100, 'source writes while the destination is paused', 30_000);
    for (const f of faults) await west.api.deleteFault(f.id);
    const full = syncerLog(west, dstUid)
      .slice(before)
      .filter((l) => l.msg === 'starting full sync');
    expect(full.map((l) => String(l.reason))).toEqual([]);
    const atHeal = w.ok;
    await waitFor(() => w.ok >= atHeal + 50, 'more writes after the pause', 30_000);
    const total = await w.stop();
    await waitInSync(west, 'kdst');
    await expectSameData([srcUri], await dbUri(west, 'kdst'));
    const dst = await dbClient(env, west, 'kdst');
    let n = 0;
    for (let i = 0; i < 4; i++) n += Number(await dst.get(`ctr:${i}`));
    let m = 0;
    for (let i = 0; i < 4; i++) m += Number(await src.get(`ctr:${i}`));
    expect(n).toBe(m);
    expect(await dst.llen('pushed')).toBe(await src.llen('pushed'));
    expect(total).toBeGreaterThan(0);
    expect(
      syncerLog(west, dstUid)
        .slice(before)
        .filter((l) => l.msg === 'starting full sync')
        .map((l) => String(l.reason)),
    ).toEqual([]);
  });
});
