import { rng as prng } from '@minirs/harness';
import type { Redis } from 'ioredis';

/**
 * Fills a redis-server 7 with every type in every encoding it writes to an RDB: small and large
 * collections (listpack/intset vs quicklist/hashtable/skiplist), plain quicklist nodes,
 * compressed quicklist nodes (with --list-compress-depth), integers, binary and LZF-compressible
 * strings, TTLs, streams with groups, consumers, pending and deleted entries, functions, and a
 * second db. Every loop is bounded.
 */
export async function populate(c: Redis): Promise<void> {
  const rnd = prng(42);
  const bin = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) bin[i] = i;
  const noise = Buffer.alloc(50_000);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256);

  const p = c.pipeline();
  p.set('str:plain', 'hello world');
  p.set('str:int', '12345');
  p.set('str:negint', '-42');
  p.set('str:int64', '9223372036854775807');
  p.set('str:notint', '007');
  p.set('str:empty', '');
  p.set(Buffer.from([0, 1, 2, 255, 0x0d, 0x0a]), bin);
  p.set('str:lzf', 'a'.repeat(10_000));
  p.set('str:noise', noise);
  p.set('str:ttl', 'expiring', 'PX', 3_600_000);
  p.set('str:ttl-far', 'far', 'PXAT', Date.UTC(2090, 0, 1));
  p.set('str:utf8:ключ', 'значение ✓');

  p.rpush('list:small', 'a', 'b', '1', '-2', '300000', '4294967296', '-9223372036854775808', '');
  for (let i = 0; i < 20; i++) {
    const args: string[] = [];
    for (let j = 0; j < 500; j++)
      args.push(j % 3 === 0 ? String(i * 500 + j) : `element-${i}-${j}-${'x'.repeat(j % 40)}`);
    p.rpush('list:big', ...args);
  }
  p.rpush('list:ttl', 'x', 'y');
  p.pexpire('list:ttl', 7_200_000);

  p.sadd('set:intset', 1, 2, 3, -5, 70000, 5000000000);
  const ints: number[] = [];
  for (let i = 0; i < 1000; i++) ints.push(i * 7);
  p.sadd('set:bigints', ...ints);
  p.sadd('set:small', 'a', 'b', 'c', bin);
  const members: string[] = [];
  for (let i = 0; i < 3000; i++) members.push(`member:${i}:${Math.floor(rnd() * 1e9)}`);
  p.sadd('set:big', ...members);

  p.zadd('zset:small', 1, 'one', 2.5, 'two.5', -3, 'minus3', 0, 'zero');
  p.zadd(
    'zset:special',
    'inf',
    'pinf',
    '-inf',
    'ninf',
    '-0',
    'negzero',
    '0.1',
    'tenth',
    '1e300',
    'huge',
    '123456789012345678',
    'bigint',
  );
  const zargs: (string | number)[] = [];
  for (let i = 0; i < 500; i++) zargs.push(rnd() * 1000 - 500, `z${i}`);
  p.zadd('zset:big', ...zargs);

  p.hset('hash:small', 'f1', 'v1', 'f2', '2', 'num', '-77', 'bin', bin.subarray(0, 10));
  const hargs: string[] = [];
  for (let i = 0; i < 1000; i++) hargs.push(`field${i}`, `value${i}`.repeat(1 + (i % 5)));
  p.hset('hash:big', ...hargs);
  p.hset('hash:longvalue', 'f', 'v'.repeat(200));
  p.hset('hash:ttl', 'a', '1');
  p.pexpire('hash:ttl', 5_000_000);
  await p.exec();

  // Quicklist plain nodes: elements above the packed threshold are stored alone.
  await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '1000');
  await c.rpush('list:plain', 'small', 'y'.repeat(5000), 'z'.repeat(3000), 'tail');
  await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', String(1 << 30));

  // Streams: several nodes (stream-node-max-entries 100), groups, consumers, pending, deletions.
  const s = c.pipeline();
  for (let i = 1; i <= 350; i++) {
    if (i % 50 === 0) s.xadd('stream:big', `${1000 + i}-0`, 'other', String(i), 'extra', 'e');
    else s.xadd('stream:big', `${1000 + i}-${i % 3}`, 'temp', String(i), 'hum', String(i * 2));
  }
  s.xdel('stream:big', '1010-1', '1011-2', '1012-0');
  s.xgroup('CREATE', 'stream:big', 'g1', '0');
  s.xgroup('CREATE', 'stream:big', 'g2', '1200-0');
  s.xgroup('CREATE', 'stream:big', 'g3', '$');
  s.xgroup('CREATECONSUMER', 'stream:big', 'g3', 'idle-consumer');
  await s.exec();
  await c.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', 20, 'STREAMS', 'stream:big', '>');
  await c.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', 15, 'STREAMS', 'stream:big', '>');
  await c.xreadgroup('GROUP', 'g2', 'carol', 'COUNT', 5, 'STREAMS', 'stream:big', '>');
  await c.xack('stream:big', 'g1', '1001-1', '1002-2');
  await c.call('XCLAIM', 'stream:big', 'g1', 'bob', '0', '1003-0', 'RETRYCOUNT', '7');
  await c.xadd('stream:small', '*', 'k', 'v');
  await c.xgroup('CREATE', 'stream:empty-group', 'g', '$', 'MKSTREAM');
  await c.xadd('stream:emptied', '5-5', 'a', '1');
  await c.xdel('stream:emptied', '5-5');

  await c.call(
    'FUNCTION',
    'LOAD',
    "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)",
  );
  await c.call(
    'FUNCTION',
    'LOAD',
    "#!lua name=other\nredis.register_function('f2', function() return 2 end)",
  );

  await c.select(3);
  await c.set('db3:key', 'in db 3');
  await c.rpush('db3:list', '1', '2', '3');
  await c.select(0);
}
