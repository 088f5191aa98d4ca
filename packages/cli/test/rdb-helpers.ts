import { randomBytes } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { fixtureSet, type StartedRedisServer } from '@minirs/harness';

/** Test helpers for `rdb inspect` / `rdb restore`: a generated RDB and a whole-server comparison. */

export const FIXTURE_SET = fixtureSet('rdb');
export const FIXTURES = FIXTURE_SET.dir;
export const MODULE_FIXTURES = new Set(['redis_40_with_module.rdb', 'redis_60_with_module_aux.rdb']);

export function uriOf(r: StartedRedisServer, password = r.password): string {
  return `redis://${password ? `:${encodeURIComponent(password)}@` : ''}${r.host}:${r.port}`;
}

/** Every db number with keys, from INFO keyspace. */
export async function keyspace(c: Redis): Promise<Map<number, { keys: number; expires: number }>> {
  const out = new Map<number, { keys: number; expires: number }>();
  for (const m of (await c.info('keyspace')).matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)) {
    out.set(Number(m[1]), { keys: Number(m[2]), expires: Number(m[3]) });
  }
  return out;
}

export async function scanKeys(c: Redis): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await c.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** What the server loaded, per db and type (by TYPE of every key). */
export async function typesPerDb(server: StartedRedisServer): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  for (const db of (await keyspace(server.client())).keys()) {
    const c = server.client({ db });
    const types: Record<string, number> = {};
    for (const k of await scanKeys(c)) {
      const t = await c.type(k);
      types[t] = (types[t] ?? 0) + 1;
    }
    out.set(db, types);
    c.disconnect();
  }
  return out;
}

function pairs(arr: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[String(arr[i])] = arr[i + 1];
  return o;
}

/** A key's full content in a comparable form (for values whose DUMP differs by encoding only). */
async function content(c: Redis, key: Buffer, type: string): Promise<unknown> {
  const hex = (v: Buffer | null) => v?.toString('hex') ?? null;
  switch (type) {
    case 'string':
      return hex(await c.getBuffer(key));
    case 'list':
      return (await c.lrangeBuffer(key, 0, -1)).map(hex);
    case 'set':
      return (await c.smembersBuffer(key)).map(hex).sort();
    case 'zset':
      return (await c.zrangeBuffer(key, 0, -1, 'WITHSCORES')).map(hex);
    case 'hash': {
      const flat = await c.hgetallBuffer(key);
      return Object.entries(flat)
        .map(([f, v]) => `${Buffer.from(f).toString('hex')}=${hex(v)}`)
        .sort();
    }
    case 'stream': {
      // Entries, metadata, groups, PELs and consumers; consumers' seen/active times are set to
      // "now" when rebuilt with commands, so they are left out.
      const info = pairs((await c.call('XINFO', 'STREAM', key, 'FULL', 'COUNT', '0')) as unknown[]);
      info.groups = ((info.groups as unknown[][]) ?? []).map((g) => {
        const go = pairs(g);
        go.consumers = ((go.consumers as unknown[][]) ?? []).map((x) => {
          const co = pairs(x);
          delete co['seen-time'];
          delete co['active-time'];
          return co;
        });
        return go;
      });
      return info;
    }
    default:
      return `unknown type ${type}`;
  }
}

export interface ServerDiff {
  /** Keys compared, over every db. */
  checked: number;
  problems: string[];
}

/**
 * Every db of `expected` against `actual`, key by key: same key set, type, TTL within
 * `ttlToleranceMs`, and content (DUMP equality, else full content); and the same function
 * libraries.
 */
export async function compareServers(
  expected: StartedRedisServer,
  actual: StartedRedisServer,
  ttlToleranceMs = 2000,
): Promise<ServerDiff> {
  const diff: ServerDiff = { checked: 0, problems: [] };
  const dbs = new Set([
    ...(await keyspace(expected.client())).keys(),
    ...(await keyspace(actual.client())).keys(),
  ]);
  for (const db of [...dbs].sort((a, b) => a - b)) {
    const e = expected.client({ db });
    const a = actual.client({ db });
    const ek = await scanKeys(e);
    const ak = new Set((await scanKeys(a)).map((k) => k.toString('hex')));
    for (const key of ek) {
      const name = `db ${db} '${key.toString('latin1')}'`;
      diff.checked++;
      ak.delete(key.toString('hex'));
      const [et, at] = [await e.type(key), await a.type(key)];
      if (et !== at) {
        diff.problems.push(`${name}: type ${et} expected, ${at} found`);
        continue;
      }
      const [ep, ap] = [await e.pttl(key), await a.pttl(key)];
      if (ep < 0 !== ap < 0 || Math.abs(ep - ap) > ttlToleranceMs) {
        diff.problems.push(`${name}: TTL ${ep} ms expected, ${ap} ms found`);
        continue;
      }
      const [ed, ad] = [await e.dumpBuffer(key), await a.dumpBuffer(key)];
      if (ed && ad && ed.equals(ad)) continue;
      const [ec, ac] = [await content(e, key, et), await content(a, key, at)];
      if (JSON.stringify(ec) !== JSON.stringify(ac)) diff.problems.push(`${name}: ${et} contents differ`);
    }
    for (const extra of ak)
      diff.problems.push(`db ${db}: extra key ${Buffer.from(extra, 'hex').toString('latin1')}`);
    e.disconnect();
    a.disconnect();
  }
  const libs = async (s: StartedRedisServer) => {
    const c = s.client();
    try {
      const list = (await c.call('FUNCTION', 'LIST', 'WITHCODE')) as unknown[][];
      return list.map((l) => JSON.stringify(pairs(l))).sort();
    } catch {
      return []; // before Redis 7
    } finally {
      c.disconnect();
    }
  };
  const [el, al] = [await libs(expected), await libs(actual)];
  if (JSON.stringify(el) !== JSON.stringify(al))
    diff.problems.push(`function libraries differ: ${el} vs ${al}`);
  return diff;
}

export const LIBRARY =
  "#!lua name=rdbtestlib\nredis.register_function('rdbtest_one', function(keys, args) return 1 end)";

/**
 * Fills a live redis-server with every type in the encodings Redis 7.0 writes (small and large
 * collections, integers, binary strings, TTLs, a stream with groups, pending entries and a
 * deleted entry, a function library, keys in db 0 and db 3), SAVEs, and copies the RDB to `to`.
 * Returns the key count per db and the name of the biggest key.
 */
export async function generateRdb(
  server: StartedRedisServer,
  to: string,
): Promise<{ perDb: Map<number, number>; biggest: string; bigBytes: number }> {
  const c = server.client();
  await c.flushall();
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const p = c.pipeline();
  p.set('str:int', '12345');
  p.set('str:neg', '-9007199254740991');
  p.set('str:short', 'hello');
  p.set(Buffer.concat([Buffer.from('str:bin:'), binary]), binary);
  const big = randomBytes(200_000); // incompressible: the biggest key in the file too
  p.set('str:big', big);
  p.set('str:compressible', 'abcdefghij'.repeat(10_000)); // LZF in the file
  p.set('str:ttl', 'v', 'EX', 100_000);
  p.rpush('list:small', 'a', 'b', '1', '2');
  for (let i = 0; i < 1000; i++) p.rpush('list:big', `element-${i}-${'x'.repeat(100)}`);
  p.sadd('set:intset', 1, 2, 3, 65536, 4294967296);
  p.sadd('set:strings', 'a', 'b', 'c');
  for (let i = 0; i < 700; i++) p.sadd('set:big', i);
  p.zadd('zset:small', 1, 'a', 2.5, 'b', '-inf', 'c', '+inf', 'd');
  for (let i = 0; i < 200; i++) p.zadd('zset:big', i / 3, `member-${i}`);
  p.hset('hash:small', 'f1', 'v1', 'f2', '2');
  for (let i = 0; i < 600; i++) p.hset('hash:big', `field-${i}`, `value-${i}`);
  p.hset('hash:ttl', 'f', 'v');
  p.pexpire('hash:ttl', 50_000_000);
  for (let i = 1; i <= 30; i++) p.xadd('stream', `${i}-1`, 'n', String(i), 'bin', binary.subarray(0, 8));
  p.xgroup('CREATE', 'stream', 'g1', '0');
  p.xgroup('CREATE', 'stream', 'g2', '10-1');
  p.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', 'stream', '>');
  p.xreadgroup('GROUP', 'g1', 'bob', 'COUNT', '3', 'STREAMS', 'stream', '>');
  p.xack('stream', 'g1', '2-1');
  p.xdel('stream', '20-1');
  p.call('FUNCTION', 'LOAD', 'REPLACE', LIBRARY);
  p.select(3);
  p.set('db3:a', '1');
  p.rpush('db3:list', 'x', 'y');
  p.hset('db3:hash', 'f', 'v');
  p.select(0);
  const res = (await p.exec()) ?? [];
  for (const [err] of res) if (err) throw err;
  await c.save();
  copyFileSync(join(server.dir, 'dump.rdb'), to);
  const perDb = new Map([...(await keyspace(c))].map(([db, s]) => [db, s.keys]));
  c.disconnect();
  return { perDb, biggest: 'str:big', bigBytes: big.length };
}
