import { readFileSync } from 'node:fs';
import { encodeCommand, RespDecoder } from '@minirs/resp';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '@minirs/harness';
import { INTERNAL_PASSWORD, keysPerShard, ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

describe('load: pipelines, many clients, disconnects, backpressure', () => {
  let bed: StartedProxyTestBed;
  let db: Awaited<ReturnType<StartedProxyTestBed['addDb']>>;
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(4).start();
    db = await bed.addDb();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('answers a pipeline of 10,000 commands in order', async () => {
    const c = bed.client(db);
    const p = c.pipeline();
    for (let i = 0; i < 5000; i++) p.set(`p:${i}`, `v${i}`);
    for (let i = 0; i < 5000; i++) p.get(`p:${i}`);
    const res = (await p.exec())!;
    expect(res).toHaveLength(10_000);
    for (let i = 0; i < 5000; i++) expect(res[i]).toEqual([null, 'OK']);
    for (let i = 0; i < 5000; i++) expect(res[5000 + i]).toEqual([null, `v${i}`]);
  });

  it('serves 1,000 concurrent clients', async () => {
    const clients = Array.from(
      { length: 1000 },
      () => new Redis({ port: db.port, host: '127.0.0.1', lazyConnect: true }),
    );
    try {
      await Promise.all(clients.map((c) => c.connect()));
      await Promise.all(
        clients.map(async (c, i) => {
          await c.set(`client:${i}`, String(i));
          await c.incr('{shared}counter');
          expect(await c.get(`client:${i}`)).toBe(String(i));
        }),
      );
      const probe = bed.client(db);
      expect(await probe.get('{shared}counter')).toBe('1000');
      const list = (await probe.client('LIST')) as string;
      expect(list.trim().split('\n').length).toBeGreaterThanOrEqual(1001);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('survives clients that disconnect in the middle of a pipeline', async () => {
    const c = bed.client(db);
    const connections = async () => ((await c.client('LIST')) as string).trim().split('\n').length;
    const baseline = await connections();
    const batch = Buffer.concat(
      Array.from({ length: 5000 }, (_, i) => encodeCommand(['SET', `gone:${i}`, 'x'.repeat(100)])),
    );
    for (let round = 0; round < 5; round++) {
      const r = await RawClient.connect(db.port);
      r.write(batch.subarray(0, batch.length - 7)); // cut inside the last command, too
      r.close();
    }
    expect(await c.ping()).toBe('PONG');
    expect(await c.set('after-disconnects', '1')).toBe('OK');
    await expect.poll(connections).toBe(baseline);
  });

  it('stops reading a client that does not read its replies, then delivers them all in order', async () => {
    const value = 'v'.repeat(2048);
    await bed.client(db).set('{big}v', value);
    const proxyPid = bed.proxy.proc.pid!;
    const before = rssBytes(proxyPid);
    const r = await RawClient.connect(db.port);
    r.socket.pause();
    const n = 100_000;
    const one = encodeCommand(['GET', '{big}v']);
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => one));
    for (let i = 0; i < n / 1000; i++) r.socket.write(batch);
    // The proxy fills its output high-water mark for this client, then stops dispatching.
    const probe = bed.client(db);
    const row = async () => {
      const list = (await probe.client('LIST')) as string;
      const line = list.split('\n').find((l) => l.includes(`addr=127.0.0.1:${r.socket.localPort} `)) ?? '';
      return {
        omem: Number(/omem=(\d+)/.exec(line)?.[1] ?? 0),
        oll: Number(/oll=(\d+)/.exec(line)?.[1] ?? 0),
      };
    };
    await expect.poll(async () => (await row()).omem, { timeout: 10_000 }).toBeGreaterThan(4 * 1024 * 1024);
    // ~200 MiB of replies are owed; the proxy holds a bounded part of them.
    const held = await row();
    expect(held.omem).toBeLessThan(64 * 1024 * 1024);
    expect(held.oll).toBeLessThanOrEqual(4096);
    expect(rssBytes(proxyPid) - before).toBeLessThan(100 * 1024 * 1024);
    // Read everything: every reply arrives, in order.
    const d = new RespDecoder();
    let got = 0;
    let bad = 0;
    r.socket.removeAllListeners('data');
    await new Promise<void>((resolve) => {
      r.socket.on('data', (chunk: Buffer) => {
        d.write(chunk, (f) => {
          got++;
          if (f.length !== 2048) bad++;
        });
        if (got === n) resolve();
      });
      r.socket.resume();
    });
    expect(bad).toBe(0);
    r.close();
  });
});

describe('load: shard failures', () => {
  let bed: StartedProxyTestBed;
  let db: Awaited<ReturnType<StartedProxyTestBed['addDb']>>;
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(3).withShardTimeout(1000).start();
    db = await bed.addDb();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('fails the keys of a shard killed mid-load with a clear error, keeps serving the others, and recovers', async () => {
    const c = bed.client(db);
    const keys = Array.from({ length: 300 }, (_, i) => `load:${i}`);
    const victim = bed.shards[1]!;
    const port = victim.port;
    let ok = 0;
    let errors = 0;
    let lastRoundClean = false;
    const messages = new Set<string>();
    let stop = false;
    // Bounded load: rounds of 300 concurrent SETs until told to stop (or 2,000 rounds).
    const load = (async () => {
      for (let round = 0; round < 2000 && !stop; round++) {
        const res = await Promise.allSettled(keys.map((k) => c.set(k, 'v')));
        let clean = true;
        for (const r of res) {
          if (r.status === 'fulfilled') ok++;
          else {
            clean = false;
            errors++;
            messages.add(String((r.reason as Error).message).replace(/\(.*\)/, '(...)'));
          }
        }
        lastRoundClean = clean;
      }
    })();
    try {
      await expect.poll(() => ok, { timeout: 10_000 }).toBeGreaterThan(1000);
      expect(errors).toBe(0);
      await victim.stop();
      await expect.poll(() => errors, { timeout: 10_000 }).toBeGreaterThan(200);
      // The other two shards kept answering while one was gone.
      const okWhileDown = ok;
      await expect.poll(() => ok - okWhileDown, { timeout: 10_000 }).toBeGreaterThan(400);
      // In flight when it died: "may or may not"; sent while it was down: TRYAGAIN, not sent.
      for (const m of messages)
        expect(m).toMatch(/^(ERR shard 101: connection|TRYAGAIN shard 101 is unavailable)/);
      // Bring a redis-server back on the same port: the proxy reconnects by itself.
      const back = await new RedisServer().withPort(port).withPassword(INTERNAL_PASSWORD).start();
      bed.shards[1] = back;
      await expect.poll(() => lastRoundClean, { timeout: 10_000 }).toBe(true);
    } finally {
      stop = true;
      await load;
    }
    expect(await bed.shardClient(1).exists(...keys)).toBeGreaterThan(50);
  });

  it('answers the keys of a stalled shard with -ERR within the timeout; a slow shard slows only its clients', async () => {
    const stalled = bed.shards[0]!;
    const [[stalledKey], , [freeKey]] = keysPerShard(3, 1, 'stall') as [[string], unknown, [string]];
    const c1 = bed.client(db);
    const c2 = bed.client(db);
    await c1.set(stalledKey, '1');
    await c2.set(freeKey, '1');
    stalled.proc.kill('SIGSTOP');
    try {
      const pending = c1.get(stalledKey).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      for (let i = 0; i < 50; i++) expect(await c2.incr(freeKey)).toBe(i + 2);
      expect(await pending).toMatch(/^ERR shard 100 did not answer within 1000 ms/);
    } finally {
      stalled.proc.kill('SIGCONT');
    }
    await expect.poll(() => c1.get(stalledKey).catch((e: Error) => e.message), { timeout: 10_000 }).toBe('1');
  });
});
