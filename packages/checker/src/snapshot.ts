import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * The whole content of a database (or of one source's key space in it): for every key its type,
 * PTTL and a canonical text of its value that does not depend on the encoding (sets and hashes
 * sorted; big values as a digest). Read through the endpoint, whose SCAN spans every shard.
 */

export interface KeyState {
  type: string;
  /** -1: no TTL. */
  pttl: number;
  /** Epoch ms the PTTL was read at (snapshots of two databases are read one after the other). */
  readAt?: number;
  value: string;
  /** The raw elements of a list (sequence evidence reads them). */
  list?: string[];
}

export type Snapshot = Map<string, KeyState>;

export interface Endpoint {
  host: string;
  port: number;
  password?: string;
}

export function connect(ep: Endpoint): Redis {
  const r = new Redis({
    host: ep.host,
    port: ep.port,
    ...(ep.password ? { password: ep.password } : {}),
    lazyConnect: true,
    // A read right after a fault (a source proxy killed at the end of a round) waits for the
    // process to come back: 3 retries ended seed 30 with MaxRetriesPerRequestError. Bounded: 150
    // reconnects 200 ms apart, and every command by commandTimeout.
    maxRetriesPerRequest: 150,
    enableReadyCheck: false,
    retryStrategy: (n) => (n > 150 ? null : 200),
    connectTimeout: 3000,
    commandTimeout: 15_000,
  });
  r.on('error', () => {});
  return r;
}

function canon(v: unknown): string {
  if (Buffer.isBuffer(v)) {
    if (v.length > 256) return `sha1:${createHash('sha1').update(v).digest('hex')}/${v.length}`;
    return JSON.stringify(v.toString('latin1'));
  }
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  return JSON.stringify(v ?? null);
}

function pairs(flat: Buffer[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push(`${canon(flat[i])}=${canon(flat[i + 1])}`);
  return out;
}

/** Reads every key matching `match` (a SCAN pattern). */
export async function snapshot(r: Redis, match = '*', batch = 300): Promise<Snapshot> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', match, 'COUNT', batch);
    cursor = next;
    for (const k of found) keys.add(k);
  } while (cursor !== '0');
  const all = [...keys];
  const out: Snapshot = new Map();
  for (let i = 0; i < all.length; i += batch) {
    const part = all.slice(i, i + batch);
    const p = r.pipeline();
    for (const k of part) p.type(k).pttl(k);
    const sent = Date.now();
    const meta = ((await p.exec()) ?? []) as [Error | null, unknown][];
    const readAt = Math.round((sent + Date.now()) / 2);
    const v = r.pipeline();
    const types: string[] = [];
    for (const [j, k] of part.entries()) {
      const type = String(meta[j * 2]?.[1] ?? 'none');
      types.push(type);
      switch (type) {
        case 'string':
          v.getBuffer(k);
          break;
        case 'list':
          v.lrangeBuffer(k, 0, -1);
          break;
        case 'set':
          v.smembersBuffer(k);
          break;
        case 'zset':
          v.callBuffer('ZRANGE', k, 0, -1, 'WITHSCORES');
          break;
        case 'hash':
          v.hgetallBuffer(k);
          break;
        case 'stream':
          v.callBuffer('XRANGE', k, '-', '+');
          break;
        default:
          v.exists(k);
      }
    }
    const vals = ((await v.exec()) ?? []) as [Error | null, unknown][];
    for (const [j, k] of part.entries()) {
      const type = types[j]!;
      if (type === 'none') continue; // expired or deleted between SCAN and TYPE
      const [err, raw] = vals[j] ?? [new Error('no reply'), null];
      if (err) throw new Error(`reading ${k} (${type}) failed: ${err.message}`);
      let value: string;
      let list: string[] | undefined;
      switch (type) {
        case 'set':
          value = canon((raw as Buffer[]).map((b) => canon(b)).sort());
          break;
        case 'hash': {
          // hgetallBuffer answers an object; keep it binary-safe by re-reading pairs.
          const o = raw as Record<string, Buffer>;
          value = canon(
            Object.entries(o)
              .map(([f, x]) => `${JSON.stringify(f)}=${canon(x)}`)
              .sort(),
          );
          break;
        }
        case 'list':
          list = (raw as Buffer[]).map((b) => b.toString('latin1'));
          value = canon(raw);
          break;
        case 'zset':
          value = canon(pairs(raw as Buffer[]));
          break;
        default:
          value = canon(raw);
      }
      out.set(k, {
        type,
        pttl: Number(meta[j * 2 + 1]?.[1] ?? -1),
        readAt,
        value,
        ...(list ? { list } : {}),
      });
    }
  }
  return out;
}

/** A digest of a snapshot, ignoring TTLs (which tick): "has the destination stopped changing?". */
export function digest(s: Snapshot): string {
  const h = createHash('sha1');
  for (const k of [...s.keys()].sort()) {
    const v = s.get(k)!;
    h.update(`${k}\0${v.type}\0${v.value}\0${v.pttl < 0 ? 'p' : 't'}\n`);
  }
  return h.digest('hex');
}
