import type { BdbState } from '@minirs/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
// The built package: dist/web holds the bundled browser files it serves.
import { isUiPublicPath, LagRecorder, registerUi, type UiSnapshot } from '../dist/index.js';

const USER = 'admin@t.minirs.local';
const PASS = 'secret-pass';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;

function bdb(uid: number, extra: Partial<BdbState> = {}): BdbState {
  return {
    uid,
    name: `db${uid}`,
    port: 12000 + uid,
    memory_size: 1 << 27,
    shards_count: 1,
    sharding: false,
    shard_key_regex: [],
    hash_slots_policy: '16k',
    authentication_redis_pass: '',
    authentication_admin_pass: 'adminpass',
    endpoints: [{ addr: ['127.0.9.1'], port: 12000 + uid, dns_name: 'x' }],
    status: 'active',
    tls_mode: 'disabled',
    enforce_client_authentication: 'disabled',
    authentication_ssl_client_certs: [],
    replica_sync: 'disabled',
    replica_sources: [],
    sync_epoch: 0,
    created_time: new Date(0).toISOString(),
    shard_list: [],
    ...extra,
  };
}

function snapshot(bdbs: BdbState[]): UiSnapshot {
  return {
    time: new Date().toISOString(),
    cluster: { name: 't', api_url: 'https://127.0.9.1:1', api_port: 1, loopback_fallback: false, nodes: [] },
    shards: [],
    bdbs,
    faults: [],
  };
}

const source = (uid: number, status: 'syncing' | 'in-sync' | 'out-of-sync', lag = 0) => ({
  uid,
  uri: 'redis://admin:p@127.0.9.2:1',
  compression: 0,
  encryption: false,
  status,
  rdb_size: 0,
  rdb_transferred: 0,
  lag,
  last_update: null,
  last_error: '',
});

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A server shaped like the manager's: basic auth on everything but the UI's public paths. */
async function start(o: { maxStreams?: number } = {}): Promise<string> {
  const a = Fastify();
  app = a;
  a.addHook('onRequest', async (req, reply) => {
    if (isUiPublicPath(req.method, req.url)) return;
    if (req.headers.authorization !== AUTH)
      reply.code(401).header('www-authenticate', 'Basic').send({ error: 'no' });
  });
  let n = 0;
  registerUi(a, {
    username: USER,
    password: PASS,
    intervalMs: 50,
    maxStreams: o.maxStreams,
    snapshot: () => snapshot([bdb(1, { name: `tick${n++}` })]),
  });
  return a.listen({ host: '127.0.0.1', port: 0 });
}

describe('isUiPublicPath', () => {
  it('opens the static files and the login check, nothing with data', () => {
    expect(isUiPublicPath('GET', '/')).toBe(true);
    expect(isUiPublicPath('GET', '/ui')).toBe(true);
    expect(isUiPublicPath('GET', '/ui/bdbs/3?x=1')).toBe(true);
    expect(isUiPublicPath('GET', '/ui/assets/app.js')).toBe(true);
    expect(isUiPublicPath('POST', '/ui/login')).toBe(true);
    expect(isUiPublicPath('POST', '/ui/other')).toBe(false);
    expect(isUiPublicPath('GET', '/v1/events')).toBe(false);
    expect(isUiPublicPath('GET', '/v1/bdbs')).toBe(false);
    expect(isUiPublicPath('GET', '/uix/secret')).toBe(false);
    expect(isUiPublicPath('PUT', '/ui/x')).toBe(false);
  });
});

describe('registerUi', () => {
  it('serves the app shell for every page path and the bundled assets, with a same-origin CSP', async () => {
    const base = await start();
    for (const path of ['/ui/', '/ui/cluster', '/ui/bdbs/3']) {
      const r = await fetch(base + path);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      expect(await r.text()).toContain('/ui/assets/app.js');
    }
    const js = await fetch(`${base}/ui/assets/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    const css = await fetch(`${base}/ui/assets/app.css`);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    expect((await fetch(`${base}/ui/assets/missing.js`)).status).toBe(404);
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
  });

  it('checks the login without a basic-auth challenge', async () => {
    const base = await start();
    const post = (body: unknown) =>
      fetch(`${base}/ui/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const bad = await post({ username: USER, password: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBeNull();
    expect(((await bad.json()) as { message: string }).message).toMatch(/wrong username or password/);
    expect((await post({ username: USER })).status).toBe(400);
    const ok = await post({ username: USER, password: PASS });
    expect(ok.status).toBe(200);
  });

  it('streams history then state events to authenticated clients only, and closes with the server', async () => {
    const base = await start({ maxStreams: 1 });
    expect((await fetch(`${base}/v1/events`)).status).toBe(401);
    const r = await fetch(`${base}/v1/events`, { headers: { authorization: AUTH } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
    // One stream is the limit here: the next is refused, not queued.
    expect((await fetch(`${base}/v1/events`, { headers: { authorization: AUTH } })).status).toBe(503);
    const reader = r.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    while ((text.match(/event: state/g) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended early: ${text}`);
      text += dec.decode(value);
    }
    expect(text.indexOf('event: history')).toBeLessThan(text.indexOf('event: state'));
    const states = [...text.matchAll(/event: state\ndata: (.*)\n\n/g)].map(
      (m) => JSON.parse(m[1]!) as UiSnapshot,
    );
    expect(new Set(states.map((s) => s.bdbs[0]!.name)).size).toBe(states.length);
    // An open stream does not hold the server open.
    await app!.close();
    app = undefined;
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  });
});

describe('LagRecorder', () => {
  it('keeps the window, records gaps while not in sync, and forgets removed sources', () => {
    const rec = new LagRecorder(1000);
    const enabled = (sources: ReturnType<typeof source>[]) =>
      snapshot([bdb(2, { replica_sync: 'enabled', replica_sources: sources })]);
    rec.record(enabled([source(1, 'syncing'), source(2, 'in-sync', 5)]), 0);
    rec.record(enabled([source(1, 'in-sync', 7), source(2, 'in-sync', 6)]), 600);
    rec.record(enabled([source(1, 'in-sync', 3), source(2, 'in-sync', 4)]), 1200);
    expect(rec.toJSON()['2/1']).toEqual([
      [600, 7],
      [1200, 3],
    ]);
    rec.record(enabled([source(1, 'out-of-sync')]), 1300);
    expect(rec.toJSON()['2/1']!.at(-1)).toEqual([1300, null]);
    expect(rec.toJSON()['2/2']).toBeUndefined();
    const stopped = snapshot([
      bdb(2, { replica_sync: 'stopped', replica_sources: [source(1, 'in-sync', 9)] }),
    ]);
    rec.record(stopped, 1400);
    expect(rec.toJSON()['2/1']!.at(-1)).toEqual([1400, null]);
  });
});
