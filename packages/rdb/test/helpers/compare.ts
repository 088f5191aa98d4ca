import { expect } from 'vitest';
import type { Redis } from 'ioredis';
import type { RedisCommand } from '../../src/index.js';

/** Send commands in pipelined batches; any error reply fails with the command that caused it. */
export async function applyCommands(client: Redis, cmds: RedisCommand[], batch = 500): Promise<void> {
  for (let i = 0; i < cmds.length; i += batch) {
    const p = client.pipeline();
    const slice = cmds.slice(i, i + batch);
    for (const c of slice) p.call(c[0] as string, ...c.slice(1));
    const res = (await p.exec()) ?? [];
    res.forEach(([err], j) => {
      if (err) {
        const c = slice[j];
        const shown = c.map((a) =>
          Buffer.isBuffer(a) ? (a.length > 40 ? `<${a.length} bytes>` : a.toString('latin1')) : a,
        );
        throw new Error(`${String(err)} for ${JSON.stringify(shown.slice(0, 8))}`);
      }
    });
  }
}

export async function keyspace(client: Redis): Promise<Map<number, number>> {
  const info = await client.info('keyspace');
  const out = new Map<number, number>();
  for (const m of info.matchAll(/^db(\d+):keys=(\d+)/gm)) out.set(Number(m[1]), Number(m[2]));
  return out;
}

async function allKeys(client: Redis): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** XINFO STREAM FULL without what commands cannot set (consumers' seen/active times). */
export async function streamInfo(client: Redis, key: Buffer, dropConsumerTimes: boolean): Promise<unknown> {
  const raw = (await client.call('XINFO', 'STREAM', key, 'FULL', 'COUNT', '0')) as unknown[];
  const toObj = (arr: unknown[]): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < arr.length; i += 2) o[String(arr[i])] = arr[i + 1];
    return o;
  };
  const info = toObj(raw);
  info.groups = ((info.groups as unknown[][]) ?? []).map((g) => {
    const go = toObj(g);
    go.consumers = ((go.consumers as unknown[][]) ?? []).map((c) => {
      const co = toObj(c);
      if (dropConsumerTimes) {
        delete co['seen-time'];
        delete co['active-time'];
      }
      return co;
    });
    return go;
  });
  return info;
}

export interface CompareOptions {
  /** Compare consumers' seen/active times too (only a byte-exact restore keeps them). */
  consumerTimes?: boolean;
  ttlToleranceMs?: number;
}

/**
 * Every key of every db on `expected` exists on `actual` with the same type, TTL (within a
 * tolerance), and content (DEBUG DIGEST-VALUE; streams also by XINFO STREAM FULL); no extra
 * keys; the same function libraries. Returns the number of keys compared.
 */
export async function compareServers(
  expected: Redis,
  actual: Redis,
  opts: CompareOptions = {},
): Promise<number> {
  const tol = opts.ttlToleranceMs ?? 5000;
  const ks = await keyspace(expected);
  expect(await keyspace(actual)).toEqual(ks);
  let n = 0;
  for (const db of ks.keys()) {
    await expected.select(db);
    await actual.select(db);
    for (const key of await allKeys(expected)) {
      const label = `db${db} ${key.toString('latin1')}`;
      const type = await expected.type(key);
      expect(await actual.type(key), label).toBe(type);
      const [t1, t2] = [await expected.pttl(key), await actual.pttl(key)];
      if (t1 < 0) expect(t2, `${label} ttl`).toBe(t1);
      else expect(Math.abs(t1 - t2), `${label} ttl ${t1} vs ${t2}`).toBeLessThanOrEqual(tol);
      const d1 = await expected.call('DEBUG', 'DIGEST-VALUE', key);
      const d2 = await actual.call('DEBUG', 'DIGEST-VALUE', key);
      expect(d2, `${label} digest`).toEqual(d1);
      if (type === 'stream') {
        const keep = !opts.consumerTimes;
        expect(await streamInfo(actual, key, keep), `${label} xinfo`).toEqual(
          await streamInfo(expected, key, keep),
        );
      }
      n++;
    }
  }
  await expected.select(0);
  await actual.select(0);
  // Libraries come back in hash-table order: compare them sorted.
  const libs = async (c: Redis) =>
    ((await c.call('FUNCTION', 'LIST', 'WITHCODE')) as unknown[][]).map((l) => JSON.stringify(l)).sort();
  expect(await libs(actual)).toEqual(await libs(expected));
  return n;
}
