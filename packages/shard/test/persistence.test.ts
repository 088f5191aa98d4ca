import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ShardPersistence } from '@minirs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePersistence, parseShardConfig, renderRedisConf } from '../src/index.js';
import { cleanup, connectShard, makeShardConfig, redisClient, spawnShard, waitGone } from './harness.js';

afterEach(cleanup);

const AOF: ShardPersistence = {
  data_persistence: 'aof',
  aof_policy: 'appendfsync-every-sec',
  snapshot_policy: [],
};
const SNAP: ShardPersistence = {
  data_persistence: 'snapshot',
  aof_policy: 'appendfsync-every-sec',
  snapshot_policy: [{ secs: 900, writes: 1 }],
};

describe('persistence config', () => {
  it('renders appendonly, appendfsync and save for each data_persistence', async () => {
    const base = await makeShardConfig();
    expect(renderRedisConf(base)).toMatch(/^appendonly no$/m);
    expect(renderRedisConf(base)).toMatch(/^save ""$/m);
    expect(renderRedisConf({ ...base, persistence: AOF })).toMatch(/^appendonly yes$/m);
    expect(renderRedisConf({ ...base, persistence: { ...AOF, aof_policy: 'appendfsync-always' } })).toMatch(
      /^appendfsync always$/m,
    );
    const snap = renderRedisConf({
      ...base,
      persistence: {
        ...SNAP,
        snapshot_policy: [
          { secs: 60, writes: 5 },
          { secs: 900, writes: 1 },
        ],
      },
    });
    expect(snap).toMatch(/^save 60 5 900 1$/m);
    expect(snap).toMatch(/^appendonly no$/m);
  });

  it('refuses a malformed persistence object in the shard config', async () => {
    const base = await makeShardConfig();
    expect(() =>
      parseShardConfig(JSON.stringify({ ...base, persistence: { data_persistence: 'rdb' } })),
    ).toThrow(/data_persistence/);
    expect(() => parsePersistence({ ...SNAP, snapshot_policy: [{ secs: 0, writes: 1 }] }, 'p')).toThrow(
      /snapshot_policy/,
    );
    expect(parseShardConfig(JSON.stringify({ ...base, persistence: AOF })).persistence).toEqual(AOF);
  });
});

describe('shard process with persistence', () => {
  it('aof: a new redis-server on the same data_dir loads what the killed one wrote', async () => {
    const cfg = await makeShardConfig({ persistence: AOF });
    const first = spawnShard(cfg);
    const s = await connectShard(first);
    const r = redisClient(cfg);
    try {
      for (let i = 0; i < 100; i++) await r.set(`k${i}`, `v${i}`);
    } finally {
      r.disconnect();
    }
    const redisPid = (s.hello.detail as { redis_pid: number }).redis_pid;
    process.kill(redisPid, 'SIGKILL');
    expect((await first.exited).code).toBe(3);
    expect(await waitGone(redisPid)).toBe(true);
    expect(existsSync(join(cfg.data_dir, 'appendonlydir'))).toBe(true);
    const second = spawnShard(cfg);
    await connectShard(second);
    const r2 = redisClient(cfg);
    try {
      expect(await r2.dbsize()).toBe(100);
      expect(await r2.get('k99')).toBe('v99');
    } finally {
      r2.disconnect();
    }
  });

  it('disabled: a new redis-server starts empty even where an RDB file was left', async () => {
    const cfg = await makeShardConfig({ persistence: SNAP });
    const first = spawnShard(cfg);
    const s = await connectShard(first);
    const r = redisClient(cfg);
    try {
      await r.set('left', '1');
      await r.save();
    } finally {
      r.disconnect();
    }
    expect(existsSync(join(cfg.data_dir, 'dump.rdb'))).toBe(true);
    process.kill((s.hello.detail as { redis_pid: number }).redis_pid, 'SIGKILL');
    expect((await first.exited).code).toBe(3);
    const second = spawnShard({ ...cfg, persistence: undefined });
    await connectShard(second);
    const r2 = redisClient(cfg);
    try {
      expect(await r2.dbsize()).toBe(0);
    } finally {
      r2.disconnect();
    }
  });

  it('set-persistence applies a policy live and refuses a bad one', async () => {
    const cfg = await makeShardConfig();
    const s = await connectShard(spawnShard(cfg));
    const r = redisClient(cfg);
    try {
      expect(await s.conn.request('set-persistence', SNAP)).toEqual(SNAP);
      expect(await r.config('GET', 'save')).toEqual(['save', '900 1']);
      await s.conn.request('set-persistence', AOF);
      expect(await r.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await r.config('GET', 'save')).toEqual(['save', '']);
      await expect(
        s.conn.request('set-persistence', { data_persistence: 'sometimes' }),
      ).rejects.toMatchObject({
        code: 'MINIRS_ERR_INVALID_ARGUMENT',
      });
    } finally {
      r.disconnect();
    }
  });
});
