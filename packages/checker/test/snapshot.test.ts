import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { connect as connectEndpoint, digest, snapshot } from '../src/snapshot.js';
import { compareKeys } from '../src/oracle.js';

describe('snapshot (real redis-server)', () => {
  let a: StartedRedisServer;
  let b: StartedRedisServer;
  beforeAll(async () => {
    [a, b] = await Promise.all([new RedisServer().start(), new RedisServer().start()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('reads every type the same whatever the encoding, and sees one changed element', async () => {
    const x = a.client();
    const y = b.client();
    await x.set('s1:str', 'v', 'PX', 600_000);
    await x.set('s1:big', 'z'.repeat(300_000));
    await x.rpush('s1:l', '1', '2', '3');
    await x.sadd('s1:set', ...Array.from({ length: 200 }, (_, i) => String(i)));
    await x.zadd('s1:z', 1.5, 'a', 2, 'b');
    await x.hset('s1:h', 'f', 'v', 'g', 'w');
    await x.xadd('s1:x', '1-1', 'f', 'v');
    await x.set('other', 'not matched');
    // The same content written another way (another order, another encoding on b).
    await y.sadd('s1:set', ...Array.from({ length: 200 }, (_, i) => String(199 - i)));
    for (const k of ['s1:str', 's1:big', 's1:l', 's1:z', 's1:h', 's1:x'])
      await y.restore(k, 0, (await x.dumpBuffer(k))!, 'REPLACE');
    await y.hset('s1:h', 'g', 'w', 'f', 'v');
    await y.pexpire('s1:str', 599_000);
    const sa = await snapshot(x, 's1:*');
    const sb = await snapshot(y, 's1:*');
    expect(sa.size).toBe(7);
    expect(sa.get('s1:big')!.value).toMatch(/^sha1:/);
    expect(sa.get('s1:l')!.list).toEqual(['1', '2', '3']);
    expect(compareKeys([{ prefix: 's1', snap: sa }], sb)).toMatchObject({
      checked: 7,
      missing: 0,
      extra: 0,
      different: 0,
    });
    expect(digest(sa)).toBe(digest(sb));
    await y.zincrby('s1:z', 0.25, 'a');
    const changed = await snapshot(y, 's1:*');
    expect(digest(changed)).not.toBe(digest(sb));
    const r = compareKeys([{ prefix: 's1', snap: sa }], changed);
    expect(r.different).toBe(1);
    expect(r.findings[0]!.key).toBe('s1:z');
  });

  it('a read through an endpoint that is restarting waits for it (checker seed 30)', async () => {
    const { connect, createServer } = await import('node:net');
    await a.client().set('s9:k', 'v');
    // The first 8 connections are cut at once, as by a killed proxy not yet back.
    let refused = 0;
    const relay = createServer((c) => {
      if (refused < 8) {
        refused++;
        c.destroy();
        return;
      }
      const up = connect(a.port, a.host);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const port = (relay.address() as { port: number }).port;
    const r = connectEndpoint({ host: '127.0.0.1', port, password: a.password });
    try {
      const snap = await snapshot(r, 's9:*');
      expect(snap.get('s9:k')?.value).toBe(JSON.stringify('v'));
      expect(refused).toBe(8);
    } finally {
      r.disconnect();
      await new Promise<void>((res) => relay.close(() => res()));
    }
  }, 30_000);
});
