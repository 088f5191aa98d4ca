import { RedisServer, type StartedMiniCluster, type StartedRedisServer, waitFor } from '@minirs/harness';
import {
  dbClient,
  dbUri,
  type Env,
  expectSameData,
  newEnv,
  rawApi,
  redisUri,
  startClusters,
  syncerLog,
  syncSourceStats,
  teardown,
  track,
  waitInSync,
  waitStatus,
  writeEveryType,
} from '@minirs/harness/vitest';
import { readFileSync } from 'node:fs';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Connection faults keep the sync running and end `in-sync` with a clean compare: an external
 * source killed and restarted (empty) on its port, the source proxy killed, a link reset (a
 * partial resync), latency (shows in lag) and a partition (out-of-sync until healed).
 */

const env: Env = newEnv('rfl');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
let fdstUid: number;
let srcUri: string;
let src: Redis;

beforeAll(async () => {
  [east, west] = await startClusters(env, ['east', 'west']);
  await Promise.all([
    east.createDb({ name: 'fsrc', shards: 2 }),
    west.createDb({ name: 'fdst', shards: 2 }),
    west.createDb({ name: 'edst', shards: 2 }),
  ]);
  src = await dbClient(env, east, 'fsrc');
  await writeEveryType(src, 'f', 300);
  fdstUid = (await west.replicaOf('fdst', ['east/fsrc'])).uid;
  srcUri = await east.sourceUrl('fsrc');
  await waitInSync(west, 'fdst');
});

afterAll(async () => {
  await teardown(env);
});

/** Sum of full and partial syncs over the links of source 1 of `bdb`. */
async function syncCounts(c: StartedMiniCluster, bdb: number): Promise<{ full: number; partial: number }> {
  const iv = (await syncSourceStats(c, bdb))[0]!.totals;
  return { full: iv.full_syncs, partial: iv.partial_syncs };
}

/**
 * A bounded writer (INCR + SET every ~10 ms) running until stop() or `max` rounds. A write can fail
 * while a fault is on (the source's proxy is down): `ok` counts the INCRs the source applied.
 */
function backgroundWriter(r: Redis, prefix: string, max = 2000) {
  let stopping = false;
  let ok = 0;
  const done = (async () => {
    for (let i = 0; i < max && !stopping; i++) {
      const res = await r
        .pipeline()
        .incr(`${prefix}:ctr`)
        .set(`${prefix}:${i % 50}`, String(i))
        .exec()
        .catch(() => null);
      if (res && !res[0]![0]) ok++;
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  return {
    get ok() {
      return ok;
    },
    /** Resolves once `n` more INCRs than now have been applied by the source. */
    more: (n: number) => {
      const target = ok + n;
      return waitFor(() => ok >= target, `${n} more writes to ${prefix}`, 60_000, 20);
    },
    stop: async () => {
      stopping = true;
      await done;
      return ok;
    },
  };
}

async function expectCaughtUp(): Promise<void> {
  await waitInSync(west, 'fdst');
  await expectSameData([srcUri], await dbUri(west, 'fdst'));
}

describe('connection faults', () => {
  it('resumes with a partial resync after a link reset', async () => {
    const before = await syncCounts(west, fdstUid);
    expect(before.full).toBe(2); // one link per source shard
    const w = backgroundWriter(src, 'reset');
    await w.more(5);
    await west.api.createFault({ kind: 'reset', target: `source:${fdstUid}/1` });
    const after = await waitLong(async () => {
      const n = await syncCounts(west, fdstUid);
      return n.partial >= before.partial + 2 ? n : undefined;
    }, 'both links to resume with a partial resync');
    await w.more(20);
    const rounds = await w.stop();
    console.log(`link reset: ${JSON.stringify(before)} -> ${JSON.stringify(after)}; writer rounds ${rounds}`);
    expect(after.full).toBe(before.full);
    expect(syncerLog(west, fdstUid).some((l) => l.msg === 'partial resync accepted')).toBe(true);
    await expectCaughtUp();
  });

  it('recovers from the source proxy being killed, with partial resyncs', async () => {
    const before = await syncCounts(west, fdstUid);
    const fsrc = await east.db('fsrc');
    const addr = fsrc.endpoints[0]!.addr[0]!;
    const node = (await east.api.listNodes()).find((n) => n.addr === addr)!;
    const w = backgroundWriter(src, 'proxykill', 1000);
    await w.more(5);
    const pid = east.processes().get(`proxy-${node.uid}`);
    await east.api.createFault({ kind: 'kill', target: `proxy:${node.uid}` });
    await waitLong(() => {
      const now = east.processes().get(`proxy-${node.uid}`);
      return now !== undefined && now !== pid;
    }, 'the proxy to be restarted');
    // Writes made once the proxy is back flow over the resumed links.
    await w.more(20);
    const rounds = await w.stop();
    await expectCaughtUp();
    const after = await syncCounts(west, fdstUid);
    console.log(`proxy kill: ${JSON.stringify(before)} -> ${JSON.stringify(after)}; writer rounds ${rounds}`);
    expect(after.full).toBe(before.full);
    expect(after.partial).toBeGreaterThanOrEqual(before.partial + 2);
    // An INCR whose reply died with the proxy may still have run: the source's count is the truth.
    const ctr = Number(await src.get('proxykill:ctr'));
    expect(ctr).toBeGreaterThanOrEqual(rounds);
    expect(await (await dbClient(env, west, 'fdst')).get('proxykill:ctr')).toBe(String(ctr));
  });

  it('shows a latency fault in the lag, and the lag goes back down once healed', async () => {
    const w = backgroundWriter(src, 'latency', 3000);
    await w.more(5);
    const f = await west.api.createFault({ kind: 'latency', target: `source:${fdstUid}/1`, ms: 400 });
    const slow = await waitStatus(
      west,
      'fdst',
      (s) => s.sources[0]!.lag >= 300,
      'lag to show the 400 ms latency',
    );
    await west.api.deleteFault(f.id);
    const rounds = await w.stop();
    const fast = await waitStatus(
      west,
      'fdst',
      (s) => s.status === 'in-sync' && s.sources[0]!.lag < 300,
      'lag to go back down',
    );
    console.log(
      `latency 400 ms: lag ${slow.sources[0]!.lag} ms; healed: ${fast.sources[0]!.lag} ms; rounds ${rounds}`,
    );
    const m = await rawApi(west, 'GET', '/metrics');
    expect(String(m.body.text)).toMatch(/bdb_replicaof_syncer_local_ingress_lag_time\{[^}]*\} \d+/);
    await expectCaughtUp();
  });

  it('goes out-of-sync during a partition and back in-sync once healed', async () => {
    const before = await syncCounts(west, fdstUid);
    const f = await west.api.createFault({ kind: 'partition', target: `source:${fdstUid}/1` });
    const down = await waitStatus(west, 'fdst', (s) => s.status === 'out-of-sync', 'to be out-of-sync');
    expect(down.replica_sync).toBe('enabled');
    expect(down.sources[0]!.status).toBe('out-of-sync');
    const metrics = String((await rawApi(west, 'GET', '/metrics')).body.text);
    expect(metrics).toMatch(
      new RegExp(`^bdb_replicaof_syncer_status\\{[^}]*bdb="${fdstUid}"[^}]*\\} 2$`, 'm'),
    );
    await writeEveryType(src, 'partitioned', 60);
    await west.api.deleteFault(f.id);
    await expectCaughtUp();
    // A short partition: the sources still have the backlog, so the links resume.
    const after = await syncCounts(west, fdstUid);
    expect(after.full).toBe(before.full);
    expect(after.partial).toBeGreaterThanOrEqual(before.partial + 2);
  });

  it('resyncs in full when a partition outlasts the source backlog', async () => {
    const before = await syncCounts(west, fdstUid);
    const logBefore = syncerLog(west, fdstUid).length;
    // A small backlog on the source's shards (minirs gives them 16 MB), straight on each redis-server.
    const state = JSON.parse(readFileSync(east.paths.state, 'utf8')) as ClusterState;
    const fsrcUid = (await east.db('fsrc')).uid;
    for (const sh of state.shards.filter((x) => x.bdb_uid === fsrcUid)) {
      const r = track(env, new Redis({ host: sh.addr, port: sh.port, password: state.internal_password }));
      await r.config('SET', 'repl-backlog-size', '16384');
    }
    const f = await west.api.createFault({ kind: 'partition', target: `source:${fdstUid}/1` });
    await waitStatus(west, 'fdst', (s) => s.status === 'out-of-sync', 'to be out-of-sync');
    // ~300 KB over two shards: far more than a 16 KB backlog.
    await writeEveryType(src, 'overrun', 600, 500);
    await west.api.deleteFault(f.id);
    await expectCaughtUp();
    const resync = syncerLog(west, fdstUid)
      .slice(logBefore)
      .find((l) => l.msg === 'starting full sync');
    console.log(`backlog overrun: ${String(resync?.reason)}; ${JSON.stringify(before)}`);
    expect(String(resync?.reason)).toMatch(/refused a partial resync|new history/);
  });

  it('follows an external source killed and restarted empty on the same port: a full resync of all sources', async () => {
    let ext: StartedRedisServer = await new RedisServer().start();
    env.redis.push(ext);
    const e1 = track(env, ext.client());
    await writeEveryType(e1, 'old', 120);
    // Two sources: the full resync the restarted one needs reloads the other one as well.
    const edst = await west.replicaOf('edst', [redisUri(ext), 'east/fsrc']);
    await waitInSync(west, 'edst');
    const port = ext.port;
    await ext.stop();
    await waitStatus(
      west,
      'edst',
      (s) => s.status === 'out-of-sync',
      'to be out-of-sync while the source is down',
    );

    // Restarted without persistence it is empty, with a new replication history: the only
    // faithful replica of it is the same emptiness plus what is written next.
    ext = await new RedisServer().withPort(port).start();
    env.redis.push(ext);
    const e2 = track(env, ext.client());
    await writeEveryType(e2, 'new', 60);
    await waitInSync(west, 'edst');
    await expectSameData([redisUri(ext), srcUri], await dbUri(west, 'edst'));
    const d = await dbClient(env, west, 'edst');
    expect(await d.dbsize()).toBe(60 + (await src.dbsize()));
    expect(await d.exists('old:0:str')).toBe(0);
    const resync = syncerLog(west, edst.uid).filter(
      (l) => l.msg === 'starting full sync' && /full resync of every source/.test(String(l.reason)),
    );
    expect(resync.length).toBeGreaterThan(0);
    console.log(`external restart: ${String(resync[0]!.reason)}`);
  });
});

function waitLong<T>(check: () => Promise<T> | T, what: string): Promise<T> {
  return waitFor(check, what, 60_000, 100);
}
