// Bench datasets, written with pipelines (bounded in count): mostly 100-byte random strings plus
// small hashes, lists, sets and zsets (the encodings a real keyspace is made of), some with TTLs;
// and one big list for the memory-bound check.

const BATCH = 5_000;

function rng(seed) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s;
  };
}

/**
 * `keys` keys in db 0: 96% strings of 100 random bytes (1 in 20 with a TTL), and 1% each of
 * hashes (8 fields), lists (8 elements), sets (8 members), zsets (8 members).
 * Returns the counts per type.
 */
/** `opts.ttl` (default true): 1 string in 20 gets a TTL. */
export async function populateMixed(client, keys, opts = {}) {
  const withTtl = opts.ttl ?? true;
  const rnd = rng(7);
  const value = () => {
    const b = Buffer.allocUnsafe(100);
    for (let i = 0; i < 100; i += 4) b.writeUInt32LE(rnd(), i);
    return b;
  };
  const counts = { string: 0, hash: 0, list: 0, set: 0, zset: 0 };
  let inFlight = [];
  for (let i = 0; i < keys; i += BATCH) {
    const p = client.pipeline();
    for (let j = i; j < Math.min(keys, i + BATCH); j++) {
      const kind = j % 100;
      if (kind === 96) {
        const f = [];
        for (let k = 0; k < 8; k++) f.push(`field${k}`, value().subarray(0, 20));
        p.hset(`hash:${j}`, ...f);
        counts.hash++;
      } else if (kind === 97) {
        const e = [];
        for (let k = 0; k < 8; k++) e.push(value().subarray(0, 20));
        p.rpush(`list:${j}`, ...e);
        counts.list++;
      } else if (kind === 98) {
        p.sadd(`set:${j}`, j, j + 1, j + 2, j + 3, `m${j}`, `n${j}`, `o${j}`, `p${j}`);
        counts.set++;
      } else if (kind === 99) {
        const z = [];
        for (let k = 0; k < 8; k++) z.push(k * 1.5, `member${k}:${j}`);
        p.zadd(`zset:${j}`, ...z);
        counts.zset++;
      } else if (withTtl && j % 20 === 1) {
        p.set(`key:${j}`, value(), 'EX', 3600 + (j % 1000));
        counts.string++;
      } else {
        p.set(`key:${j}`, value());
        counts.string++;
      }
    }
    inFlight.push(p.exec());
    // Two batches in flight keep the server busy without queueing the whole dataset in memory.
    if (inFlight.length >= 2) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  return counts;
}

/** One list of `elements` short elements under `key`, pushed 1000 at a time. */
export async function populateBigList(client, key, elements) {
  const PER = 1000;
  let inFlight = [];
  for (let i = 0; i < elements; i += PER * 50) {
    const p = client.pipeline();
    for (let j = i; j < Math.min(elements, i + PER * 50); j += PER) {
      const e = [];
      for (let k = j; k < Math.min(elements, j + PER); k++) e.push(`element:${k}`);
      p.rpush(key, ...e);
    }
    inFlight.push(p.exec());
    if (inFlight.length >= 2) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
}
