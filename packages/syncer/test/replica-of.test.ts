import { createLogger, type SyncerReport, type SyncerRuntimeConfig } from '@minirs/common';
import { RedisServer, type StartedRedisServer, waitFor } from '@minirs/harness';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaOfSync } from '../src/replica-of.js';

/**
 * The Replica Of state machine against real redis-servers: external sources, and a plain
 * redis-server standing in for the destination endpoint (the proxy-backed paths are covered by
 * the multi-process tests in test/).
 */

const servers: StartedRedisServer[] = [];
const syncs: ReplicaOfSync[] = [];
afterEach(async () => {
  await Promise.all(syncs.splice(0).map((s) => s.closeAll()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function redis(o: { password?: string; args?: string[] } = {}): Promise<StartedRedisServer> {
  const b = new RedisServer().withArgs(...(o.args ?? []));
  const r = await (o.password !== undefined ? b.withPassword(o.password) : b).start();
  servers.push(r);
  return r;
}

function config(
  dst: StartedRedisServer,
  sources: { uid: number; uri: string }[],
  epoch = 1,
): SyncerRuntimeConfig {
  return {
    bdb_uid: 1,
    epoch,
    replica_sync: 'enabled',
    destination: { host: dst.host, port: dst.port, password: dst.password ?? '', shards: [] },
    sources: sources.map((s) => ({ ...s, compression: 0, encryption: false })),
    faults: [],
  };
}

function newSync(stops: { uid: number; error: string; code?: string }[]): ReplicaOfSync {
  const s = new ReplicaOfSync({
    log: createLogger({ name: 'syncer-test', level: 'warn', file: '/dev/null' }),
    onStop: (uid, stop) => stops.push({ uid, error: stop.error, code: stop.code }),
  });
  syncs.push(s);
  return s;
}

const inSync =
  (s: ReplicaOfSync) =>
  (r: SyncerReport = s.report()) =>
    r.sources.length > 0 && r.sources.every((x) => x.status === 'in-sync');

async function sameData(a: Redis, b: Redis): Promise<void> {
  const keys = (await a.keys('*')).sort();
  expect((await b.keys('*')).sort()).toEqual(keys);
  for (const k of keys) expect(await b.dump(k), k).toEqual(await a.dump(k));
}

describe('ReplicaOfSync', () => {
  it('full-syncs an external source, then streams, keeping order and TTLs', async () => {
    const src = await redis({ password: 'p@ss:w' });
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    await d.set('stale', 'deleted by the full sync');
    for (let i = 0; i < 500; i++) await s.set(`k${i}`, `v${i}`);
    await s.rpush('list', 'a', 'b');
    await s.set('ttl', 'x', 'EX', 1000);
    await s.select(3);
    await s.set('other-db', 'not replicated');
    await s.select(0);
    const stops: { uid: number; error: string }[] = [];
    const sync = newSync(stops);
    sync.apply(
      config(dst, [{ uid: 1, uri: `redis://:${encodeURIComponent('p@ss:w')}@127.0.0.1:${src.port}` }]),
    );
    await waitFor(() => inSync(sync)(), 'in-sync');
    for (let i = 0; i < 100; i++) await s.incr('counter');
    await s.lpush('list', 'z');
    await s.select(3);
    await s.incr('other-db-counter');
    await s.select(0);
    await s.set('marker', '1');
    await waitFor(async () => (await d.get('marker')) === '1', 'marker');
    expect(await d.get('counter')).toBe('100');
    expect(await d.exists('stale', 'other-db', 'other-db-counter')).toBe(0);
    expect(await d.ttl('ttl')).toBeGreaterThan(990);
    await sameData(s, d);
    const rep = sync.report().sources[0]!;
    expect(rep.full_syncs).toBe(1);
    expect(rep.rdb_transferred).toBeGreaterThan(0);
    expect(stops).toEqual([]);
  });

  it('resumes a dropped link with a partial resync: nothing lost, nothing doubled', async () => {
    const src = await redis({ args: ['--repl-backlog-size', '1mb'] });
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    await s.set('counter', '0');
    const sync = newSync([]);
    sync.apply(config(dst, [{ uid: 1, uri: `redis://127.0.0.1:${src.port}` }]));
    await waitFor(() => inSync(sync)(), 'in-sync');
    // Drop the replica link from the source side while writes go on.
    const writes = (async () => {
      for (let i = 0; i < 300; i++) {
        await s.incr('counter');
        await s.lpush('pushed', String(i));
      }
    })();
    await s.client('KILL', 'TYPE', 'replica');
    await writes;
    await s.set('marker', 'end');
    await waitFor(async () => (await d.get('marker')) === 'end', 'marker after resync');
    expect(await d.get('counter')).toBe('300');
    expect(await d.llen('pushed')).toBe(300);
    const rep = sync.report().sources[0]!;
    expect(rep.full_syncs).toBe(1);
    expect(rep.partial_syncs).toBeGreaterThanOrEqual(1);
  });

  it('probes the lag over one long-lived connection, whose bytes are not ingress (issue 12)', async () => {
    const src = await redis({ password: 'pw' });
    const dst = await redis();
    const s = src.client();
    const sync = newSync([]);
    sync.apply(config(dst, [{ uid: 1, uri: `redis://:pw@127.0.0.1:${src.port}` }]));
    await waitFor(() => inSync(sync)(), 'in-sync');
    const stat = async (section: string, field: string): Promise<number> => {
      const text = await s.info(section);
      mine++;
      return Number(new RegExp(`${field}[:=](?:calls=)?(\\d+)`).exec(text)?.[1] ?? 0);
    };
    let mine = 0;
    const conns = await stat('stats', 'total_connections_received');
    const ingress = sync.report().sources[0]!.ingress_bytes;
    const infos = await stat('commandstats', 'cmdstat_info');
    const mineAt = mine;
    // The probe asks every 100 ms: wait for 15 of its INFO calls (not counting this test's own).
    await waitFor(
      async () => (await stat('commandstats', 'cmdstat_info')) - infos - (mine - mineAt - 1) >= 15,
      '15 lag probes',
    );
    // One connection at most (the probe's, opened at its first probe), not one per probe.
    expect((await stat('stats', 'total_connections_received')) - conns).toBeLessThanOrEqual(1);
    // 15 INFO replies (hundreds of bytes each) are not the link's ingress.
    expect(
      sync.report().sources[0]!.ingress_bytes - ingress,
      JSON.stringify(sync.report().sources[0]),
    ).toBeLessThan(500);
    expect(sync.report().sources[0]!.status).toBe('in-sync');
  });

  it('stops on an authentication error, naming the source and what to do', async () => {
    const src = await redis({ password: 'right' });
    const dst = await redis();
    const stops: { uid: number; error: string }[] = [];
    const sync = newSync(stops);
    sync.apply(config(dst, [{ uid: 7, uri: `redis://:wrong@127.0.0.1:${src.port}` }]));
    const stop = await waitFor(() => stops[0], 'a stop');
    expect(stop.uid).toBe(7);
    expect(stop.error).toMatch(/WRONGPASS|invalid password/i);
    expect(stop.error).toMatch(/password/);
    // The source is named once (its label used to come twice: "source 7 (...): source 7 (...) refused").
    expect(stop.error.split('source 7 (').length - 1, stop.error).toBe(1);
    expect(stop.code).toBe('MINIRS_ERR_AUTH');
  });

  it('stops on OOM at the destination', async () => {
    const src = await redis();
    const dst = await redis({ args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
    const s = src.client();
    const big = 'x'.repeat(100_000);
    for (let i = 0; i < 60; i++) await s.set(`big${i}`, big);
    const stops: { uid: number; error: string }[] = [];
    const sync = newSync(stops);
    sync.apply(config(dst, [{ uid: 1, uri: `redis://127.0.0.1:${src.port}` }]));
    const stop = await waitFor(() => stops[0], 'a stop', 30_000);
    expect(stop.error).toMatch(/OOM/);
    expect(stop.code).toBe('MINIRS_ERR_OOM');
  });

  it('full-resyncs every source when one cannot continue (backlog overrun), ending identical', async () => {
    const a = await redis({ args: ['--repl-backlog-size', '16kb'] });
    const b = await redis();
    const dst = await redis();
    const sa = a.client();
    const sb = b.client();
    await sa.set('from-a', '1');
    await sb.set('from-b', '1');
    const sync = newSync([]);
    sync.apply(
      config(dst, [
        { uid: 1, uri: `redis://127.0.0.1:${a.port}` },
        { uid: 2, uri: `redis://127.0.0.1:${b.port}` },
      ]),
    );
    await waitFor(() => inSync(sync)(), 'in-sync');
    // Pause the link by killing it, then write far more than the 16kb backlog.
    await sa.client('KILL', 'TYPE', 'replica');
    const big = 'y'.repeat(10_000);
    for (let i = 0; i < 20; i++) await sa.set(`a${i}`, big);
    await sb.set('b-late', '1');
    await sa.set('a-done', '1');
    const d = dst.client();
    await waitFor(
      async () => (await d.exists('a-done', 'b-late', 'from-b')) === 3,
      'both sources reloaded',
      30_000,
    );
    await waitFor(() => inSync(sync)(), 'in-sync again');
    expect(await d.dbsize()).toBe((await sa.dbsize()) + (await sb.dbsize()));
  });
});
