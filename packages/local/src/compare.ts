import { ErrorCodes, MinirsError, parseSourceUri, redactForError } from '@minirs/common';
import type { Redis } from 'ioredis';
import { newRedis } from './ioredis-lazy.js';

/**
 * (minirs) Key-by-key verification of a Replica Of: every key of the sources must exist in the
 * destination with the same type, value and TTL (within a tolerance), and the destination must
 * hold no key that no source has. Works on plain Redis and on minirs databases (through their
 * endpoint, whose SCAN spans every shard). Values are compared by DUMP first and, where the
 * encodings differ (a value rebuilt with commands), by content.
 */

export interface CompareOptions {
  /** Largest TTL difference accepted, in ms (default 2000). */
  ttlToleranceMs?: number;
  /** How many differing keys to describe (default 10). */
  maxExamples?: number;
  /** SCAN COUNT (default 500). */
  batch?: number;
}

export interface CompareExample {
  key: string;
  problem: 'missing' | 'extra' | 'different';
  detail: string;
}

export interface CompareResult {
  checked: number;
  missing: number;
  extra: number;
  different: number;
  examples: CompareExample[];
}

export function connectUri(uri: string): Redis {
  const u = parseSourceUri(uri, 'uri');
  const r = newRedis({
    host: u.host,
    port: u.port,
    username: u.admin ? 'admin' : u.username || undefined,
    password: u.password,
    tls: u.tls ? {} : undefined,
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    enableReadyCheck: false,
    retryStrategy: (n) => (n > 5 ? null : 200),
  });
  r.on('error', () => {});
  return r;
}

/** A canonical text form of any reply, binary-safe (buffers as hex). */
function canon(v: unknown): string {
  if (Buffer.isBuffer(v)) return `h:${v.toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  return JSON.stringify(v ?? null);
}

/** The whole value of a key, binary-safe, in an order that does not depend on the encoding. */
async function content(r: Redis, key: Buffer, type: string): Promise<string> {
  const call = (...args: (string | number | Buffer)[]) =>
    r.callBuffer(args[0] as string, ...args.slice(1)) as Promise<unknown>;
  switch (type) {
    case 'string':
      return canon(await call('GET', key));
    case 'list':
      return canon(await call('LRANGE', key, 0, -1));
    case 'set':
      return canon(((await call('SMEMBERS', key)) as Buffer[]).map((b) => b.toString('hex')).sort());
    case 'zset':
      return canon(await call('ZRANGE', key, 0, -1, 'WITHSCORES'));
    case 'hash': {
      const flat = (await call('HGETALL', key)) as Buffer[];
      const pairs: string[] = [];
      for (let i = 0; i < flat.length; i += 2)
        pairs.push(`${flat[i]!.toString('hex')}=${flat[i + 1]!.toString('hex')}`);
      return canon(pairs.sort());
    }
    case 'stream':
      return canon(await call('XRANGE', key, '-', '+'));
    default:
      return canon(null);
  }
}

interface KeyInfo {
  type: string;
  pttl: number;
  dump: Buffer | null;
}

async function infoOf(r: Redis, keys: Buffer[]): Promise<KeyInfo[]> {
  const p = r.pipeline();
  for (const k of keys) {
    p.type(k);
    p.pttl(k);
    p.dumpBuffer(k);
  }
  const res = (await p.exec()) ?? [];
  const out: KeyInfo[] = [];
  for (let i = 0; i < keys.length; i++) {
    const [, type] = res[i * 3]!;
    const [, pttl] = res[i * 3 + 1]!;
    const [dumpErr, dump] = res[i * 3 + 2]!;
    out.push({ type: String(type), pttl: Number(pttl), dump: dumpErr ? null : (dump as Buffer | null) });
  }
  return out;
}

/** Every key, as Buffers (keys need not be UTF-8), each batch without duplicates. */
async function scanAll(r: Redis, batch: number, fn: (keys: Buffer[]) => Promise<void>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await r.scanBuffer(cursor, 'COUNT', batch);
    cursor = next.toString();
    const unique = new Map<string, Buffer>();
    for (const k of keys) unique.set(k.toString('hex'), k);
    if (unique.size) await fn([...unique.values()]);
  } while (cursor !== '0');
}

/** How a key is shown in examples: text when printable, else escaped. */
function showKey(k: Buffer): string {
  const t = k.toString('utf8');
  return Buffer.from(t, 'utf8').equals(k) && !/[\x00-\x1f]/.test(t)
    ? t
    : JSON.stringify(k.toString('latin1'));
}

export async function compareDatabases(
  sourceUris: string[],
  destUri: string,
  o: CompareOptions = {},
): Promise<CompareResult> {
  const tol = o.ttlToleranceMs ?? 2000;
  const maxEx = o.maxExamples ?? 10;
  const batch = o.batch ?? 500;
  const sources = sourceUris.map(connectUri);
  const dest = connectUri(destUri);
  const result: CompareResult = { checked: 0, missing: 0, extra: 0, different: 0, examples: [] };
  const note = (key: Buffer, problem: CompareExample['problem'], detail: string) => {
    result[problem]++;
    if (result.examples.length < maxEx) result.examples.push({ key: showKey(key), problem, detail });
  };
  try {
    for (const [i, c] of [...sources, dest].entries()) {
      try {
        await c.connect();
      } catch (err) {
        const uri = i < sources.length ? sourceUris[i]! : destUri;
        throw new MinirsError(
          ErrorCodes.CONNECTION,
          `cannot connect to ${redactForError(uri)}: ${redactForError((err as Error).message).replace(/\.$/, '')}; check its host, port and password`,
          { op: 'compare', peer: redactForError(uri) },
        );
      }
    }
    for (const src of sources) {
      await scanAll(src, batch, async (keys) => {
        const [a, b] = await Promise.all([infoOf(src, keys), infoOf(dest, keys)]);
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i]!;
          const s = a[i]!;
          const d = b[i]!;
          if (s.type === 'none') continue; // expired or deleted while we looked
          result.checked++;
          if (d.type === 'none') {
            note(key, 'missing', `${s.type} not in the destination`);
            continue;
          }
          if (d.type !== s.type) {
            note(key, 'different', `type ${s.type} in the source, ${d.type} in the destination`);
            continue;
          }
          if (s.pttl < 0 !== d.pttl < 0 || (s.pttl >= 0 && Math.abs(s.pttl - d.pttl) > tol)) {
            note(key, 'different', `TTL ${s.pttl} ms in the source, ${d.pttl} ms in the destination`);
            continue;
          }
          if (s.dump && d.dump && s.dump.equals(d.dump)) continue;
          const [x, y] = await Promise.all([content(src, key, s.type), content(dest, key, d.type)]);
          if (x !== y) note(key, 'different', `${s.type} values differ`);
        }
      });
    }
    await scanAll(dest, batch, async (keys) => {
      const seen = new Array<boolean>(keys.length).fill(false);
      for (const src of sources) {
        const p = src.pipeline();
        for (const k of keys) p.exists(k);
        const res = (await p.exec()) ?? [];
        res.forEach(([, n], i) => {
          if (Number(n) > 0) seen[i] = true;
        });
      }
      keys.forEach((k, i) => {
        if (!seen[i]) note(k, 'extra', 'in the destination but in no source');
      });
    });
    return result;
  } catch (err) {
    if (err instanceof MinirsError) throw err;
    // A server that refuses a command (NOAUTH, a dropped connection) mid-way: one line, no stack.
    throw new MinirsError(
      ErrorCodes.CONNECTION,
      `compare stopped: ${redactForError((err as Error).message).replace(/\.$/, '')}; check that every URI is reachable and its password right, then run it again`,
      { op: 'compare', cause: err },
    );
  } finally {
    for (const c of [...sources, dest]) c.disconnect();
  }
}
