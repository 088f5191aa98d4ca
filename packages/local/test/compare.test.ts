import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareDatabases } from '../src/compare.js';
import { RedisServer, type StartedRedisServer } from '../src/redis-server.js';

describe('compareDatabases', () => {
  let a: StartedRedisServer;
  let b: StartedRedisServer;
  const uri = (r: StartedRedisServer) => `redis://${r.password ? `:${r.password}@` : ''}127.0.0.1:${r.port}`;

  beforeAll(async () => {
    [a, b] = await Promise.all([new RedisServer().withPassword('pw').start(), new RedisServer().start()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('finds identical data identical, whatever the encodings', async () => {
    const x = a.client();
    const y = b.client();
    await x.flushall();
    await y.flushall();
    await x.rpush('list', 'a', 'b');
    await x.sadd('set', '1', '2', '3');
    await x.hset('h', 'f', 'v');
    await x.zadd('z', 1, 'm');
    await x.set('ttl', 'v', 'PX', 500_000);
    await x.xadd('s', '1-1', 'f', 'v');
    // Same content, another encoding: a set of many small ints in the destination is a hashtable
    for (const k of ['list', 'set', 'h', 'z', 's', 'ttl'])
      await y.restore(k, 0, (await x.dumpBuffer(k))!, 'REPLACE');
    await y.pexpire('ttl', 499_500);
    const r = await compareDatabases([uri(a)], uri(b));
    expect(r).toMatchObject({ checked: 6, missing: 0, extra: 0, different: 0 });
  });

  it('counts missing, extra and different keys with examples', async () => {
    const x = a.client();
    const y = b.client();
    await x.flushall();
    await y.flushall();
    await x.set('only-src', '1');
    await x.set('diff', 'a');
    await y.set('diff', 'b');
    await x.set('ttl', 'v', 'EX', 1000);
    await y.set('ttl', 'v');
    await y.set('only-dst', '1');
    const r = await compareDatabases([uri(a)], uri(b), { ttlToleranceMs: 2000 });
    expect(r).toMatchObject({ checked: 3, missing: 1, extra: 1, different: 2 });
    expect(r.examples.map((e) => `${e.problem}:${e.key}`).sort()).toEqual(
      ['different:diff', 'different:ttl', 'extra:only-dst', 'missing:only-src'].sort(),
    );
  });

  it('handles keys and values that are not UTF-8', async () => {
    const x = a.client();
    const y = b.client();
    await x.flushall();
    await y.flushall();
    const key = Buffer.from([0x6b, 0xff, 0x00, 0xfe]);
    await x.set(key, Buffer.from([1, 2, 255]));
    await y.set(key, Buffer.from([1, 2, 255]));
    await x.hset('h', Buffer.from([0xc3]), Buffer.from([0xff]));
    await y.hset('h', Buffer.from([0xc3]), Buffer.from([0xfe]));
    const r = await compareDatabases([uri(a)], uri(b));
    expect(r).toMatchObject({ checked: 2, missing: 0, extra: 0, different: 1 });
    expect(r.examples[0]!.key).toBe('h');
  });

  it('says which URI it cannot reach, without its password', async () => {
    await expect(compareDatabases(['redis://:secret@127.0.0.1:1'], uri(b))).rejects.toThrow(
      /cannot connect to redis:\/\/:\*\*\*@127.0.0.1:1/,
    );
    // An expected condition: a MinirsError the CLI prints as one line, not an unexpected error.
    await expect(compareDatabases(['redis://127.0.0.1:1'], uri(b))).rejects.toMatchObject({
      code: 'MINIRS_ERR_CONNECTION',
    });
  });
});
