import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { parseRdbBuffer, type RdbEvent } from '../src/index.js';
import { applyCommands, compareServers } from './helpers/compare.js';
import { populate } from './helpers/populate.js';
import { planRestore } from './helpers/restore.js';

const DEBUG = ['--enable-debug-command', 'yes'];

describe('generated data on a live redis-server 7', () => {
  let source: StartedRedisServer;
  let target: StartedRedisServer;
  let sc: Redis;
  let tc: Redis;
  let rdb: Buffer;
  let events: RdbEvent[];

  beforeAll(async () => {
    source = await new RedisServer().withArgs(...DEBUG, '--list-compress-depth', '1', '--maxmemory-policy', 'allkeys-lru').start();
    target = await new RedisServer().withArgs(...DEBUG).start();
    sc = source.client();
    tc = target.client();
    await populate(sc);
    await sc.call('SAVE');
    rdb = readFileSync(join(source.dir, 'dump.rdb'));
    events = [...parseRdbBuffer(rdb)];
  });
  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  it('covers every encoding redis-server 7.0 writes', async () => {
    const types = new Set(events.flatMap((e) => (e.kind === 'keyStart' ? [e.key.rdbType] : [])));
    // string, set, hash, zset2, intset, hash-listpack, zset-listpack, quicklist2, stream2
    expect([...types].sort((a, b) => a - b)).toEqual([0, 2, 4, 5, 11, 16, 17, 18, 19]);
    expect(await sc.object('ENCODING', 'list:big')).toBe('quicklist');
    expect(await sc.object('ENCODING', 'str:int')).toBe('int');
    expect(events[0]).toEqual({ kind: 'header', version: 10 });
    expect(events.filter((e) => e.kind === 'function')).toHaveLength(2);
    expect(events.some((e) => e.kind === 'keyStart' && e.key.idle !== null)).toBe(true);
    expect(events.at(-1)).toMatchObject({ kind: 'end', checksumVerified: true });
    const plain = events.find((e) => e.kind === 'chunk' && e.key.key.toString() === 'list:plain');
    expect(plain?.kind === 'chunk' && plain.value).toEqual({
      type: 'list',
      elements: [
        Buffer.from('small'),
        Buffer.from('y'.repeat(5000)),
        Buffer.from('z'.repeat(3000)),
        Buffer.from('tail'),
      ],
    });
  });

  for (const v of [
    { name: 'raw DUMP payloads', parser: { captureRaw: true }, planner: { mode: 'restore' as const } },
    { name: 're-encoded DUMP payloads', parser: {}, planner: { mode: 'restore' as const } },
    { name: 'commands', parser: { maxChunkItems: 100 }, planner: { mode: 'commands' as const } },
    {
      name: 'auto, 4 KB payload limit',
      parser: { captureRaw: true },
      planner: { mode: 'auto' as const, maxPayloadBytes: 4096 },
    },
  ]) {
    it(`restores into another server with ${v.name}, identical`, async () => {
      await tc.flushall();
      await tc.call('FUNCTION', 'FLUSH');
      const { commands, planner, losses } = planRestore(rdb, v.parser, {
        targetRdbVersion: 10,
        ...v.planner,
      });
      await applyCommands(tc, commands);
      const n = await compareServers(sc, tc, { consumerTimes: v.planner.mode === 'restore' });
      expect(n).toBe(planner.stats.keys);
      if (v.planner.mode === 'commands') {
        expect(losses.some((l) => l.includes('seen-time'))).toBe(true);
      }
    });
  }

  it('raw payloads are byte for byte what DUMP returns (framing, version, CRC64)', async () => {
    const builders = planRestore(rdb, { captureRaw: true }, { targetRdbVersion: 10, mode: 'restore' });
    let compared = 0;
    for (const cmd of builders.commands) {
      if (cmd[0] === 'SELECT') await sc.select(Number(cmd[1]));
      if (cmd[0] !== 'RESTORE') continue;
      const key = cmd[1] as Buffer;
      const dump = await sc.dumpBuffer(key);
      expect(cmd[3], key.toString('latin1')).toEqual(dump);
      compared++;
    }
    await sc.select(0);
    expect(compared).toBe(builders.planner.stats.keys);
  });

  it('the comparison catches a difference', async () => {
    await tc.flushall();
    await tc.call('FUNCTION', 'FLUSH');
    const { commands } = planRestore(rdb, {}, { targetRdbVersion: 10 });
    await applyCommands(tc, commands);
    await tc.lset('list:big', 5000, 'changed');
    await expect(compareServers(sc, tc)).rejects.toThrow(/digest/);
  });
});
