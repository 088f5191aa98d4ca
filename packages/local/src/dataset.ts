import { randomBytes } from 'node:crypto';
import { ErrorCodes, MinirsError } from '@minirs/common';
import type { ChainableCommander, Redis } from 'ioredis';

/** The demo's data: a shop (east/orders) and a cache (the external Redis), every type, seeded. */

/** Ctrl-C: the demo stops where it is and cleans up. */
export class DemoInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** Seeded pseudo-random numbers (mulberry32): every run loads keys of the same names and shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One kind of key: its name for an id, and the commands that create it. */
export interface KeyKind {
  type: string;
  key(id: number): string;
  create(p: ChainableCommander, key: string, id: number, r: () => number): void;
}

export const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;
export const TAGS = ['vip', 'new', 'returning', 'wholesale', 'eu', 'us', 'apac', 'mobile'] as const;
export const CITIES = ['Paris', 'Lyon', 'Austin', 'Osaka', 'Lagos', 'Lima', 'Oslo', 'Pune'] as const;

/** east/orders: an online shop. */
export const SHOP: KeyKind[] = [
  {
    type: 'hash',
    key: (id) => `order:${id}`,
    create: (p, k, id, r) =>
      p.hset(k, {
        customer: `c${id % 997}`,
        total: (r() * 500).toFixed(2),
        status: 'new',
        city: pick(CITIES, r),
      }),
  },
  {
    type: 'list',
    key: (id) => `order:${id}:items`,
    create: (p, k, _id, r) =>
      p.rpush(k, ...Array.from({ length: 1 + Math.floor(r() * 5) }, () => `sku-${Math.floor(r() * 9999)}`)),
  },
  {
    type: 'string',
    key: (id) => `order:${id}:note`,
    create: (p, k, id) => p.set(k, `deliver order ${id} to the back door`),
  },
  {
    type: 'string (int)',
    key: (id) => `customer:${id}:visits`,
    create: (p, k, _id, r) => p.set(k, Math.floor(r() * 100)),
  },
  {
    type: 'set',
    key: (id) => `customer:${id}:tags`,
    create: (p, k, _id, r) => p.sadd(k, pick(TAGS, r), pick(TAGS, r), pick(TAGS, r)),
  },
  {
    type: 'zset',
    key: (id) => `leaderboard:${id}`,
    create: (p, k, _id, r) =>
      p.zadd(k, ...Array.from({ length: 5 }, (_, i) => [Math.floor(r() * 1000), `player-${i}`]).flat()),
  },
  {
    type: 'stream',
    key: (id) => `order:${id}:events`,
    create: (p, k, id) => {
      p.xadd(k, '*', 'event', 'created', 'order', String(id));
      p.xadd(k, '*', 'event', 'paid', 'order', String(id));
    },
  },
  {
    type: 'hyperloglog',
    key: (id) => `product:${id}:viewers`,
    create: (p, k, _id, r) => p.pfadd(k, ...Array.from({ length: 8 }, () => `u${Math.floor(r() * 5000)}`)),
  },
  {
    type: 'geo',
    key: (id) => `stores:${id}`,
    create: (p, k, _id, r) =>
      p.geoadd(k, r() * 340 - 170, r() * 160 - 80, 'north', r() * 340 - 170, r() * 160 - 80, 'south'),
  },
];

/** The external Redis: a legacy cache. */
export const CACHE: KeyKind[] = [
  {
    type: 'string (JSON)',
    key: (id) => `session:${id}`,
    create: (p, k, id, r) => p.set(k, JSON.stringify({ user: id, cart: Math.floor(r() * 9), theme: 'dark' })),
  },
  {
    type: 'hash',
    key: (id) => `profile:${id}`,
    create: (p, k, id, r) => p.hset(k, { name: `user ${id}`, city: pick(CITIES, r), plan: 'free' }),
  },
  {
    type: 'list',
    key: (id) => `queue:${id}`,
    create: (p, k, id) => p.rpush(k, `job-${id}-a`, `job-${id}-b`, `job-${id}-c`),
  },
  {
    type: 'set',
    key: (id) => `likes:${id}`,
    create: (p, k, _id, r) => p.sadd(k, pick(TAGS, r), pick(CITIES, r)),
  },
  {
    type: 'zset',
    key: (id) => `recent:${id}`,
    create: (p, k, id, r) => p.zadd(k, Date.now() - Math.floor(r() * 1e6), `page-${id}`, Date.now(), 'home'),
  },
  { type: 'stream', key: (id) => `audit:${id}`, create: (p, k, id) => p.xadd(k, '*', 'login', String(id)) },
  {
    type: 'bitmap',
    key: (id) => `online:${id}`,
    create: (p, k, _id, r) => {
      for (let i = 0; i < 4; i++) p.setbit(k, Math.floor(r() * 4096), 1);
    },
  },
  {
    type: 'string (int)',
    key: (id) => `hits:${id}`,
    create: (p, k, _id, r) => p.set(k, Math.floor(r() * 1000)),
  },
  {
    type: 'string (binary)',
    key: (id) => `blob:${id}`,
    create: (p, k, _id, r) => p.set(k, randomBytes(32 + Math.floor(r() * 224))),
  },
];

/**
 * Writes `count` keys: key i is of kind i mod kinds.length; every third key gets a TTL of 20-60
 * minutes (long enough that nothing expires during the demo, so the compare is exact).
 */
export async function loadKeys(
  client: Redis,
  kinds: KeyKind[],
  count: number,
  seed: number,
  signal?: AbortSignal,
): Promise<{ keys: number; withTtl: number }> {
  const r = rng(seed);
  let withTtl = 0;
  const batch = 1000;
  for (let start = 0; start < count; start += batch) {
    if (signal?.aborted) throw new DemoInterrupted();
    const p = client.pipeline();
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const kind = kinds[i % kinds.length]!;
      const id = Math.floor(i / kinds.length);
      const key = kind.key(id);
      kind.create(p, key, id, r);
      if (i % 3 === 0) {
        p.pexpire(key, 20 * 60_000 + Math.floor(r() * 40 * 60_000));
        withTtl++;
      }
    }
    const res = (await p.exec()) ?? [];
    const failed = res.find(([err]) => err);
    if (failed) throw new MinirsError(ErrorCodes.INTERNAL, `loading demo data failed: ${failed[0]!.message}`);
  }
  return { keys: count, withTtl };
}
