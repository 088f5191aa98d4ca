import { createServer } from 'node:net';
import type { ErrorReply } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer, type StartedRedisServer } from '@minirs/harness';
import type { ProxyStats } from '../src/index.js';
import { INTERNAL_PASSWORD, ProxyTestBed, type StartedProxyTestBed, startProxy } from './harness.js';
import { RawClient } from './raw-client.js';

describe('proxy process under the control channel', () => {
  let bed: StartedProxyTestBed;
  const extra: StartedRedisServer[] = [];
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(2).start();
  });
  afterAll(async () => {
    await bed?.stop();
    await Promise.all(extra.map((s) => s.stop()));
  });

  it('reports a port it cannot bind as listen-failed, and keeps serving the others', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      await expect(bed.addDb({ uid: 50, port })).rejects.toThrow(/EADDRINUSE/);
      const ev = bed.proxy.events.find((e) => e.event === 'listen-failed');
      expect(ev?.detail).toEqual({ bdb_uid: 50, port, error: 'EADDRINUSE' });
    } finally {
      blocker.close();
      bed.dbs.splice(0);
    }
    const ok = await bed.addDb({ uid: 51 });
    expect(await bed.client(ok).ping()).toBe('PONG');
  });

  it('listens once a port that was taken for a moment is free again, without a new config', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    const db = { uid: 60, port };
    await expect(bed.addDb(db)).rejects.toThrow(/EADDRINUSE/);
    await new Promise<void>((r) => blocker.close(() => r()));
    await expect
      .poll(() => bed.proxy.events.some((e) => e.event === 'listening' && e.detail?.bdb_uid === 60), {
        timeout: 10_000,
      })
      .toBe(true);
    const r = await RawClient.connect(port);
    try {
      expect(await r.call('PING')).toMatchObject({ value: 'PONG' });
    } finally {
      r.close();
    }
  });

  it('moves a shard in place: connected clients stay, commands follow the new route', async () => {
    const db = await bed.addDb({ uid: 52 });
    const client = bed.client(db);
    await client.set('{a}k', 'before');
    const replacement = await new RedisServer().withPassword(INTERNAL_PASSWORD).start();
    extra.push(replacement);
    // Copy the data the way a migration would, then point every route at the new server.
    const r = replacement.client();
    await r.set('{a}k', 'before');
    db.shards = db.shards.map((s) => ({ ...s, host: replacement.host, port: replacement.port }));
    await bed.apply();
    await client.set('{a}k', 'after');
    expect(await r.get('{a}k')).toBe('after');
    // Same connection all along.
    expect(client.status).toBe('ready');
    expect(await client.client('ID')).toBeGreaterThan(0);
  });

  it('changes passwords for new connections and closes removed databases', async () => {
    const db = await bed.addDb({ uid: 53 });
    db.redis_pass = 'now-locked';
    await bed.apply();
    const r = await RawClient.connect(db.port);
    expect(((await r.call('GET', 'x')) as ErrorReply).message).toMatch(/NOAUTH/);
    r.close();
    bed.dbs.splice(bed.dbs.indexOf(db), 1);
    await bed.apply();
    await expect(RawClient.connect(db.port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('sends per-database stats every second', async () => {
    const db = await bed.addDb({ uid: 54 });
    const c = bed.client(db);
    for (let i = 0; i < 25; i++) await c.set(`s${i}`, '1');
    await expect
      .poll(
        () => {
          const last = bed.proxy.stats.at(-1) as ProxyStats | undefined;
          return last?.dbs.find((d) => d.bdb_uid === 54)?.total_ops ?? 0;
        },
        { timeout: 5000 },
      )
      .toBeGreaterThanOrEqual(25);
    const last = bed.proxy.stats.at(-1) as ProxyStats;
    const s = last.dbs.find((d) => d.bdb_uid === 54)!;
    expect(s).toMatchObject({ port: db.port, listening: true, conns: 1 });
    expect(s.shards.map((x) => x.state)).toEqual(['ready', 'ready']);
    expect(last.node_uid).toBe(1);
  });
});

describe('proxy process lifecycle', () => {
  it('exits 0 on a shutdown message', async () => {
    const p = await startProxy();
    try {
      p.control.send({ type: 'shutdown' });
      expect(await p.exited).toBe(0);
    } finally {
      await p.stop();
    }
  });

  it('exits 0 on SIGTERM, closing its listeners', async () => {
    const p = await startProxy();
    try {
      const port = await freePort();
      p.control.send({
        type: 'config',
        config: {
          dbs: [
            {
              uid: 1,
              name: 'x',
              port,
              redis_pass: '',
              admin_pass: 'a',
              sharding: false,
              shard_key_regex: [],
              tls_mode: 'disabled',
              enforce_client_authentication: 'disabled',
              client_certs: [],
              shards: [],
            },
          ],
        },
      });
      await p.waitForEvent((e) => e.event === 'listening');
      const r = await RawClient.connect(port);
      expect(((await r.call('GET', 'k')) as ErrorReply).message).toMatch(/no shards yet/);
      p.proc.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      await r.waitClosed();
    } finally {
      await p.stop();
    }
  });

  it('refuses to start without a config, with a message saying why', async () => {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const res = spawnSync(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
      env: { ...process.env, MINIRS_PROC_CONFIG: '' },
      encoding: 'utf8',
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/MINIRS_PROC_CONFIG is not set/);
  });
});
