import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import {
  killProcessesUnder,
  MiniCluster,
  removeHome,
  rest,
  type StartedMiniCluster,
  tmpHome,
  waitFor,
} from '@minirs/harness';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The REST API as RS documents it (redis/docs content/operate/rs/references/rest-api): status
 * codes and error_code values, action_uid and /v1/actions, dry_run, fields, refused fields, RS's
 * shard object, sync_source_stats intervals, data_persistence on real redis-servers, SNI, and the
 * metrics exporter scraped and checked against RS's metric names.
 */

const home = tmpHome('rsa');
let c: StartedMiniCluster;
const clients: Redis[] = [];
let sniServer: TlsServer | undefined;

type Res = { status: number; body: Record<string, unknown> };
let call: (method: string, path: string, body?: unknown) => Promise<Res>;

function state(): ClusterState {
  return JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
}

async function endpointClient(db: string): Promise<Redis> {
  const ep = await c.endpoint(db);
  const r = new Redis({ host: ep.host, port: ep.port, password: ep.password, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

function shardClient(shardUid: number): Redis {
  const s = state();
  const sh = s.shards.find((x) => x.uid === shardUid)!;
  const r = new Redis({
    host: sh.addr,
    port: sh.port,
    password: s.internal_password,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 200,
  });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

async function actionDone(uid: string): Promise<Record<string, unknown>> {
  return waitFor(async () => {
    const a = await call('GET', `/v1/actions/${uid}`);
    return a.body.status === 'completed' || a.body.status === 'failed' ? a.body : undefined;
  }, `action ${uid} to finish`);
}

/** GET of the exporter (HTTPS with the cluster CA, no auth). */
function scrape(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(c.paths.caCert, 'utf8') }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Family names (from `# TYPE` lines) and samples of a Prometheus text page. */
function parseProm(text: string): {
  types: Map<string, string>;
  value(name: string, labels?: Record<string, string>): number | undefined;
} {
  const types = new Map<string, string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) samples.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return {
    types,
    value: (name, labels = {}) =>
      samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels.includes(`${k}="${v}"`)),
      )?.value,
  };
}

beforeAll(async () => {
  c = await new MiniCluster('rsapi').withNodes(2).withHome(home).start();
  const { api_url, username, password } = c.credentials;
  const ca = readFileSync(c.paths.caCert, 'utf8');
  call = (method, path, body) => rest(api_url, ca, method, path, { auth: `${username}:${password}`, body });
});

afterAll(async () => {
  for (const r of clients) r.disconnect();
  sniServer?.close();
  await c?.delete().catch(() => {});
  killProcessesUnder(home);
  removeHome(home);
});

describe('create, actions and dry_run', () => {
  it('POST /v1/bdbs answers 200 with an action_uid that GET /v1/actions/{uid} tracks to completed', async () => {
    const r = await call('POST', '/v1/bdbs', { name: 'a1', memory_size: 32 * 1024 * 1024 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'a1', type: 'redis', data_persistence: 'disabled' });
    const actionUid = String(r.body.action_uid);
    expect(actionUid).toMatch(/^[0-9a-f-]{36}$/);
    const a = await actionDone(actionUid);
    expect(a).toMatchObject({
      name: 'SMCreateBDB',
      object_name: `bdb:${r.body.uid}`,
      status: 'completed',
      progress: 100,
    });
    expect((await call('GET', `/v1/bdbs/${r.body.uid}`)).body.status).toBe('active');
    const all = await call('GET', '/v1/actions');
    expect(all.status).toBe(200);
    expect((all.body['state-machines'] as { action_uid: string }[]).map((x) => x.action_uid)).toContain(
      actionUid,
    );
    const v2 = await call('GET', `/v2/actions/${actionUid}`);
    expect(v2.body).toMatchObject({
      action_type: 'state-machine',
      status: 'completed',
      additional_info: { object_type: 'bdb' },
    });
    const missing = await call('GET', '/v1/actions/00000000-0000-0000-0000-000000000000');
    expect(missing.status).toBe(404);
  });

  it('dry_run validates a create and a change without applying either', async () => {
    const before = (await call('GET', '/v1/bdbs')).body as unknown as unknown[];
    const nextUid = state().next_bdb_uid;
    const ok = await call('POST', '/v1/bdbs?dry_run=true', {
      name: 'dry',
      shards_count: 2,
      memory_size: 8 * 1024 * 1024,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ name: 'dry', shards_count: 2, uid: nextUid });
    expect(ok.body.action_uid).toBeUndefined();
    const bad = await call('POST', '/v1/bdbs?dry_run', { name: 'dry', shards_count: 600 });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('shards_count');
    const after = (await call('GET', '/v1/bdbs')).body as unknown as unknown[];
    expect(after).toHaveLength(before.length);
    expect(state().next_bdb_uid).toBe(nextUid);
    expect(state().bdbs.some((b) => b.name === 'dry')).toBe(false);

    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    const put = await call('PUT', `/v1/bdbs/${a1.uid}?dry_run=1`, {
      memory_size: 64 * 1024 * 1024,
      data_persistence: 'aof',
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ memory_size: 64 * 1024 * 1024, data_persistence: 'aof' });
    const now = state().bdbs.find((b) => b.uid === a1.uid)!;
    expect(now.memory_size).toBe(32 * 1024 * 1024);
    expect(now.data_persistence).toBe('disabled');
  });

  it('honors a requested uid and answers 409 uid_exists for a taken one', async () => {
    const r = await call('POST', '/v1/bdbs', { uid: 40, name: 'u40', memory_size: 8 * 1024 * 1024 });
    expect(r.status).toBe(200);
    expect(r.body.uid).toBe(40);
    const again = await call('POST', '/v1/bdbs', { uid: 40, name: 'u40b' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error_code: 'uid_exists', field: 'uid' });
    const dupName = await call('POST', '/v1/bdbs', { name: 'u40' });
    expect(dupName.status).toBe(409);
    await actionDone(String(r.body.action_uid));
  });
});

describe('refused fields and bodies', () => {
  it('names every unknown or unimplemented field with a 400 and creates nothing', async () => {
    const count = () => state().bdbs.length;
    const n = count();
    const cases: [unknown, string, string][] = [
      [{ name: 'f1', colour: 'blue' }, 'colour', 'invalid_schema'],
      [{ name: 'f2', replication: 'yes' }, 'replication', 'MINIRS_ERR_INVALID_ARGUMENT'], // replication: true is honored (HA)
      [{ name: 'f3', backup: true }, 'backup', 'unsupported_field'],
      [{ name: 'f4', syncer_mode: 'distributed' }, 'syncer_mode', 'unsupported_field'],
      [{ name: 'f5', replica_sync_dist: true }, 'replica_sync_dist', 'unsupported_field'],
      [{ name: 'f6', status: 'active' }, 'status', 'unsupported_field'],
      [
        { name: 'f7', replica_sources: [{ uri: 'redis://127.0.0.1:1', speed: 3 }] },
        'replica_sources[0].speed',
        'invalid_schema',
      ],
      [{ name: 'f8', data_persistence: 'snapshot' }, 'snapshot_policy', 'invalid_data_persistence'],
      [{ name: 'f9', data_persistence: 'rdb' }, 'data_persistence', 'invalid_data_persistence'],
      [
        { name: 'f10', authentication_ssl_client_certs: [{ client_cert: 'x', extra: 1 }] },
        'authentication_ssl_client_certs.0.extra',
        'invalid_certificate',
      ],
    ];
    for (const [body, field, code] of cases) {
      const r = await call('POST', '/v1/bdbs', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.field, JSON.stringify(r.body)).toBe(field);
      expect(r.body.error_code, JSON.stringify(r.body)).toBe(code);
      expect(r.body.minirs_error_code).toMatch(/^MINIRS_ERR_/);
      expect(String(r.body.message)).toContain(field.split(/[.[]/)[0]!);
    }
    // Values minirs implements are accepted: the fixed ones at their only value.
    const fixed = await call('POST', '/v1/bdbs?dry_run', {
      name: 'f11',
      replication: false,
      syncer_mode: 'centralized',
    });
    expect(fixed.status).toBe(200);
    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    const ro = await call('PUT', `/v1/bdbs/${a1.uid}`, { port: a1.port + 1 });
    expect(ro.status).toBe(400);
    expect(ro.body.field).toBe('port');
    // A bdb sent back as GET returned it changes nothing and is accepted.
    const got = (await call('GET', `/v1/bdbs/${a1.uid}`)).body;
    const round = await call('PUT', `/v1/bdbs/${a1.uid}?dry_run`, got);
    expect(round.status, JSON.stringify(round.body)).toBe(200);
    expect(count()).toBe(n);
  });

  it('refuses a body over the limit with 413', async () => {
    const r = await call('POST', '/v1/bdbs', { name: 'big', colour: 'x'.repeat(3 * 1024 * 1024) });
    expect(r.status).toBe(413);
    expect(r.body.message).toMatch(/larger than/);
    expect(state().bdbs.some((b) => b.name === 'big')).toBe(false);
  });

  it('answers 401 without credentials and 409 for a name taken by another bdb', async () => {
    const { api_url } = c.credentials;
    const anon = await rest(api_url, readFileSync(c.paths.caCert, 'utf8'), 'GET', '/v1/actions');
    expect(anon.status).toBe(401);
    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    const taken = await call('PUT', `/v1/bdbs/${a1.uid}`, { name: 'u40' });
    expect(taken.status).toBe(409);
    expect(taken.body.field).toBe('name');
    const ok = await call('PUT', `/v1/bdbs/${a1.uid}`, { memory_size: 40 * 1024 * 1024 });
    expect(ok.status).toBe(200);
    expect(await actionDone(String(ok.body.action_uid))).toMatchObject({
      name: 'SMUpdateBDB',
      status: 'completed',
    });
    const shard = shardClient(a1.shard_list[0]!);
    expect(await shard.config('GET', 'maxmemory')).toEqual(['maxmemory', String(40 * 1024 * 1024)]);
  });

  it('answers 404 for a missing bdb on every bdb request', async () => {
    for (const [m, p] of [
      ['GET', '/v1/bdbs/999'],
      ['PUT', '/v1/bdbs/999'],
      ['DELETE', '/v1/bdbs/999'],
      ['GET', '/v1/bdbs/999/shards'],
      ['PUT', '/v1/bdbs/999/flush'],
      ['GET', '/v1/bdbs/999/sync_source_stats'],
    ] as const) {
      const r = await call(m, p, m === 'PUT' ? {} : undefined);
      expect(r.status, `${m} ${p}`).toBe(404);
      expect(r.body.error_code).toBe('MINIRS_ERR_NOT_FOUND');
    }
  });
});

describe('fields, shards and actions that return the bdb', () => {
  it('returns only the fields asked for', async () => {
    const r = await call('GET', '/v1/bdbs?fields=uid,name');
    expect(r.status).toBe(200);
    for (const b of r.body as unknown as Record<string, unknown>[])
      expect(Object.keys(b).sort()).toEqual(['name', 'uid']);
    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    expect((await call('GET', `/v1/bdbs/${a1.uid}?fields=port`)).body).toEqual({ port: a1.port });
  });

  it('serves RS shard objects at /v1/bdbs/{uid}/shards and /v1/shards', async () => {
    const r = await call('POST', '/v1/bdbs', {
      name: 'sh2',
      shards_count: 2,
      sharding: true,
      memory_size: 16 * 1024 * 1024,
    });
    await actionDone(String(r.body.action_uid));
    const shards = (await call('GET', `/v1/bdbs/${r.body.uid}/shards`)).body as unknown as Record<
      string,
      unknown
    >[];
    expect(shards).toHaveLength(2);
    expect(shards.map((s) => s.assigned_slots)).toEqual(['0-8191', '8192-16383']);
    for (const s of shards) {
      expect(s).toMatchObject({
        bdb_uid: r.body.uid,
        role: 'master',
        status: 'active',
        detailed_status: 'ok',
        loading: { status: 'idle' },
      });
      expect(typeof s.uid).toBe('string');
      expect(typeof s.node_uid).toBe('string');
    }
    const picked = await waitFor(async () => {
      const l = (
        await call(
          'GET',
          `/v1/bdbs/${r.body.uid}/shards?extra_info_keys=used_memory&extra_info_keys=connected_clients`,
        )
      ).body as unknown as { redis_info: Record<string, number> }[];
      return l[0]!.redis_info.used_memory ? l : undefined;
    }, 'shard stats');
    expect(Object.keys(picked[0]!.redis_info).sort()).toEqual(['connected_clients', 'used_memory']);
    const one = await call('GET', `/v1/shards/${shards[0]!.uid}`);
    expect(one.body.uid).toBe(shards[0]!.uid);
    await waitFor(async () => {
      const s = (await call('GET', `/v1/shards/${shards[0]!.uid}`)).body;
      return (
        typeof s.report_timestamp === 'string' && (s.redis_info as Record<string, number>).used_memory > 0
      );
    }, 'shard stats in redis_info');
  });

  it('flush and reset_admin_pass return the bdb and an action', async () => {
    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    const r = await endpointClient('a1');
    await r.set('k', 'v');
    const f = await call('PUT', `/v1/bdbs/${a1.uid}/flush`);
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ uid: a1.uid, name: 'a1' });
    expect((await actionDone(String(f.body.action_uid))).status).toBe('completed');
    expect(await r.dbsize()).toBe(0);
    const p = await call('PUT', `/v1/bdbs/${a1.uid}/reset_admin_pass`);
    expect(p.status).toBe(200);
    expect(p.body.uid).toBe(a1.uid);
    expect(p.body.authentication_admin_pass).not.toBe(a1.authentication_admin_pass);
    // RS's "update and perform action": the body's fields are applied too.
    const both = await call('PUT', `/v1/bdbs/${a1.uid}/flush`, { memory_size: 48 * 1024 * 1024 });
    expect(both.body.memory_size).toBe(48 * 1024 * 1024);
    await actionDone(String(both.body.action_uid));
  });

  it('DELETE answers with an action_uid', async () => {
    const u40 = await call('DELETE', '/v1/bdbs/40');
    expect(u40.status).toBe(200);
    expect((await actionDone(String(u40.body.action_uid))).name).toBe('SMDeleteBDB');
    expect((await call('GET', '/v1/bdbs/40')).status).toBe(404);
  });
});

describe('data_persistence', () => {
  it('aof: a redis-server killed with -9 comes back with its data', async () => {
    const r = await call('POST', '/v1/bdbs', {
      name: 'aofdb',
      memory_size: 16 * 1024 * 1024,
      data_persistence: 'aof',
    });
    expect(r.status).toBe(200);
    await actionDone(String(r.body.action_uid));
    const shardUid = (r.body.shard_list as number[])[0]!;
    const sh = shardClient(shardUid);
    expect(await sh.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    const ep = await endpointClient('aofdb');
    for (let i = 0; i < 200; i++) await ep.set(`k${i}`, `v${i}`);
    const pidFile = c.paths.pidFile(`redis-${shardUid}`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const s = (await call('GET', `/v1/shards/${shardUid}`)).body;
        const now = Number(readFileSync(pidFile, 'utf8'));
        return s.status === 'active' && now !== pid;
      },
      'the watchdog to restart the redis-server',
      30_000,
    );
    // The proxy answers "retry later" until it has reconnected to the restarted shard.
    expect(await waitFor(() => ep.get('k0'), 'the endpoint to reach the restarted shard')).toBe('v0');
    expect(await ep.get('k199')).toBe('v199');
    expect(await ep.dbsize()).toBe(200);
  });

  it('disabled: the same kill brings the shard back empty', async () => {
    const a1 = state().bdbs.find((b) => b.name === 'a1')!;
    const ep = await endpointClient('a1');
    await ep.set('gone', '1');
    const shardUid = a1.shard_list[0]!;
    const pidFile = c.paths.pidFile(`redis-${shardUid}`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const s = (await call('GET', `/v1/shards/${shardUid}`)).body;
        return s.status === 'active' && Number(readFileSync(pidFile, 'utf8')) !== pid;
      },
      'the watchdog to restart the redis-server',
      30_000,
    );
    await waitFor(
      async () => (await ep.ping()) === 'PONG' && (await ep.dbsize()) >= 0,
      'the endpoint to reach the restarted shard',
    );
    expect(await ep.get('gone')).toBeNull();
  });

  it('a PUT switches persistence live on the shards and for restarts', async () => {
    const b = state().bdbs.find((x) => x.name === 'aofdb')!;
    const r = await call('PUT', `/v1/bdbs/${b.uid}`, {
      data_persistence: 'snapshot',
      snapshot_policy: [
        { secs: 60, writes: 1 },
        { secs: 300, writes: 10 },
      ],
    });
    expect(r.status).toBe(200);
    expect((await actionDone(String(r.body.action_uid))).status).toBe('completed');
    const sh = shardClient(b.shard_list[0]!);
    expect(await sh.config('GET', 'save')).toEqual(['save', '60 1 300 10']);
    expect(await sh.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    // A restarted shard gets the new policy too (the manager refreshed the shard's config).
    const pidFile = c.paths.pidFile(`redis-${b.shard_list[0]}`);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(
      async () => {
        const s = (await call('GET', `/v1/shards/${b.shard_list[0]}`)).body;
        return s.status === 'active' && Number(readFileSync(pidFile, 'utf8')) !== pid;
      },
      'the watchdog to restart the redis-server',
      30_000,
    );
    expect(await sh.config('GET', 'save')).toEqual(['save', '60 1 300 10']);
    const st = state().bdbs.find((x) => x.uid === b.uid)!;
    expect(st).toMatchObject({
      data_persistence: 'snapshot',
      snapshot_policy: [
        { secs: 60, writes: 1 },
        { secs: 300, writes: 10 },
      ],
    });
  });
});

describe('sync_source_stats and the metrics exporter', () => {
  let dstUid = 0;
  const sni: string[] = [];

  beforeAll(async () => {
    const src = await call('POST', '/v1/bdbs', { name: 'src', memory_size: 64 * 1024 * 1024 });
    await actionDone(String(src.body.action_uid));
    const s = await endpointClient('src');
    // Random values: the RDB does not compress them below the 1 MB the checks below expect.
    const pipe = s.pipeline();
    for (let i = 0; i < 1500; i++) pipe.set(`s${i}`, randomBytes(500).toString('hex'));
    await pipe.exec();
    const dst = await call('POST', '/v1/bdbs', {
      name: 'dst',
      memory_size: 64 * 1024 * 1024,
      replica_sources: [{ uri: `src:${await c.sourceUrl('src')}` }],
    });
    expect(dst.status, JSON.stringify(dst.body)).toBe(200);
    dstUid = Number(dst.body.uid);
    await waitFor(
      async () => (await c.replicaStatus('dst')).status === 'in-sync',
      'dst in sync',
      60_000,
      100,
    );
  });

  it('keeps per-interval history with interval, stime and etime', async () => {
    // At least three one-second samples after the full sync.
    const stats = await waitFor(
      async () => {
        const r = await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats?interval=1sec`);
        const list = r.body.sync_source_stats as { uid: string; intervals: Record<string, unknown>[] }[];
        return list[0]!.intervals.length >= 3 ? list : undefined;
      },
      'three 1sec intervals',
      20_000,
      200,
    );
    const iv = stats[0]!.intervals as {
      interval: string;
      stime: string;
      etime: string;
      ingress_bytes: number;
    }[];
    for (const x of iv) {
      expect(x.interval).toBe('1sec');
      expect(x.stime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Date.parse(x.etime) - Date.parse(x.stime)).toBe(1000);
    }
    for (let i = 1; i < iv.length; i++)
      expect(Date.parse(iv[i]!.stime)).toBeGreaterThan(Date.parse(iv[i - 1]!.stime));
    expect(iv.length).toBeLessThanOrEqual(10);
    const one = (await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats/1?interval=10sec`)).body as {
      uid: string;
      intervals: {
        interval: string;
        stime: string;
        etime: string;
        ingress_bytes: number;
        full_syncs: number;
      }[];
      totals: { ingress_bytes: number; full_syncs: number };
    };
    expect(one.uid).toBe('1');
    expect(one.intervals.length).toBeGreaterThan(0);
    for (const x of one.intervals) expect(Date.parse(x.etime) - Date.parse(x.stime)).toBe(10_000);
    // Deltas per interval add up to no more than the running total; the full sync is in one of them.
    const sum = one.intervals.reduce((n, x) => n + x.ingress_bytes, 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(one.totals.ingress_bytes);
    expect(one.totals.ingress_bytes).toBeGreaterThan(1_000_000);
    expect(one.intervals.reduce((n, x) => n + x.full_syncs, 0)).toBeLessThanOrEqual(one.totals.full_syncs);
    // stime/etime bound the intervals returned.
    const last = iv[iv.length - 1]!;
    const later = (
      await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats/1?interval=1sec&stime=${last.stime}`)
    ).body as {
      intervals: { stime: string }[];
    };
    expect(later.intervals.every((x) => Date.parse(x.stime) >= Date.parse(last.stime))).toBe(true);
    const none = (await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats/1?etime=2001-01-01T00:00:00Z`))
      .body as {
      intervals: unknown[];
    };
    expect(none.intervals).toEqual([]);
    const badInterval = await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats?interval=2min`);
    expect(badInterval.status).toBe(400);
    expect(badInterval.body.field).toBe('interval');
    const badTime = await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats?stime=yesterday`);
    expect(badTime.body.field).toBe('stime');
    expect((await call('GET', `/v1/bdbs/${dstUid}/sync_source_stats/7`)).status).toBe(404);
  });

  it('serves RS v1 names at / and v2 names at /v2 on its own port, with ingress as rates', async () => {
    const url = String((await call('GET', '/v1/cluster')).body.metrics_exporter_url);
    // Node 1's address (loopback mode) or the cluster's host address 198.19.C.254 (netns mode).
    expect(url).toMatch(/^https:\/\/(127\.\d+\.\d+\.\d+|198\.19\.\d+\.254):\d+$/);
    expect(url).not.toBe(c.credentials.api_url);
    // RS's documented names (rs-prometheus-metrics-v1.md) of the families minirs serves.
    const RS_V1 = new Set([
      'bdb_up',
      'bdb_memory_limit',
      'bdb_used_memory',
      'bdb_no_of_keys',
      'bdb_instantaneous_ops_per_sec',
      'bdb_shards_used',
      'bdb_replicaof_syncer_ingress_bytes',
      'bdb_replicaof_syncer_ingress_bytes_decompressed',
      'bdb_replicaof_syncer_local_ingress_lag_time',
      'bdb_replicaof_syncer_status',
      'redis_up',
      'redis_used_memory',
      'redis_maxmemory',
      'redis_db0_keys',
      'redis_connected_clients',
      'redis_total_commands_processed',
      'node_up',
    ]);
    // rs-prometheus-metrics-v2.md, and replica_src_ingress_bytes* of the v1-to-v2 transition table.
    const RS_V2 = new Set([
      'node_metrics_up',
      'db_status',
      'db_config',
      'db_memory_limit_bytes',
      'database_syncer_current_status',
      'database_syncer_lag_ms',
      'database_syncer_ingress_bytes',
      'database_syncer_ingress_bytes_decompressed',
      'database_syncer_rdb_size',
      'database_syncer_rdb_transferred',
      'database_syncer_src_connectivity_state',
      'replica_src_ingress_bytes',
      'replica_src_ingress_bytes_decompressed',
      'redis_server_up',
      'redis_server_used_memory',
      'redis_server_maxmemory',
      'redis_server_db_keys',
      'redis_server_db0_keys',
      'redis_server_connected_clients',
      'redis_server_total_commands_processed',
    ]);
    const v1 = await scrape(`${url}/`);
    expect(v1.status).toBe(200);
    const p1 = parseProm(v1.text);
    expect([...p1.types.keys()].sort()).toEqual([...RS_V1].sort());
    const l1 = { bdb: String(dstUid), source: '1' };
    expect(p1.value('bdb_replicaof_syncer_status', l1)).toBe(0);
    expect(p1.value('bdb_replicaof_syncer_local_ingress_lag_time', l1)).toBeGreaterThanOrEqual(0);

    const v2 = await scrape(`${url}/v2`);
    expect(v2.status).toBe(200);
    const p2 = parseProm(v2.text);
    expect([...p2.types.keys()].sort()).toEqual([...RS_V2].sort());
    const l2 = { db: String(dstUid), syncer_type: 'replicaof', source: '1' };
    expect(p2.value('database_syncer_current_status', l2)).toBe(0);
    expect(p2.value('database_syncer_lag_ms', l2)).toBeGreaterThanOrEqual(0);
    expect(p2.types.get('replica_src_ingress_bytes')).toBe('counter');
    const total = p2.value('replica_src_ingress_bytes', { db: String(dstUid), source: '1' })!;
    expect(total).toBeGreaterThan(1_000_000);
    // v1 ingress is bytes/s over the last seconds: once the full sync is 5 s behind, far below the total.
    await waitFor(
      async () => {
        const rate = parseProm((await scrape(`${url}/`)).text).value(
          'bdb_replicaof_syncer_ingress_bytes',
          l1,
        );
        return rate !== undefined && rate < total / 10;
      },
      'the v1 ingress rate to fall after the full sync',
      20_000,
      500,
    );
    // ... and rises again while the source is written.
    const s = await endpointClient('src');
    const big = 'y'.repeat(5000);
    await waitFor(
      async () => {
        await s.set('hot', big);
        const rate = parseProm((await scrape(`${url}/`)).text).value(
          'bdb_replicaof_syncer_ingress_bytes',
          l1,
        );
        return rate !== undefined && rate > 1000;
      },
      'the v1 ingress rate to show writes',
      20_000,
      100,
    );
    expect((await scrape(`${url}/nope`)).status).toBe(404);
    // /metrics on the API port is unchanged: running totals.
    const api = await call('GET', '/metrics');
    expect(api.status).toBe(200);
    expect(parseProm(String(api.body.text)).value('bdb_replicaof_syncer_ingress_bytes', l1)).toBeGreaterThan(
      1_000_000,
    );
  });

  it('sends replication_tls_sni as the TLS server name to the source', async () => {
    const certs = c.paths.certs;
    sniServer = createTlsServer({
      key: readFileSync(join(certs, 'proxy.key')),
      cert: readFileSync(join(certs, 'proxy.pem')),
      SNICallback: (name, cb) => {
        sni.push(name);
        cb(null, undefined);
      },
    });
    sniServer.on('secureConnection', (sock) => sock.destroy());
    sniServer.on('tlsClientError', () => {});
    // Node 1's address; in netns mode that is inside node 1's namespace, where this process
    // cannot listen: the host's loopback then (the syncer runs on the host for such a source).
    const host = state().cluster.net === 'netns' ? '127.0.0.1' : state().cluster.nodes[0]!.addr;
    await new Promise<void>((resolve) => sniServer!.listen(0, host, () => resolve()));
    const port = (sniServer.address() as { port: number }).port;
    const r = await call('POST', '/v1/bdbs', {
      name: 'snidst',
      memory_size: 8 * 1024 * 1024,
      replica_sources: [
        {
          uri: `redis://${host}:${port}`,
          encryption: true,
          server_cert: readFileSync(join(certs, 'proxy.pem'), 'utf8'),
          replication_tls_sni: 'source.example.test',
        },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((r.body.replica_sources as { replication_tls_sni: string }[])[0]!.replication_tls_sni).toBe(
      'source.example.test',
    );
    await waitFor(() => sni.length > 0, 'the syncer to open a TLS connection to the source', 30_000, 100);
    expect(sni[0]).toBe('source.example.test');
  });
});
