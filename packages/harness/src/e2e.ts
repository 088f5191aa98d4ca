import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import {
  type CompareResult,
  compareDatabases,
  MiniCluster,
  type ReplicaStatusView,
  type StartedMiniCluster,
  type StartedRedisServer,
  waitFor,
} from '@minirs/local';
import { killProcessesUnder, removeHome, rest, tmpHome } from './test-home.js';

/**
 * Shared plumbing of the Replica Of end-to-end files: one pair of clusters per file, clients that
 * are all closed in teardown, waits on the Replica Of status, a clean-compare assertion, and
 * writers of every data type (bounded in count).
 */

export interface Env {
  home: string;
  clusters: StartedMiniCluster[];
  clients: Redis[];
  redis: StartedRedisServer[];
}

export function newEnv(tag: string): Env {
  return { home: tmpHome(tag), clusters: [], clients: [], redis: [] };
}

/**
 * Starts clusters of `nodes` nodes each, side by side, in the env's home. `net` forces how nodes
 * are hosts (default: MINIRS_NET or auto, i.e. namespaces when run as root on Linux).
 */
export async function startClusters(
  env: Env,
  names: string[],
  nodes = 2,
  net?: 'auto' | 'netns' | 'loopback',
): Promise<StartedMiniCluster[]> {
  const started = await Promise.all(
    names.map((n) => {
      const m = new MiniCluster(n).withNodes(nodes).withHome(env.home).withStartTimeout(60_000);
      return (net ? m.withNet(net) : m).start();
    }),
  );
  env.clusters.push(...started);
  return started;
}

export async function teardown(env: Env): Promise<void> {
  for (const c of env.clients) c.disconnect();
  // MINIRS_TEST_KEEP_HOME=1 keeps the logs and state of a run for a look (processes still die).
  const keep = !!process.env.MINIRS_TEST_KEEP_HOME;
  await Promise.allSettled(env.clusters.map((c) => (keep ? c.stop() : c.delete())));
  await Promise.allSettled(env.redis.map((r) => r.stop()));
  killProcessesUnder(env.home);
  if (keep) console.log(`kept ${env.home}`);
  else removeHome(env.home);
}

export function track(env: Env, r: Redis): Redis {
  r.on('error', () => {});
  env.clients.push(r);
  return r;
}

/** A client of a database's endpoint (through its proxy). */
export async function dbClient(env: Env, c: StartedMiniCluster, db: string): Promise<Redis> {
  const ep = await c.endpoint(db);
  return track(
    env,
    new Redis({ host: ep.host, port: ep.port, password: ep.password, maxRetriesPerRequest: 3 }),
  );
}

/** The URI `minirs compare` takes for a minirs database as an ordinary client sees it. */
export async function dbUri(c: StartedMiniCluster, db: string): Promise<string> {
  const ep = await c.endpoint(db);
  const cred = ep.password ? `:${encodeURIComponent(ep.password)}@` : '';
  return `redis://${cred}${ep.host}:${ep.port}`;
}

/** Same as `r.url()`. */
export function redisUri(r: StartedRedisServer): string {
  return r.url();
}

export function waitStatus(
  c: StartedMiniCluster,
  db: string,
  ok: (s: ReplicaStatusView) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<ReplicaStatusView> {
  let last: ReplicaStatusView | undefined;
  return waitFor(
    async () => {
      last = await c.replicaStatus(db);
      return ok(last) ? last : undefined;
    },
    `${c.name}/${db} ${what}`,
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last status: ${JSON.stringify(last)}`);
  });
}

export function waitInSync(
  c: StartedMiniCluster,
  db: string,
  timeoutMs = 60_000,
): Promise<ReplicaStatusView> {
  return waitStatus(
    c,
    db,
    (s) =>
      s.replica_sync === 'enabled' &&
      s.status === 'in-sync' &&
      s.sources.every((x) => x.status === 'in-sync'),
    'to be in-sync',
    timeoutMs,
  );
}

/**
 * Compares until clean (a stream still draining shows as differences for a moment) and asserts
 * zero missing/extra/different. Returns the last result.
 */
export async function expectSameData(
  sources: string[],
  dest: string,
  timeoutMs = 30_000,
): Promise<CompareResult> {
  let last: CompareResult | undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    last = await compareDatabases(sources, dest);
    if (last.missing + last.extra + last.different === 0) break;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(
    { missing: last.missing, extra: last.extra, different: last.different },
    `compare examples: ${JSON.stringify(last.examples)}`,
  ).toEqual({ missing: 0, extra: 0, different: 0 });
  return last;
}

/** Total key count over sources (used to make sure a compare is not vacuous). */
export async function keyCount(r: Redis): Promise<number> {
  return r.dbsize();
}

/**
 * Writes `n` keys of every type under `prefix`: strings, lists, sets, zsets, hashes and streams
 * with a consumer group that has pending entries; every third key has a TTL of 10-20 minutes
 * (long enough that nothing expires during a test, so TTLs compare within tolerance).
 */
export async function writeEveryType(r: Redis, prefix: string, n: number, valueBytes = 16): Promise<number> {
  const p = r.pipeline();
  let keys = 0;
  for (let i = 0; i < n; i++) {
    const k = `${prefix}:${i}`;
    // Random, so an RDB (LZF) or a compressed link cannot shrink it to nothing.
    const pad = randomBytes(Math.max(0, valueBytes - 8) >> 1).toString('hex');
    let key: string;
    switch (i % 6) {
      case 0:
        key = `${k}:str`;
        p.set(key, `v${i}${pad}`);
        break;
      case 1:
        key = `${k}:list`;
        p.rpush(key, `a${i}`, `b${pad}`, `c${i}`);
        break;
      case 2:
        key = `${k}:set`;
        p.sadd(key, `m${i}`, `n${i}`, `o${pad}`);
        break;
      case 3:
        key = `${k}:zset`;
        p.zadd(key, i, `z${i}`, i + 0.5, `y${pad}`);
        break;
      case 4:
        key = `${k}:hash`;
        p.hset(key, 'f1', `v${i}`, 'f2', pad, 'n', String(i));
        break;
      default:
        key = `${k}:stream`;
        p.xadd(key, '*', 'field', `v${i}`, 'pad', pad);
        p.xadd(key, '*', 'field', `w${i}`);
        p.xgroup('CREATE', key, 'g1', '0');
        p.xreadgroup('GROUP', 'g1', 'c1', 'COUNT', 1, 'STREAMS', key, '>');
        break;
    }
    if (i % 3 === 0) p.pexpire(key, 600_000 + ((i * 7919) % 600_000));
    keys++;
  }
  const res = (await p.exec()) ?? [];
  const errs = res.filter(([e]) => e);
  if (errs.length) throw new Error(`writeEveryType: ${errs.length} errors, first: ${String(errs[0]![0])}`);
  return keys;
}

/**
 * Consumer groups of the stream keys under `prefix` agree between two databases. `exact` also
 * compares entries-read and lag: right for groups loaded from the RDB, but Redis 7.0's own
 * replication stream (XCLAIM ... LASTID) does not carry entries-read, so a native replica
 * diverges there too and streamed groups are compared without it.
 */
export async function expectSameConsumerGroups(
  src: Redis,
  dst: Redis,
  prefix: string,
  n: number,
  exact = true,
): Promise<void> {
  const view = (groups: unknown) =>
    (groups as unknown[][]).map((g) => {
      const o: Record<string, unknown> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1];
      if (!exact) {
        delete o['entries-read'];
        delete o.lag;
      }
      return o;
    });
  let checked = 0;
  for (let i = 5; i < n; i += 6) {
    const key = `${prefix}:${i}:stream`;
    const [a, b] = await Promise.all([src.xinfo('GROUPS', key), dst.xinfo('GROUPS', key)]);
    expect(view(b), key).toEqual(view(a));
    expect(view(a)[0]?.pending, key).toBe(1);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}

/** The API of a cluster as raw HTTPS (for /metrics, which is not JSON). */
export function rawApi(c: StartedMiniCluster, method: string, path: string, body?: unknown) {
  const { api_url, username, password } = c.credentials;
  return rest(api_url, readFileSync(c.paths.caCert, 'utf8'), method, path, {
    auth: `${username}:${password}`,
    body,
  });
}

export interface SyncSourceStat {
  uid: string;
  status: string;
  /** RS's per-interval history (deltas per interval), oldest first. */
  intervals: {
    interval: string;
    stime: string;
    etime: string;
    ingress_bytes: number;
    ingress_bytes_decompressed: number;
    local_ingress_lag_time: number;
    full_syncs: number;
    partial_syncs: number;
  }[];
  /** (minirs) running totals of the current sync. */
  totals: {
    ingress_bytes: number;
    ingress_bytes_decompressed: number;
    local_ingress_lag_time: number;
    full_syncs: number;
    partial_syncs: number;
    lag_samples: number[];
  };
}

export async function syncSourceStats(c: StartedMiniCluster, uid: number): Promise<SyncSourceStat[]> {
  const r = (await c.api.syncSourceStats(uid)) as { sync_source_stats: SyncSourceStat[] };
  return r.sync_source_stats;
}

/** The syncer's log of a destination bdb (pino JSON lines). */
export function syncerLog(c: StartedMiniCluster, bdbUid: number): { msg: string; [k: string]: unknown }[] {
  let text = '';
  try {
    text = readFileSync(`${c.paths.logs}/syncer-${bdbUid}.log`, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as { msg: string };
      } catch {
        return { msg: '' };
      }
    });
}

/** Expect an ApiError-like rejection with status and field; returns its message. */
export async function expect400(p: Promise<unknown>, field: RegExp | string): Promise<string> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number; field?: string; message?: string } | undefined;
  expect(err, 'the request must be refused').toBeDefined();
  expect(err!.status, String(err!.message)).toBe(400);
  if (typeof field === 'string') expect(err!.field).toBe(field);
  else expect(String(err!.field)).toMatch(field);
  return String(err!.message);
}
