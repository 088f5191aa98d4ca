import { ErrorReply } from '@minirs/resp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16, ShardKeyRules, SHARD_RADIX } from '../src/index.js';
import { keysPerShard, ProxyTestBed, type StartedProxyTestBed, shardOfSlot, slotOfKey } from './harness.js';
import { RawClient } from './raw-client.js';

const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";
describe('routing over 4 shards', () => {
  let bed: StartedProxyTestBed;
  let c: Redis;
  let direct: Redis[];
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(4).start();
    const db = await bed.addDb();
    c = bed.client(db);
    direct = bed.shards.map((_, i) => bed.shardClient(i));
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('puts every key on the shard that owns its slot', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
    for (const k of keys) await c.set(k, k);
    for (const k of keys) {
      const owner = shardOfSlot(slotOfKey(k), 4);
      for (let s = 0; s < 4; s++)
        expect(await direct[s]!.get(k), `${k} on shard ${s}`).toBe(s === owner ? k : null);
    }
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });

  it('keeps hash-tagged keys together and rejects other multi-key commands across slots', async () => {
    await c.del('{u1}:a', '{u1}:b');
    await c.sadd('{u1}:a', 'x', 'y');
    await c.sadd('{u1}:b', 'y', 'z');
    expect(await c.sinter('{u1}:a', '{u1}:b')).toEqual(['y']);
    expect(await c.rename('{u1}:a', '{u1}:c')).toBe('OK');
    const [[k1], [k2]] = keysPerShard(4, 1);
    await expect(c.sinter(k1!, k2!)).rejects.toThrow(CROSSSLOT);
    await expect(c.rename(k1!, k2!)).rejects.toThrow(CROSSSLOT);
    await expect(c.eval('return 1', 2, k1!, k2!)).rejects.toThrow(CROSSSLOT);
    await expect(c.blpop(k1!, k2!, 1)).rejects.toThrow(CROSSSLOT);
    // Same shard but different slots is still CROSSSLOT: the rule is about slots.
    const [a, b] = keysPerShard(4, 2)[0]!;
    expect(slotOfKey(a!)).not.toBe(slotOfKey(b!));
    await expect(c.sinter(a!, b!)).rejects.toThrow(CROSSSLOT);
  });

  it('splits MSET/MGET/DEL/EXISTS/UNLINK/TOUCH per shard and merges in key order', async () => {
    const keys = keysPerShard(4, 3, 'm').flat();
    const shuffled = [...keys].sort((x, y) => slotOfKey(x) - slotOfKey(y)).reverse();
    expect(await c.mset(...shuffled.flatMap((k) => [k, `v-${k}`]))).toBe('OK');
    expect(await c.mget(...shuffled, 'missing')).toEqual([...shuffled.map((k) => `v-${k}`), null]);
    expect(await c.exists(...shuffled, shuffled[0]!, 'missing')).toBe(shuffled.length + 1);
    expect(await c.touch(...shuffled)).toBe(shuffled.length);
    expect(await c.unlink(...shuffled.slice(0, 4))).toBe(4);
    expect(await c.del(...shuffled, 'missing')).toBe(shuffled.length - 4);
    expect(await c.exists(...shuffled)).toBe(0);
  });

  it('merges fanned-out replies in the RESP3 protocol of the client', async () => {
    const r = await RawClient.connect(bed.dbs[0]!.port);
    try {
      await r.call('HELLO', '3');
      const keys = keysPerShard(4, 1, 'r3').flat();
      await r.call('MSET', ...keys.flatMap((k) => [k, 'v']));
      // Nulls from RESP3 links are `_`, spliced as the shard sent them.
      expect(await r.raw('MGET', keys[0]!, 'missing', keys[3]!)).toBe('*3\r\n$1\r\nv\r\n_\r\n$1\r\nv\r\n');
      expect(await r.call('DEL', ...keys)).toBe(4);
    } finally {
      r.close();
    }
  });

  it('spans KEYS, DBSIZE, SCAN, RANDOMKEY, INFO keyspace and FLUSHDB over all shards', async () => {
    await c.flushdb();
    const keys = keysPerShard(4, 10, 's').flat();
    await c.mset(...keys.flatMap((k) => [k, '1']));
    await c.expire(keys[0]!, 1000);
    expect(await c.dbsize()).toBe(40);
    expect((await c.keys('s*')).sort()).toEqual([...keys].sort());
    const seen: string[] = [];
    let cursor = '0';
    let calls = 0;
    do {
      const [next, batch] = await c.scan(cursor, 'MATCH', 's*', 'COUNT', 5);
      seen.push(...batch);
      cursor = next;
      calls++;
    } while (cursor !== '0' && calls < 1000);
    expect(seen.sort()).toEqual([...keys].sort());
    expect(keys).toContain(await c.randomkey());
    const info = await c.info('keyspace');
    expect(info).toMatch(/^db0:keys=40,expires=1,avg_ttl=\d+\r$/m);
    await expect(c.scan(`${4n * 7n + 4n}`)).rejects.toThrow('invalid cursor');
    expect(SHARD_RADIX).toBe(1024n);
    expect(await c.flushdb()).toBe('OK');
    for (const d of direct) expect(await d.dbsize()).toBe(0);
    expect(await c.randomkey()).toBeNull();
  });

  it('loads scripts on every shard so EVALSHA works wherever keys route', async () => {
    const sha = (await c.script('LOAD', "return redis.call('SET', KEYS[1], ARGV[1])")) as string;
    for (const [k] of keysPerShard(4, 1, 'e')) expect(await c.evalsha(sha, 1, k!, 'ok')).toBe('OK');
    expect(await c.script('EXISTS', sha, 'f'.repeat(40))).toEqual([1, 0]);
    expect(await c.eval('return ARGV[1]', 0, 'keyless')).toBe('keyless');
  });

  it('reaches every subscriber with PUBLISH, whatever shard serves the channel', async () => {
    const subs = Array.from({ length: 4 }, () => bed.client(bed.dbs[0]!));
    const got: string[][] = subs.map(() => []);
    await Promise.all(subs.map((s) => s.subscribe('news')));
    subs.forEach((s, i) => {
      s.on('message', (_ch: string, msg: string) => got[i]!.push(msg));
    });
    expect(await c.publish('news', 'hello')).toBe(4);
    await expect.poll(() => got.map((g) => g.join())).toEqual(['hello', 'hello', 'hello', 'hello']);
    for (const s of subs) s.disconnect();
  });
});

describe('custom shard_key_regex', () => {
  let bed: StartedProxyTestBed;
  let c: Redis;
  const rules = [{ regex: '^user:(?<tag>\\d+):' }, { regex: '^item-(?<tag>[a-z]+)' }];
  const compiled = ShardKeyRules.compile(rules);
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(4).start();
    const db = await bed.addDb({ shard_key_regex: rules });
    c = bed.client(db);
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('routes as declared', async () => {
    expect(slotOfKey('user:42:name', compiled)).toBe(slotOfKey('42'));
    await c.set('user:42:name', 'ann');
    await c.set('user:42:mail', 'a@x');
    // Same tag, same slot: multi-key commands work.
    expect(await c.mget('user:42:name', 'user:42:mail')).toEqual(['ann', 'a@x']);
    expect(await c.rename('user:42:mail', 'user:42:email')).toBe('OK');
    const owner = shardOfSlot(slotOfKey('42'), 4);
    expect(await bed.shardClient(owner).get('user:42:name')).toBe('ann');
    await c.set('item-abc', '1');
    expect(await bed.shardClient(shardOfSlot(slotOfKey('abc'), 4)).get('item-abc')).toBe('1');
  });

  it('refuses a key no rule matches, with the key in the error', async () => {
    await expect(c.set('nomatch', '1')).rejects.toThrow(
      "ERR key 'nomatch' matches no shard_key_regex rule of this database",
    );
    await expect(c.mget('user:1:a', 'nomatch')).rejects.toThrow(/nomatch/);
    expect(await c.ping()).toBe('PONG');
  });
});

describe('a non-sharded database', () => {
  let bed: StartedProxyTestBed;
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(1).start();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('lets multi-key commands span slots, like a plain Redis', async () => {
    const db = await bed.addDb({ sharding: false });
    const r = await RawClient.connect(db.port);
    try {
      expect(await r.call('MSET', 'a', '1', 'b', '2')).toBeTruthy();
      expect(await r.call('SINTER', 'a1', 'b1')).toEqual([]);
      expect(await r.call('RENAME', 'a', 'zz')).not.toBeInstanceOf(ErrorReply);
    } finally {
      r.close();
    }
  });
});
