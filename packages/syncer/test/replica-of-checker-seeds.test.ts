import { connect, createServer, type Server, type Socket } from 'node:net';
import { createLogger, type SyncerRuntimeConfig } from '@minirs/common';
import { RedisServer, type StartedRedisServer, waitFor } from '@minirs/harness';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { shiftedExpireAt } from '../src/link-runner.js';
import { ReplicaOfSync } from '../src/replica-of.js';

/**
 * Regressions of divergences the randomized checker (`minirs check`) found, each named by its
 * seed, against real redis-servers (a plain redis-server stands in for the destination endpoint).
 */

const servers: StartedRedisServer[] = [];
const syncs: ReplicaOfSync[] = [];
const relays: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  await Promise.all(syncs.splice(0).map((s) => s.closeAll()));
  for (const r of relays.splice(0)) {
    for (const s of r.sockets) s.destroy();
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
  }
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function redis(): Promise<StartedRedisServer> {
  const r = await new RedisServer().withArgs('--repl-diskless-sync-delay', '0').start();
  servers.push(r);
  return r;
}

/**
 * A TCP relay to a source that passes the handshake and the +FULLRESYNC line, then holds the
 * snapshot's bytes until `release()`: a full sync that takes as long as the test wants.
 */
async function holdingRelay(target: StartedRedisServer) {
  const sockets = new Set<Socket>();
  let held = true;
  let onGated: () => void = () => {};
  const gated = new Promise<void>((r) => {
    onGated = r;
  });
  const queued: { to: Socket; data: Buffer }[] = [];
  const server = createServer((client) => {
    const up = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(up);
    let seen = false;
    client.on('data', (d) => up.write(d));
    up.on('data', (d: Buffer) => {
      if (!held) {
        client.write(d);
        return;
      }
      if (!seen) {
        const at = d.indexOf('+FULLRESYNC');
        if (at < 0) {
          client.write(d);
          return;
        }
        seen = true;
        const eol = d.indexOf('\r\n', at) + 2;
        client.write(d.subarray(0, eol));
        if (eol < d.length) queued.push({ to: client, data: d.subarray(eol) });
        onGated();
        return;
      }
      queued.push({ to: client, data: d });
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  relays.push({ server, sockets });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    gated,
    release() {
      held = false;
      for (const q of queued.splice(0)) q.to.write(q.data);
    },
  };
}

function newSync(): ReplicaOfSync {
  const s = new ReplicaOfSync({
    log: createLogger({ name: 'syncer-test', level: 'info', file: process.env.SYNC_TEST_LOG ?? '/dev/null' }),
    onStop: () => {},
  });
  syncs.push(s);
  return s;
}

function config(dst: StartedRedisServer, sourcePort: number): SyncerRuntimeConfig {
  return {
    bdb_uid: 1,
    epoch: 1,
    replica_sync: 'enabled',
    destination: { host: dst.host, port: dst.port, password: '', shards: [] },
    sources: [{ uid: 1, uri: `redis://127.0.0.1:${sourcePort}`, compression: 0, encryption: false }],
    faults: [],
  };
}

describe('shiftedExpireAt', () => {
  it('adds the load delay to keys expiring before the stream can catch up, and only to them', () => {
    // Snapshot at 1000, loaded at 5000 (4 s late).
    expect(shiftedExpireAt(3000, 1000, 5000)).toBe(7000); // expired during the transfer
    expect(shiftedExpireAt(8000, 1000, 5000)).toBe(12_000); // would expire before the stream's 4 s
    expect(shiftedExpireAt(9000, 1000, 5000)).toBe(9000); // far enough: exact
    expect(shiftedExpireAt(1500, 1000, 1000)).toBe(1500); // loaded at once: exact
  });
});

describe('checker seed 13: a slow full sync', () => {
  it('a key whose TTL ran out during the transfer, kept alive at the source by PERSIST, is on the destination whole', async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    await s.call('HSET', 'k:h', 'a', '1', 'b', '2');
    await s.call('RPUSH', 'k:l', 'x', 'y', 'z');
    const ttlMs = 1000;
    const setAt = Date.now();
    await s.call('PEXPIRE', 'k:h', String(ttlMs));
    await s.call('PEXPIRE', 'k:l', String(ttlMs));
    const relay = await holdingRelay(src);
    const sync = newSync();
    sync.apply(config(dst, relay.port));
    // The snapshot is taken: the source's later writes come in the stream, after the RDB.
    await relay.gated;
    await s.call('PERSIST', 'k:h');
    await s.call('HINCRBY', 'k:h', 'a', '10');
    await s.call('PERSIST', 'k:l');
    await s.call('LPUSH', 'k:l', 'w');
    // The snapshot's TTLs run out before it reaches the syncer (as in a 76 s full sync).
    await waitFor(async () => Date.now() > setAt + ttlMs + 300, 'the TTLs to run out');
    expect(await s.call('PTTL', 'k:h')).toBe(-1);
    relay.release();
    const want = JSON.stringify([await s.call('HGETALL', 'k:h'), await s.call('LRANGE', 'k:l', '0', '-1')]);
    // Before the fix the RDB's copies were skipped as expired and the stream rebuilt the keys
    // from nothing: {a: 10} and [w].
    const got = await waitFor(async () => {
      const g = JSON.stringify([await d.call('HGETALL', 'k:h'), await d.call('LRANGE', 'k:l', '0', '-1')]);
      return g === want && g;
    }, `the destination to hold ${want}`).catch((err: Error) => err.message);
    expect(got).toBe(want);
    expect(await d.call('PTTL', 'k:h')).toBe(-1);
    expect(await d.call('PTTL', 'k:l')).toBe(-1);
    s.disconnect();
    d.disconnect();
  });
});

/**
 * A relay to a source that cuts the replication connection once, right before the first EXEC
 * of the stream: the link resumes (PSYNC) inside a transaction.
 */
async function cuttingRelay(target: StartedRedisServer) {
  const sockets = new Set<Socket>();
  let cut = false;
  let onCut: () => void = () => {};
  const didCut = new Promise<void>((r) => {
    onCut = r;
  });
  const server = createServer((client) => {
    const up = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(up);
    client.on('data', (d) => up.write(d));
    up.on('data', (d: Buffer) => {
      const at = cut ? -1 : d.indexOf('*1\r\n$4\r\nEXEC\r\n');
      if (at < 0) {
        client.write(d);
        return;
      }
      cut = true;
      client.write(d.subarray(0, at), () => {
        client.destroy();
        up.destroy();
        onCut();
      });
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  relays.push({ server, sockets });
  return { port: (server.address() as { port: number }).port, didCut };
}

describe('checker seeds 1, 2, 7, 15: a link cut inside a transaction', () => {
  it('resumes at the MULTI on a destination connection outside MULTI: the transaction applies once', async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    const relay = await cuttingRelay(src);
    const sync = newSync();
    sync.apply(config(dst, relay.port));
    await waitFor(async () => {
      const r = sync.report();
      return r.sources.length > 0 && r.sources.every((x) => x.status === 'in-sync');
    }, 'in-sync');
    await s.multi().incr('t:c').rpush('t:l', 'a').exec();
    await relay.didCut;
    // A plain command right after: applied outside any transaction.
    await s.set('t:after', '1');
    await waitFor(async () => (await d.get('t:after')) === '1', 't:after on the destination');
    expect(await d.get('t:c')).toBe('1');
    expect(await d.lrange('t:l', 0, -1)).toEqual(['a']);
    // No connection of the destination is left inside MULTI (CLIENT LIST flag x).
    const list = String(await d.call('CLIENT', 'LIST'));
    const inMulti = list.split('\n').filter((l) => / flags=\S*x/.test(l));
    expect(inMulti).toEqual([]);
    const r = sync.report().sources[0]!;
    expect(r.partial_syncs).toBeGreaterThanOrEqual(1);
    expect(r.full_syncs).toBe(1);
    s.disconnect();
    d.disconnect();
  });
});

/** A relay to a source that holds what the source sends while `hold()` is on: a lagging stream. */
async function lagRelay(target: StartedRedisServer) {
  const sockets = new Set<Socket>();
  let held = false;
  const queued: { to: Socket; data: Buffer }[] = [];
  const server = createServer((client) => {
    const up = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(up);
    client.on('data', (d) => up.write(d));
    up.on('data', (d: Buffer) => {
      if (held) queued.push({ to: client, data: d });
      else client.write(d);
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  relays.push({ server, sockets });
  return {
    port: (server.address() as { port: number }).port,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const q of queued.splice(0)) q.to.write(q.data);
    },
  };
}

describe('checker seed 1: a lagging stream', () => {
  it('an expiry the source replaced by PERSIST before it ran out does not empty the key on a lagging destination', async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    await s.call('HSET', 'k:h', 'a', '1', 'b', '2');
    await s.call('RPUSH', 'k:l', 'x', 'y', 'z');
    const relay = await lagRelay(src);
    const sync = newSync();
    sync.apply(config(dst, relay.port));
    await waitFor(async () => {
      const r = sync.report();
      return r.sources.length > 0 && r.sources.every((x) => x.status === 'in-sync');
    }, 'in-sync');
    await waitFor(async () => (await d.call('LLEN', 'k:l')) === 3, 'the full sync on the destination');
    // The stream lags: the source's PEXPIRE (replicated as PEXPIREAT, an absolute time) reaches
    // the destination after that time, followed by the writes and the PERSIST that kept the key.
    relay.hold();
    const ttlMs = 1000;
    const setAt = Date.now();
    await s.call('PEXPIRE', 'k:h', String(ttlMs));
    await s.call('SET', 'k:s', 'v', 'PX', String(ttlMs));
    await s.call('PEXPIRE', 'k:l', String(ttlMs));
    await s.call('HINCRBY', 'k:h', 'a', '10');
    await s.call('PERSIST', 'k:h');
    await s.call('LPUSH', 'k:l', 'w');
    await s.call('PERSIST', 'k:l');
    await s.call('APPEND', 'k:s', 'w');
    await s.call('PERSIST', 'k:s');
    await waitFor(async () => Date.now() > setAt + ttlMs + 300, 'the TTLs to run out');
    relay.release();
    const read = async (c: typeof s) =>
      JSON.stringify([
        await c.call('HGETALL', 'k:h'),
        await c.call('LRANGE', 'k:l', '0', '-1'),
        await c.call('GET', 'k:s'),
        await c.call('PTTL', 'k:h'),
        await c.call('PTTL', 'k:l'),
        await c.call('PTTL', 'k:s'),
      ]);
    const want = await read(s);
    expect(want).toBe(JSON.stringify([['a', '11', 'b', '2'], ['w', 'x', 'y', 'z'], 'vw', -1, -1, -1]));
    // Before the fix the destination expired the keys on the late PEXPIREAT / SET PXAT and the
    // later writes rebuilt them from nothing: {a: 10}, [w] and "w".
    const got = await waitFor(async () => {
      const g = await read(d);
      return g === want && g;
    }, `the destination to hold ${want}`).catch((err: Error) => err.message);
    expect(got).toBe(want);
    s.disconnect();
    d.disconnect();
  });

  it("an expiry the source does carry out still ends as the source's DEL, and a far one stays exact", async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    const relay = await lagRelay(src);
    const sync = newSync();
    sync.apply(config(dst, relay.port));
    await waitFor(async () => sync.report().sources[0]?.status === 'in-sync', 'in-sync');
    relay.hold();
    await s.call('SET', 'gone', 'v', 'PX', '500');
    await s.call('SET', 'far', 'v', 'PX', '600000');
    await waitFor(async () => (await s.call('EXISTS', 'gone')) === 0, 'the source to expire the key');
    relay.release();
    await waitFor(async () => (await d.call('EXISTS', 'far')) === 1, 'far on the destination');
    await waitFor(async () => (await d.call('EXISTS', 'gone')) === 0, 'gone removed on the destination');
    const a = Number(await s.call('PEXPIRETIME', 'far'));
    const b = Number(await d.call('PEXPIRETIME', 'far'));
    expect(b).toBe(a);
    s.disconnect();
    d.disconnect();
  });
});

describe('checker seed 50: a stream that stalls after the expiry was written', () => {
  it('a key the source kept alive while the stream stalled past its first expiry is whole on the destination', async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    const relay = await lagRelay(src);
    const sync = newSync();
    sync.apply(config(dst, relay.port));
    await waitFor(async () => sync.report().sources[0]?.status === 'in-sync', 'in-sync');
    // An expiry far enough out that the stream writes it exactly (no shift), reaching the
    // destination at once...
    const ttlMs = 7000;
    const setAt = Date.now();
    await s.call('SET', 'k:a', 'v', 'PX', String(ttlMs));
    await waitFor(async () => Number(await d.call('PTTL', 'k:a')) > 0, 'the expiry on the destination');
    // ...then the stream stalls longer than that TTL while the source extends the key and
    // appends to it.
    relay.hold();
    await s.call('PEXPIRE', 'k:a', '600000');
    await s.call('APPEND', 'k:a', 'w');
    await waitFor(async () => Date.now() > setAt + ttlMs + 1500, 'the first expiry to pass');
    relay.release();
    // Before the guard the destination expired the key at the first expiry, the late PEXPIREAT
    // found nothing, and the APPEND rebuilt it as "w".
    const got = await waitFor(async () => {
      const v = (await d.call('GET', 'k:a')) as string | null;
      return v === 'vw' && v;
    }, 'the destination to hold "vw"').catch(() => d.call('GET', 'k:a'));
    expect(got).toBe('vw');
    const a = Number(await s.call('PEXPIRETIME', 'k:a'));
    await waitFor(
      async () => Number(await d.call('PEXPIRETIME', 'k:a')) === a,
      'the source expiry on the destination',
    );
    s.disconnect();
    d.disconnect();
  });
});

describe('shiftStreamExpiry', () => {
  it('pushes back only absolute expiries the destination would reach before the stream catches up', async () => {
    const { shiftStreamExpiry, EXPIRY_CUSHION_MS } = await import('../src/stream-expiry.js');
    const b = (...a: string[]) => a.map((x) => Buffer.from(x));
    const s = (v: Buffer[] | undefined) => v?.map(String);
    const now = 100_000;
    const delay = () => 3000;
    const c = EXPIRY_CUSHION_MS;
    expect(s(shiftStreamExpiry(b('PEXPIREAT', 'k', '99000'), now, delay))).toEqual([
      'PEXPIREAT',
      'k',
      String(99_000 + 3000 + c),
    ]);
    expect(shiftStreamExpiry(b('PEXPIREAT', 'k', String(now + 3000 + c)), now, delay)).toBeUndefined();
    expect(s(shiftStreamExpiry(b('SET', 'k', 'v', 'PXAT', '101000', 'GET'), now, delay))).toEqual([
      'SET',
      'k',
      'v',
      'PXAT',
      String(101_000 + 3000 + c),
      'GET',
    ]);
    expect(s(shiftStreamExpiry(b('set', 'k', 'v', 'exat', '100'), now, delay))).toEqual([
      'set',
      'k',
      'v',
      'exat',
      String(Math.ceil((100_000 + 3000 + c) / 1000)),
    ]);
    expect(shiftStreamExpiry(b('SET', 'k', 'v'), now, delay)).toBeUndefined();
    expect(shiftStreamExpiry(b('SET', 'k', 'PXAT'), now, delay)).toBeUndefined(); // the value is "PXAT"
    expect(shiftStreamExpiry(b('PEXPIREAT', 'k', '99000'), now, () => undefined)).toBeUndefined();
    expect(shiftStreamExpiry(b('INCR', 'k'), now, delay)).toBeUndefined();
  });
});

describe('checker seed 44: the destination out of memory between the load and the checkpoint', () => {
  it('stops the sync with the out-of-memory cause, not a discarded transaction', async () => {
    const src = await redis();
    const dst = await redis();
    // An empty source: the load writes nothing, so the first write the destination refuses is
    // the checkpoint that follows it (a used memory above 1 byte refuses every write).
    await dst.client().call('CONFIG', 'SET', 'maxmemory', '1');
    const stops: { code: string; error: string }[] = [];
    const s = new ReplicaOfSync({
      log: createLogger({
        name: 'syncer-test',
        level: 'info',
        file: process.env.SYNC_TEST_LOG ?? '/dev/null',
      }),
      onStop: (_uid, stop) => {
        stops.push(stop);
      },
    });
    syncs.push(s);
    s.apply(config(dst, src.port));
    const stop = await waitFor(async () => stops[0], 'the sync to stop');
    expect(stop.code).toBe('MINIRS_ERR_OOM');
    expect(stop.error).toMatch(/OOM command not allowed/);
    expect(stop.error).toMatch(/checkpoint after the full sync/);
  });
});

describe('checker seed 12: a destination shard that does not take the pipe right after the load', () => {
  it('resumes (here: a full resync) instead of stopping the sync', async () => {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    for (let i = 0; i < 50; i++) await s.set(`k:${i}`, String(i));
    // A relay to the destination that cuts the shard pipes (the connections the syncer names
    // with CLIENT SETNAME) while `refuse` holds: a shard restarting after the load went in.
    const sockets = new Set<Socket>();
    let refuse = true;
    let refused = 0;
    const server = createServer((client) => {
      const up = connect(dst.port, dst.host);
      sockets.add(client);
      sockets.add(up);
      const end = () => {
        client.destroy();
        up.destroy();
      };
      client.on('data', (d: Buffer) => {
        if (refuse && d.includes('SETNAME')) {
          refused++;
          end();
          return;
        }
        up.write(d);
      });
      up.on('data', (d) => client.write(d));
      client.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    relays.push({ server, sockets });
    const stops: { code: string; error: string }[] = [];
    const sync = new ReplicaOfSync({
      log: createLogger({
        name: 'syncer-test',
        level: 'info',
        file: process.env.SYNC_TEST_LOG ?? '/dev/null',
      }),
      onStop: (_uid, stop) => {
        stops.push(stop);
      },
    });
    syncs.push(sync);
    const cfg = config(dst, src.port);
    cfg.destination.port = (server.address() as { port: number }).port;
    sync.apply(cfg);
    await waitFor(async () => refused >= 2 || stops.length > 0, 'the shard pipe to be refused twice');
    refuse = false;
    await s.set('marker', 'end');
    const d = dst.client();
    await waitFor(
      async () => stops.length > 0 || (await d.get('marker')) === 'end',
      'the marker on the destination',
    );
    expect(stops).toEqual([]);
    expect(await d.dbsize()).toBe(51);
    expect(await d.get('k:49')).toBe('49');
  });
});

describe('checker seeds 22 and 35: a new syncer process and keys with a TTL', () => {
  /**
   * A first syncer in sync, closed (its expiry guard gone with it), `during` run while no syncer
   * runs, then a second syncer as a new process would be: nothing carried over.
   */
  async function restartOnce(
    withTtl: boolean,
    during: (d: Redis, s: Redis) => Promise<void> = async () => {},
  ) {
    const src = await redis();
    const dst = await redis();
    const s = src.client();
    const d = dst.client();
    await s.set('k:plain', '1');
    if (withTtl) {
      await s.set('k:ttl', '1', 'PX', 600_000);
      await s.set('k:kept', 'a', 'PX', 600_000);
    }
    const first = newSync();
    first.apply(config(dst, src.port));
    await waitFor(async () => first.report().sources[0]?.status === 'in-sync', 'the first syncer in sync');
    await s.append('k:plain', '2');
    await waitFor(async () => (await d.get('k:plain')) === '12', 'the append on the destination');
    // Two guard ticks at least: the stamps are written.
    await new Promise((r) => setTimeout(r, 1500));
    await first.closeAll();
    await during(d, s);
    // A new process: no expiry guard carried over from the one that wrote the checkpoints.
    const second = newSync();
    second.apply(config(dst, src.port));
    const rep = await waitFor(async () => {
      const r = second.report().sources[0];
      return r?.status === 'in-sync' && r.resume_mode ? r : undefined;
    }, 'the second syncer in sync');
    await s.append('k:plain', '3');
    await waitFor(async () => (await d.get('k:plain')) === '123', 'the next append on the destination');
    return { rep, d, s };
  }

  it('resumes exactly where no destination key has a TTL', async () => {
    const { rep } = await restartOnce(false);
    expect(rep.resume_mode).toBe('exact');
  });

  it('resumes exactly over keys with a TTL when the restart came within the guard cushion', async () => {
    const { rep, d, s } = await restartOnce(true, async (d, s) => {
      // The destination about to expire a key the source keeps (as a guard extension would
      // have left it), while the source extends it and appends to it.
      await d.pexpire('k:kept', 1200);
      await s.pexpire('k:kept', 900_000);
      await s.append('k:kept', 'b');
    });
    expect(rep.resume_mode).toBe('exact');
    // The rebuilt guard extended it until the stream brought the source's PEXPIRE.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await d.get('k:kept')).toBe('ab');
    expect(await d.pttl('k:kept')).toBeGreaterThan(800_000);
    expect(await d.pttl('k:ttl')).toBeGreaterThan(500_000);
    expect(await s.get('k:ttl')).toBe('1');
  });

  it('resumes exactly after a long downtime when the destination expired nothing meanwhile', async () => {
    const { rep } = await restartOnce(true, async () => {
      await new Promise((r) => setTimeout(r, 3600));
    });
    expect(rep.resume_mode).toBe('exact');
  });

  it('resyncs in full when the destination expired keys after the guard cushion ran out', async () => {
    const { rep } = await restartOnce(true, async (d) => {
      await d.set('k:gone', 'x', 'PX', 50);
      await new Promise((r) => setTimeout(r, 3600));
      expect(await d.exists('k:gone')).toBe(0);
    });
    expect(rep.resume_mode).toBe('full');
    expect(rep.resume_reason).toMatch(
      /no syncer guarded its expiries for \d+ ms.*expired 1 key\(s\) meanwhile.*only a full resync is exact/,
    );
  });
});
