import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import {
  isRdbError,
  parseDumpPayload,
  parseRdbBuffer,
  type RdbEvent,
  RdbErrorCodes,
  RdbType,
  type RedisCommand,
} from '../src/index.js';
import { applyCommands } from './helpers/compare.js';
import { planRestore } from './helpers/restore.js';
import { listpack, moduleId, RdbWriter, ziplist } from './helpers/rdb-writer.js';

const T = Date.UTC(2080, 0, 1); // field/key TTLs far in the future
const SEEN = 1_700_000_000_000;
const CODE = "#!lua name=synth\nredis.register_function('synth', function() return 7 end)";

/** An RDB 12 file with what Redis 7.2 / 7.4 add, plus old encodings and (optionally) module data. */
function buildRdb12(withModules: boolean): Buffer {
  const w = new RdbWriter(12);
  w.aux('redis-ver', '7.4.0').aux('repl-stream-db', '0').aux('repl-offset', '12345');
  w.byte(245).str(CODE); // FUNCTION2
  if (withModules) {
    // MODULE_AUX for 'test__rdb': when opcode UINT(2), when=2, then annotated values up to EOF.
    w.byte(247).len(moduleId('test__rdb', 1)).len(2).len(2);
    w.len(2)
      .len(5)
      .len(5)
      .str('payload')
      .len(4)
      .raw(Buffer.alloc(8))
      .len(3)
      .raw(Buffer.alloc(4))
      .len(1)
      .len(7)
      .len(0);
  }
  w.byte(254).len(0).byte(251).len(12).len(3);
  w.byte(244).len(866).len(12).len(3); // SLOT_INFO
  w.key(RdbType.SET_LISTPACK, 'set:lp').str(listpack(['a', 'b', 1, -300, 70000, 5000000000n]));
  // HASH_METADATA: min expiry, count, then (ttl relative to min + 1, or 0), field, value.
  w.key(RdbType.HASH_METADATA, 'hash:meta').ms(T).len(3);
  w.len(0).str('plain').str('p').len(5001).str('later').str('l').len(1).str('first').str('f');
  w.key(RdbType.HASH_METADATA_PRE_GA, 'hash:meta-pre')
    .len(2)
    .len(T + 7)
    .str('abs')
    .str('1')
    .len(0)
    .str('none')
    .str('2');
  w.key(RdbType.HASH_LISTPACK_EX, 'hash:lpex').ms(T + 1);
  w.str(listpack(['t1', 'v1', T + 1, 't2', 'v2', T + 2, 'n', 'v', 0]));
  w.key(RdbType.HASH_LISTPACK_EX, 'hash:lpex-nottl')
    .ms(0)
    .str(listpack(['a', '1', 0, 'b', '2', 0]));
  w.key(RdbType.HASH_LISTPACK_EX_PRE_GA, 'hash:lpex-pre').str(listpack(['x', 'y', T + 3]));
  // Stream v3: one node; master ID 1000-0, fields f1 f2; entries 1000-0, 1001-5, 1002-0 (deleted), 1003-1.
  const node = listpack([
    3,
    1,
    2,
    'f1',
    'f2',
    0,
    2,
    0,
    0,
    'a1',
    'a2',
    2,
    0,
    1,
    5,
    1,
    'x',
    'y',
    4,
    3,
    2,
    0,
    'd1',
    'd2',
    2,
    2,
    3,
    1,
    'v1',
    'v2',
    2,
  ]);
  const master = Buffer.alloc(16);
  master.writeBigUInt64BE(1000n, 0);
  w.key(RdbType.STREAM_LISTPACKS_3, 'stream:v3').len(1).str(master).str(node);
  w.len(3).streamId(1003, 1).streamId(1000, 0).streamId(1002, 0).len(4); // length, last, first, max-deleted, added
  w.len(2);
  w.str('g').streamId(1003, 1).len(4).len(2);
  w.rawId(1000, 0)
    .ms(SEEN + 1)
    .len(3)
    .rawId(1003, 1)
    .ms(SEEN + 2)
    .len(1);
  w.len(3);
  w.str('c1')
    .ms(SEEN)
    .ms(SEEN + 5)
    .len(1)
    .rawId(1000, 0);
  w.str('c2')
    .ms(SEEN + 10)
    .ms(SEEN + 11)
    .len(1)
    .rawId(1003, 1);
  w.str('c3')
    .ms(SEEN + 20)
    .ms(SEEN + 21)
    .len(0);
  w.str('g2')
    .streamId(0, 0)
    .len((1n << 64n) - 1n)
    .len(0)
    .len(0);
  // Quicklist v1 of two ziplists with every integer encoding.
  w.key(RdbType.LIST_QUICKLIST, 'list:ql1').len(2);
  w.str(
    ziplist([
      0,
      12,
      13,
      -1,
      127,
      -128,
      300,
      -30000,
      100000,
      -8000000,
      2147483647,
      -2147483648,
      9007199254740993n,
    ]),
  );
  w.str(ziplist(['s', 'x'.repeat(100), 'y'.repeat(20000)]));
  w.key(RdbType.LIST, 'list:plain').len(2).str('l1').str('l2');
  w.byte(253).raw(Buffer.from([0x00, 0x94, 0x35, 0x77])); // EXPIRETIME seconds (int32 LE): 2000000000
  w.key(RdbType.STRING, 'str:exp-s').str('s');
  w.byte(252).ms(T).byte(248).len(42); // EXPIRETIME_MS + IDLE
  w.key(RdbType.ZSET, 'zset:ascii').len(3).str('pinf').byte(254).str('ninf').byte(255).str('half').str('0.5');
  w.byte(249).byte(7); // FREQ
  w.key(RdbType.ZSET_2, 'zset:bin')
    .len(1)
    .str('m')
    .raw(Buffer.from(new Float64Array([-2.25]).buffer));
  if (withModules) {
    w.key(RdbType.MODULE_2, 'bloom').len(moduleId('MBbloom--', 3));
    w.len(2).len(99).len(5).str('bits').len(0);
  }
  w.byte(254).len(5).key(RdbType.STRING, 'db5').str('five');
  return w.end();
}

function collect(events: RdbEvent[], key: string) {
  return events.filter((e) => (e.kind === 'chunk' || e.kind === 'keyStart') && e.key.key.toString() === key);
}

describe('RDB 11/12 formats (written here: no Redis 7.2+ on this machine)', () => {
  const withModules = buildRdb12(true);
  const plain = buildRdb12(false);

  it('parses every opcode and type', () => {
    const events = [...parseRdbBuffer(withModules, { modules: 'skip' })];
    expect(events[0]).toEqual({ kind: 'header', version: 12 });
    expect(events.find((e) => e.kind === 'slotInfo')).toEqual({
      kind: 'slotInfo',
      db: 0,
      slot: 866,
      slotSize: 12,
      expiresSlotSize: 3,
    });
    expect(events.find((e) => e.kind === 'function')).toEqual({ kind: 'function', code: Buffer.from(CODE) });
    expect(events.find((e) => e.kind === 'moduleAux')).toMatchObject({
      module: { name: 'test__rdb', encver: 1 },
    });
    const bloom = events.find((e) => e.kind === 'keyStart' && e.key.key.toString() === 'bloom');
    expect(bloom).toMatchObject({ key: { type: 'module', module: { name: 'MBbloom--', encver: 3 } } });
    const chunk = (key: string) =>
      collect(events, key)
        .filter((e) => e.kind === 'chunk')
        .map((e) => (e.kind === 'chunk' ? e.value : null));
    expect(chunk('set:lp')).toEqual([
      { type: 'set', members: ['a', 'b', '1', '-300', '70000', '5000000000'].map((s) => Buffer.from(s)) },
    ]);
    expect(chunk('hash:meta')).toEqual([
      {
        type: 'hash',
        fields: ['plain', 'later', 'first'].map((s) => Buffer.from(s)),
        values: ['p', 'l', 'f'].map((s) => Buffer.from(s)),
        expireAts: [0, T + 5000, T],
      },
    ]);
    expect(chunk('hash:meta-pre')).toMatchObject([{ expireAts: [T + 7, 0] }]);
    expect(chunk('hash:lpex')).toMatchObject([{ expireAts: [T + 1, T + 2, 0] }]);
    expect(chunk('hash:lpex-pre')).toMatchObject([{ fields: [Buffer.from('x')], expireAts: [T + 3] }]);
    const stream = chunk('stream:v3');
    expect(stream[0]).toMatchObject({
      type: 'streamEntries',
      entries: [
        { id: { ms: 1000n, seq: 0n }, fields: ['f1', 'a1', 'f2', 'a2'].map((s) => Buffer.from(s)) },
        { id: { ms: 1001n, seq: 5n }, fields: ['x', 'y'].map((s) => Buffer.from(s)) },
        { id: { ms: 1003n, seq: 1n }, fields: ['f1', 'v1', 'f2', 'v2'].map((s) => Buffer.from(s)) },
      ],
    });
    expect(stream[1]).toEqual({
      type: 'streamMeta',
      length: 3,
      lastId: { ms: 1003n, seq: 1n },
      firstId: { ms: 1000n, seq: 0n },
      maxDeletedId: { ms: 1002n, seq: 0n },
      entriesAdded: 4n,
      groupCount: 2,
    });
    expect(
      stream
        .filter((c) => c?.type === 'streamConsumer')
        .map((c) => c?.type === 'streamConsumer' && c.activeTime),
    ).toEqual([SEEN + 5, SEEN + 11, SEEN + 21]);
    expect(stream.find((c) => c?.type === 'streamGroup' && c.name.toString() === 'g2')).toMatchObject({
      entriesRead: null,
    });
    expect(chunk('list:ql1')[0]).toMatchObject({ type: 'list' });
    const ql = chunk('list:ql1').flatMap((c) => (c?.type === 'list' ? c.elements.map(String) : []));
    expect(ql).toEqual([
      ...[
        '0',
        '12',
        '13',
        '-1',
        '127',
        '-128',
        '300',
        '-30000',
        '100000',
        '-8000000',
        '2147483647',
        '-2147483648',
      ],
      '9007199254740993',
      's',
      'x'.repeat(100),
      'y'.repeat(20000),
    ]);
    expect(chunk('zset:ascii')).toEqual([
      {
        type: 'zset',
        members: ['pinf', 'ninf', 'half'].map((s) => Buffer.from(s)),
        scores: [Infinity, -Infinity, 0.5],
      },
    ]);
    const keyOf = (k: string) => collect(events, k).find((e) => e.kind === 'keyStart');
    expect(keyOf('str:exp-s')).toMatchObject({ key: { expireAt: 2000000000000 } });
    expect(keyOf('zset:ascii')).toMatchObject({ key: { expireAt: T, idle: 42, freq: null } });
    expect(keyOf('zset:bin')).toMatchObject({ key: { expireAt: null, idle: null, freq: 7 } });
    expect(keyOf('db5')).toMatchObject({ key: { db: 5 } });
    expect(events.at(-1)).toMatchObject({ kind: 'end', checksumVerified: true });
  });

  it('refuses module data by default, naming the module', () => {
    let err: unknown;
    try {
      for (const _ of parseRdbBuffer(withModules));
    } catch (e) {
      err = e;
    }
    expect(isRdbError(err, RdbErrorCodes.UNSUPPORTED)).toBe(true);
    expect(err).toMatchObject({ module: 'test__rdb' });
  });

  describe('restored into redis-server 7.0 (RDB 10)', () => {
    let server: StartedRedisServer;
    let c: Redis;
    beforeAll(async () => {
      server = await new RedisServer().start();
      c = server.client();
    });
    afterAll(async () => {
      await server?.stop();
    });

    for (const mode of ['restore', 'commands'] as const) {
      it(`${mode}: re-encodes or converts what 7.0 cannot load; the content is all there`, async () => {
        await c.flushall();
        await c.call('FUNCTION', 'FLUSH');
        const { commands, losses, planner } = planRestore(
          plain,
          { captureRaw: true },
          { targetRdbVersion: 10, mode },
        );
        await applyCommands(c, commands);
        expect(planner.stats.keys).toBe(13);
        expect((await c.smembers('set:lp')).sort()).toEqual(['-300', '1', '5000000000', '70000', 'a', 'b']);
        expect(await c.hgetall('hash:meta')).toEqual({ plain: 'p', later: 'l', first: 'f' });
        expect(await c.hgetall('hash:lpex')).toEqual({ t1: 'v1', t2: 'v2', n: 'v' });
        expect(await c.hgetall('hash:lpex-nottl')).toEqual({ a: '1', b: '2' });
        expect(await c.hgetall('hash:lpex-pre')).toEqual({ x: 'y' });
        expect(losses).toContain('hash:meta: hash field TTLs (target below Redis 7.4)');
        expect(await c.lrange('list:ql1', 0, 1)).toEqual(['0', '12']);
        expect(await c.llen('list:ql1')).toBe(16);
        expect(await c.zrange('zset:ascii', 0, -1, 'WITHSCORES')).toEqual([
          'ninf',
          '-inf',
          'half',
          '0.5',
          'pinf',
          'inf',
        ]);
        expect(await c.zscore('zset:bin', 'm')).toBe('-2.25');
        expect(Math.abs((await c.pttl('zset:ascii')) - (T - Date.now()))).toBeLessThan(5000);
        expect(await c.call('FCALL', 'synth', '0')).toBe(7);
        expect(await c.xrange('stream:v3', '-', '+')).toEqual([
          ['1000-0', ['f1', 'a1', 'f2', 'a2']],
          ['1001-5', ['x', 'y']],
          ['1003-1', ['f1', 'v1', 'f2', 'v2']],
        ]);
        const info = (await c.call('XINFO', 'STREAM', 'stream:v3', 'FULL')) as unknown[];
        const o = Object.fromEntries(
          Array.from({ length: info.length / 2 }, (_, i) => [String(info[2 * i]), info[2 * i + 1]]),
        );
        expect(o['last-generated-id']).toBe('1003-1');
        expect(o['max-deleted-entry-id']).toBe('1002-0');
        expect(o['entries-added']).toBe(4);
        const [g, g2] = o.groups as unknown[][];
        expect(g.slice(0, 10)).toEqual([
          'name',
          'g',
          'last-delivered-id',
          '1003-1',
          'entries-read',
          4,
          'lag',
          0,
          'pel-count',
          2,
        ]);
        expect(g[11]).toEqual([
          ['1000-0', 'c1', SEEN + 1, 3],
          ['1003-1', 'c2', SEEN + 2, 1],
        ]);
        const consumers = (g[13] as unknown[][]).map((x) => [x[1], x[5]]);
        expect(consumers).toEqual([
          ['c1', 1],
          ['c2', 1],
          ['c3', 0],
        ]);
        if (mode === 'restore') expect((g[13] as unknown[][])[0][3]).toBe(SEEN);
        expect(g2.slice(0, 6)).toEqual(['name', 'g2', 'last-delivered-id', '0-0', 'entries-read', null]);
        await c.select(5);
        expect(await c.get('db5')).toBe('five');
        await c.select(0);
      });
    }
  });

  it('for an RDB 12 target: field TTLs travel (payload type 24/25, or HPEXPIREAT)', () => {
    const restore = planRestore(plain, { captureRaw: true }, { targetRdbVersion: 12, mode: 'restore' });
    const payloads = new Map<string, Buffer>();
    for (const cmd of restore.commands)
      if (cmd[0] === 'RESTORE') payloads.set(String(cmd[1]), cmd[3] as Buffer);
    expect(parseDumpPayload(payloads.get('hash:lpex')!)?.rdbType).toBe(RdbType.HASH_LISTPACK_EX);
    expect(parseDumpPayload(payloads.get('stream:v3')!)?.rdbType).toBe(RdbType.STREAM_LISTPACKS_3);
    // Re-encoded (no raw): HASH_METADATA with the same fields and TTLs once parsed back.
    const reenc = planRestore(plain, {}, { targetRdbVersion: 12, mode: 'restore' });
    const cmd = reenc.commands.find((c) => c[0] === 'RESTORE' && String(c[1]) === 'hash:lpex')!;
    const p = parseDumpPayload(cmd[3] as Buffer)!;
    expect(p.rdbType).toBe(RdbType.HASH_METADATA);
    const back = [...parseRdbBuffer(new RdbWriter(12).key(p.rdbType, 'k').raw(p.body).end())];
    const ch = back.find((e) => e.kind === 'chunk');
    expect(ch?.kind === 'chunk' && ch.value).toMatchObject({ type: 'hash', expireAts: [0, T + 1, T + 2] });
    const cmds = planRestore(plain, {}, { targetRdbVersion: 12, mode: 'commands' }).commands;
    const hpx = cmds.filter((c: RedisCommand) => c[0] === 'HPEXPIREAT').map((c) => c.map(String));
    expect(hpx).toContainEqual(['HPEXPIREAT', 'hash:meta', String(T + 5000), 'FIELDS', '1', 'later']);
    expect(hpx).toContainEqual(['HPEXPIREAT', 'hash:lpex', String(T + 1), 'FIELDS', '1', 't1']);
    expect(hpx).toHaveLength(6);
  });
});
