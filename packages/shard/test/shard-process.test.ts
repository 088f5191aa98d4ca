import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { ShardStats } from '@minirs/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alive,
  cleanup,
  connectShard,
  makeShardConfig,
  redisClient,
  spawnShard,
  trackRedisPid,
  waitGone,
} from './harness.js';

afterEach(cleanup);

function redisPidOf(hello: { detail?: unknown }): number {
  return (hello.detail as { redis_pid: number }).redis_pid;
}

function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

/** A signal is delivered asynchronously: poll the process state (bounded) instead of reading it once. */
async function stateSoon(pid: number, want: string, ms = 2000): Promise<string> {
  const end = Date.now() + ms;
  let st = procState(pid);
  while (st !== want && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10));
    st = procState(pid);
  }
  return st;
}

describe('shard process', () => {
  it('starts redis-server with its config, greets and reports stats', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    expect(s.hello).toMatchObject({
      type: 'hello',
      role: 'shard',
      id: cfg.uid,
      pid: shard.pid,
      detail: { adopted: false },
    });
    const redisPid = redisPidOf(s.hello);
    expect(readFileSync(`/proc/${redisPid}/cmdline`, 'utf8')).toContain('redis-server');
    expect(readFileSync(cfg.redis_pid_file, 'utf8').trim()).toBe(String(redisPid));
    // The rendered config holds the password: owner-only.
    expect(statSync(join(cfg.data_dir, 'redis.conf')).mode & 0o077).toBe(0);

    const r = redisClient(cfg);
    try {
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await r.config('GET', 'save')).toEqual(['save', '']);
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await r.config('GET', 'maxmemory')).toEqual(['maxmemory', String(cfg.maxmemory)]);
      expect(await r.config('GET', 'masterauth')).toEqual(['masterauth', cfg.password]);
      for (let i = 0; i < 5; i++) await r.set(`k${i}`, `v${i}`);
      await r.select(2);
      await r.set('other-db', 'x');
      await r.set('other-db-2', 'y');
    } finally {
      r.disconnect();
    }

    const stats = (await s.conn.request('stats')) as ShardStats;
    expect(stats).toMatchObject({ keys: 7, maxmemory: cfg.maxmemory, redis_pid: redisPid });
    expect(stats.used_memory).toBeGreaterThan(0);
    expect(stats.total_commands).toBeGreaterThan(7);
    expect(stats.connected_clients).toBeGreaterThanOrEqual(1);
    // Pushed without asking, too.
    const pushed = await s.next('stats', (m) => (m.stats as ShardStats).keys === 7);
    expect((pushed.stats as ShardStats).redis_pid).toBe(redisPid);
    expect(await s.conn.request('ping')).toBe('PONG');

    await expect(s.conn.request('no-such-op')).rejects.toMatchObject({ code: 'MINIRS_ERR_INVALID_ARGUMENT' });
    expect(await s.conn.request('flush')).toBe('OK');
    expect(((await s.conn.request('stats')) as ShardStats).keys).toBe(0);

    const log = readFileSync(cfg.log_file, 'utf8');
    expect(log).toContain('"name":"shard-7"');
    expect(log).not.toContain(cfg.password);
  });

  it('reports redis-exited and exits 3 when its redis-server is killed', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    const redisPid = redisPidOf(s.hello);
    process.kill(redisPid, 'SIGKILL');
    const ev = await s.next('event');
    expect(ev).toEqual({
      type: 'event',
      event: 'redis-exited',
      detail: { code: null, signal: 'SIGKILL', pid: redisPid },
    });
    expect(await shard.exited).toEqual({ code: 3, signal: null });
    expect(() => statSync(cfg.socket)).toThrow();
    expect(() => statSync(cfg.redis_pid_file)).toThrow();
  });

  it('exits 3 even when no manager is connected to hear about it', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    s.conn.close();
    process.kill(redisPidOf(s.hello), 'SIGKILL');
    expect((await shard.exited).code).toBe(3);
  });

  it('a new shard process adopts the redis-server that outlived a SIGKILLed one, with its data', async () => {
    const cfg = await makeShardConfig();
    const first = spawnShard(cfg);
    const s1 = await connectShard(first);
    const redisPid = redisPidOf(s1.hello);
    const r = redisClient(cfg);
    try {
      await r.set('survivor', 'still here');
      await r.set('second', '2');
    } finally {
      r.disconnect();
    }
    process.kill(first.pid, 'SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(alive(redisPid)).toBe(true);

    const second = spawnShard(cfg);
    const s2 = await connectShard(second);
    expect(s2.hello).toMatchObject({ pid: second.pid, detail: { redis_pid: redisPid, adopted: true } });
    expect((await s2.conn.request('stats')) as ShardStats).toMatchObject({ keys: 2, redis_pid: redisPid });
    const r2 = redisClient(cfg);
    try {
      expect(await r2.get('survivor')).toBe('still here');
    } finally {
      r2.disconnect();
    }

    // An adopted server is not a child: its death is seen by polling, code and signal unknown.
    process.kill(redisPid, 'SIGKILL');
    const ev = await s2.next('event');
    expect(ev).toEqual({
      type: 'event',
      event: 'redis-exited',
      detail: { code: null, signal: null, pid: redisPid },
    });
    expect((await second.exited).code).toBe(3);
  });

  it('adopts a redis-server that a pause left stopped, and resumes it on request', async () => {
    const cfg = await makeShardConfig();
    const first = spawnShard(cfg);
    const s1 = await connectShard(first);
    const redisPid = redisPidOf(s1.hello);
    expect(await s1.conn.request('pause-redis')).toEqual({ redis_pid: redisPid, paused: true });
    expect(await stateSoon(redisPid, 'T')).toBe('T');
    await expect(s1.conn.request('stats')).rejects.toMatchObject({ code: 'MINIRS_ERR_CONFLICT' });
    process.kill(first.pid, 'SIGKILL');
    await first.exited;

    const second = spawnShard(cfg);
    const s2 = await connectShard(second);
    expect(s2.hello.detail).toEqual({ redis_pid: redisPid, adopted: true, paused: true });
    expect(await s2.conn.request('resume-redis')).toEqual({ redis_pid: redisPid, paused: false });
    expect(await s2.conn.request('ping')).toBe('PONG');
  });

  it('starts a fresh redis-server when the pid file names some other process', async () => {
    const cfg = await makeShardConfig();
    const first = spawnShard(cfg);
    await connectShard(first);
    process.kill(-first.pid, 'SIGKILL');
    await first.exited;
    // The test runner itself: alive, but not a redis-server. It must be left alone.
    writeFileSync(cfg.redis_pid_file, `${process.pid}\n`);
    const second = spawnShard(cfg);
    const s2 = await connectShard(second);
    expect(s2.hello.detail).toMatchObject({ adopted: false });
    expect(redisPidOf(s2.hello)).not.toBe(process.pid);
    expect(await s2.conn.request('ping')).toBe('PONG');
  });

  it('kills a leftover redis-server of its own that no longer takes its password, then starts fresh', async () => {
    const cfg = await makeShardConfig();
    const first = spawnShard(cfg);
    const s1 = await connectShard(first);
    const oldRedis = redisPidOf(s1.hello);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    const second = spawnShard({ ...cfg, password: 'a-new-internal-password-0123456789' });
    const s2 = await connectShard(second);
    expect(s2.hello.detail).toMatchObject({ adopted: false });
    expect(redisPidOf(s2.hello)).not.toBe(oldRedis);
    expect(await waitGone(oldRedis, 5000)).toBe(true);
    expect(readFileSync(cfg.log_file, 'utf8')).toContain(
      'does not answer PING with our password; killing it',
    );
  });

  it('SIGTERM stops redis-server, removes its files and exits 0', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    const redisPid = redisPidOf(s.hello);
    process.kill(shard.pid, 'SIGTERM');
    expect(await shard.exited).toEqual({ code: 0, signal: null });
    expect(await waitGone(redisPid, 5000)).toBe(true);
    expect(alive(shard.pid)).toBe(false);
    expect(() => statSync(cfg.redis_pid_file)).toThrow();
    expect(() => statSync(cfg.socket)).toThrow();
  });

  it('the shutdown message stops an adopted, paused redis-server too', async () => {
    const cfg = await makeShardConfig();
    const first = spawnShard(cfg);
    const s1 = await connectShard(first);
    const redisPid = redisPidOf(s1.hello);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    const second = spawnShard(cfg);
    const s2 = await connectShard(second);
    await s2.conn.request('pause-redis');
    s2.conn.send({ type: 'shutdown' });
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(await waitGone(redisPid, 5000)).toBe(true);
  });

  it('set-maxmemory makes writes fail with OOM, and restoring it heals them', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    const r = redisClient(cfg);
    try {
      await r.set('before', '1');
      expect(await s.conn.request('set-maxmemory', { bytes: 1 })).toEqual({ maxmemory: 1 });
      await expect(r.set('during', '2')).rejects.toThrow(/^OOM/);
      expect(((await s.conn.request('stats')) as ShardStats).maxmemory).toBe(1);
      expect(await r.get('before')).toBe('1');
      await s.conn.request('set-maxmemory', { bytes: cfg.maxmemory });
      expect(await r.set('after', '3')).toBe('OK');
    } finally {
      r.disconnect();
    }
    for (const bad of [{ bytes: 0 }, { bytes: -5 }, { bytes: '1mb' }, undefined]) {
      await expect(s.conn.request('set-maxmemory', bad)).rejects.toMatchObject({
        code: 'MINIRS_ERR_INVALID_ARGUMENT',
      });
    }
  });

  it('pause-redis stops the server and resume-redis continues it', async () => {
    const cfg = await makeShardConfig();
    const shard = spawnShard(cfg);
    const s = await connectShard(shard);
    const redisPid = redisPidOf(s.hello);
    await s.conn.request('pause-redis');
    expect(await stateSoon(redisPid, 'T')).toBe('T');
    await expect(s.conn.request('ping')).rejects.toMatchObject({ code: 'MINIRS_ERR_CONFLICT' });
    await s.conn.request('resume-redis');
    expect(procState(redisPid)).not.toBe('T');
    expect(await s.conn.request('ping')).toBe('PONG');
  });
});

describe('shard process: bad config exits 2 with one clear line', () => {
  function expectCleanFailure(output: string, ...needles: string[]) {
    for (const n of needles) expect(output).toContain(n);
    // A message for a person, not a stack trace.
    expect(output).not.toMatch(/\n\s+at /);
    expect(output.trim().split('\n')).toHaveLength(1);
  }

  it('no config at all', async () => {
    const shard = spawnShard(undefined);
    expect((await shard.exited).code).toBe(2);
    expectCleanFailure(shard.output(), 'MINIRS_PROC_CONFIG', 'MINIRS_ERR_INVALID_ARGUMENT');
  });

  it('a missing field', async () => {
    const cfg = await makeShardConfig();
    const { port: _port, ...rest } = cfg;
    const shard = spawnShard(JSON.stringify(rest), cfg.root);
    expect((await shard.exited).code).toBe(2);
    expectCleanFailure(shard.output(), 'MINIRS_PROC_CONFIG.port is missing', 'field port');
  });

  it('a data_dir that cannot be created', async () => {
    const cfg = await makeShardConfig();
    const file = join(cfg.root, 'a-file');
    writeFileSync(file, 'not a directory');
    const shard = spawnShard({ ...cfg, data_dir: join(file, 'data') });
    expect((await shard.exited).code).toBe(2);
    expectCleanFailure(shard.output(), 'data_dir', 'ENOTDIR');
  });

  it('a port held by another process', async () => {
    const cfg = await makeShardConfig();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(cfg.port, cfg.addr, resolve));
    try {
      const shard = spawnShard(cfg);
      expect((await shard.exited).code).toBe(2);
      expectCleanFailure(shard.output(), 'MINIRS_ERR_PORT_IN_USE', `${cfg.addr}:${cfg.port}`);
      expect(readFileSync(cfg.log_file, 'utf8')).toContain('MINIRS_ERR_PORT_IN_USE');
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it('a redis-server binary that does not exist', async () => {
    const cfg = await makeShardConfig({ redis_server: '/nonexistent/redis-server' });
    const shard = spawnShard(cfg);
    expect((await shard.exited).code).toBe(2);
    expectCleanFailure(
      shard.output(),
      'MINIRS_ERR_REDIS_SERVER_MISSING',
      '/nonexistent/redis-server',
      'MINIRS_REDIS_SERVER',
    );
  });

  it('a redis-server older than 7', async () => {
    const cfg = await makeShardConfig();
    const fake = join(cfg.root, 'redis-server-6');
    writeFileSync(fake, '#!/bin/sh\necho "Redis server v=6.2.14 sha=00000000:0 malloc=libc bits=64"\n', {
      mode: 0o755,
    });
    const shard = spawnShard({ ...cfg, redis_server: fake });
    expect((await shard.exited).code).toBe(2);
    expectCleanFailure(shard.output(), 'Redis 6.2.14', '>= 7');
  });
});

// Keep the import used when a test above is skipped while debugging.
void trackRedisPid;
