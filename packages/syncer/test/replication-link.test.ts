import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { RedisServer, type StartedRedisServer, waitFor } from '@minirs/harness';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FullSyncEnd,
  type FullSyncStart,
  type PartialSync,
  type ReplicationCommand,
  type ReplicationConsumer,
  ReplicationError,
  ReplicationLink,
  type ReplicationLinkOptions,
  readReplicationInfo,
  type SocketFactory,
  tcpSocketFactory,
} from '../src/replication/index.js';

// DEBUG for content digests; no 5 s wait before a diskless sync (the default) in tests.
const DEBUG_ARGS = ['--enable-debug-command', 'yes', '--repl-diskless-sync-delay', '0'];

const servers: StartedRedisServer[] = [];
const links: ReplicationLink[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function server(args: string[] = [], opts: { password?: string; rdbFile?: string } = {}) {
  const b = new RedisServer().withArgs(...DEBUG_ARGS, ...args);
  if (opts.password !== undefined) b.withPassword(opts.password);
  if (opts.rdbFile !== undefined) b.withRdbFile(opts.rdbFile);
  const s = await b.start();
  servers.push(s);
  return s;
}

/**
 * Replays a link into real redis-servers: the RDB goes to a file a fresh redis-server loads,
 * then every command is forwarded with ioredis. A full resync replaces the destination.
 */
class ReplayConsumer implements ReplicationConsumer {
  dest: StartedRedisServer | undefined;
  client: Redis | undefined;
  private clientDb = 0;
  private file: WriteStream | undefined;
  private rdbPath = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'minirs-repl-test-'));
  readonly starts: FullSyncStart[] = [];
  readonly ends: FullSyncEnd[] = [];
  readonly partials: PartialSync[] = [];
  readonly seen: { name: string; db: number; offset: number }[] = [];
  /** Runs while the source is already committed to the snapshot: writes here land in the stream. */
  duringSync: (() => Promise<void>) | undefined;
  private inflight: Promise<unknown>[] = [];
  private failure: unknown;
  link: ReplicationLink | undefined;

  constructor(private readonly mode: 'on-return' | 'manual' = 'on-return') {
    dirs.push(this.dir);
  }

  async fullSyncStart(info: FullSyncStart): Promise<void> {
    this.starts.push(info);
    if (this.dest) {
      this.client?.disconnect();
      await this.dest.stop();
      this.dest = undefined;
    }
    this.rdbPath = join(this.dir, `sync-${this.starts.length}.rdb`);
    this.file = createWriteStream(this.rdbPath);
    if (this.duringSync) await this.duringSync();
  }

  async rdbChunk(chunk: Buffer): Promise<void> {
    if (!this.file!.write(chunk)) await once(this.file!, 'drain');
  }

  async fullSyncEnd(info: FullSyncEnd): Promise<void> {
    this.ends.push(info);
    const file = this.file!;
    await new Promise<void>((resolve, reject) =>
      file.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    this.dest = await server([], { rdbFile: this.rdbPath });
    this.client = this.dest.client();
    this.clientDb = 0;
  }

  partialSync(info: PartialSync): void {
    this.partials.push(info);
  }

  async commands(batch: readonly ReplicationCommand[]): Promise<void> {
    if (this.failure) throw this.failure;
    for (const cmd of batch) {
      this.seen.push({ name: cmd.argv[0]!.toString().toUpperCase(), db: cmd.db, offset: cmd.offset });
      const sent = this.send(cmd);
      if (this.mode === 'on-return') {
        await sent;
        continue;
      }
      // Manual mode: pipeline, and report each command applied when the destination answers.
      const p = sent.then(
        () => this.link!.applied(cmd.offset),
        (err) => {
          this.failure ??= err;
        },
      );
      this.inflight.push(p);
      if (this.inflight.length > 500) await this.inflight.shift();
    }
  }

  async drain(): Promise<void> {
    await Promise.all(this.inflight.splice(0));
  }

  private send(cmd: ReplicationCommand): Promise<unknown> {
    const c = this.client!;
    if (cmd.db !== this.clientDb) {
      this.clientDb = cmd.db;
      void c.select(cmd.db);
    }
    return c.call(cmd.argv[0]!.toString('latin1'), ...cmd.argv.slice(1));
  }
}

function startLink(
  source: StartedRedisServer,
  consumer: ReplayConsumer,
  extra: Partial<ReplicationLinkOptions> = {},
): { link: ReplicationLink; done: Promise<void> } {
  const link = new ReplicationLink({
    connect: tcpSocketFactory({ host: source.host, port: source.port }),
    peer: `${source.host}:${source.port}`,
    password: source.password,
    readTimeoutMs: 15_000,
    retry: { initialDelayMs: 20, maxDelayMs: 200 },
    ...extra,
  });
  consumer.link = link;
  links.push(link);
  const done = link.run(consumer);
  done.catch(() => {});
  return { link, done };
}

async function masterOffset(source: StartedRedisServer): Promise<number> {
  const info = await readReplicationInfo({
    connect: tcpSocketFactory({ host: source.host, port: source.port }),
    password: source.password,
  });
  return info.masterReplOffset;
}

async function caughtUp(link: ReplicationLink, source: StartedRedisServer): Promise<void> {
  await waitFor(async () => link.appliedOffset >= (await masterOffset(source)), 'the link to catch up');
}

/** Every type in small and large encodings, TTLs, binary values, streams with a group and a PEL. */
async function populate(c: Redis, db: number, tag: string): Promise<void> {
  await c.select(db);
  const p = c.pipeline();
  for (let i = 0; i < 150; i++) p.set(`${tag}:s:${i}`, `value-${i}-${'x'.repeat(i % 7)}`);
  p.set(`${tag}:int`, '12345');
  p.set(`${tag}:bin`, Buffer.from([0, 1, 2, 255, 13, 10, 0]));
  p.set(`${tag}:ttl`, 'expiring', 'EX', 3600);
  p.hset(`${tag}:h:small`, { a: '1', b: '2' });
  for (let i = 0; i < 300; i++) p.hset(`${tag}:h:big`, `f${i}`, `v${i}`);
  p.rpush(`${tag}:l:small`, 'a', 'b', 'c');
  for (let i = 0; i < 10; i++)
    p.rpush(`${tag}:l:big`, ...Array.from({ length: 100 }, (_, j) => `item-${i}-${j}`));
  p.sadd(`${tag}:set:int`, 1, 2, 3, 400000);
  p.sadd(`${tag}:set:big`, ...Array.from({ length: 600 }, (_, i) => `m${i}`));
  p.zadd(`${tag}:z:small`, 1, 'a', 2.5, 'b');
  for (let i = 0; i < 200; i++) p.zadd(`${tag}:z:big`, i / 3, `m${i}`);
  for (let i = 0; i < 20; i++) p.xadd(`${tag}:stream`, '*', 'field', `v${i}`);
  p.xgroup('CREATE', `${tag}:stream`, 'g1', '0');
  p.xreadgroup('GROUP', 'g1', 'alice', 'COUNT', 5, 'STREAMS', `${tag}:stream`, '>');
  p.pexpire(`${tag}:h:small`, 7_200_000);
  await p.exec();
}

/** Writes of many kinds (bounded: `rounds` pipelines), including MULTI/EXEC and a script. */
async function churn(c: Redis, db: number, tag: string, rounds: number): Promise<void> {
  await c.select(db);
  for (let r = 0; r < rounds; r++) {
    const p = c.pipeline();
    p.incr(`${tag}:counter`);
    p.lpush(`${tag}:log`, `entry-${r}`);
    p.set(`${tag}:churn:${r % 17}`, `r${r}`, 'EX', 1800 + r);
    p.hincrby(`${tag}:h:big`, `f${r % 300}`, 1);
    p.zincrby(`${tag}:z:big`, 1, `m${r % 200}`);
    p.xadd(`${tag}:stream`, '*', 'round', String(r));
    p.del(`${tag}:s:${r % 150}`);
    p.expire(`${tag}:s:${(r + 1) % 150}`, 5000);
    await p.exec();
    if (r % 10 === 0) {
      await c.multi().incr(`${tag}:counter`).sadd(`${tag}:set:big`, `t${r}`).exec();
      await c.eval(
        "redis.call('INCRBY', KEYS[1], 2); return redis.call('RPUSH', KEYS[2], ARGV[1])",
        2,
        `${tag}:counter`,
        `${tag}:l:small`,
        `s${r}`,
      );
    }
  }
}

/** Same keys in every db, with the same type, content digest and absolute expire time. */
async function compareServers(a: Redis, b: Redis): Promise<number> {
  let checked = 0;
  for (let db = 0; db < 16; db++) {
    await a.select(db);
    await b.select(db);
    const keys = (await a.keys('*')).sort();
    expect((await b.keys('*')).sort(), `keys of db ${db}`).toEqual(keys);
    for (const k of keys) {
      const [ta, da, ea] = await Promise.all([
        a.type(k),
        a.call('DEBUG', 'DIGEST-VALUE', k),
        a.call('PEXPIRETIME', k),
      ]);
      const [tb, dbv, eb] = await Promise.all([
        b.type(k),
        b.call('DEBUG', 'DIGEST-VALUE', k),
        b.call('PEXPIRETIME', k),
      ]);
      expect({ k, t: tb, d: dbv, e: eb }).toEqual({ k, t: ta, d: da, e: ea });
      if (ta === 'stream') expect(await b.xinfo('GROUPS', k)).toEqual(await a.xinfo('GROUPS', k));
      checked++;
    }
  }
  expect(await b.call('DEBUG', 'DIGEST')).toBe(await a.call('DEBUG', 'DIGEST'));
  return checked;
}

describe('ReplicationLink against redis-server', () => {
  it.each([
    ['diskless ($EOF:<mark>)', 'yes'],
    ['disk-based ($<len>)', 'no'],
  ])(
    'full sync, %s: RDB into a fresh redis-server plus the stream gives the same data',
    async (_n, diskless) => {
      const source = await server(['--repl-diskless-sync', diskless]);
      const w = source.client();
      await populate(w, 0, 'a');
      await populate(w, 3, 'b');
      await populate(w, 9, 'c');

      const consumer = new ReplayConsumer();
      const writer = source.client();
      consumer.duringSync = () => churn(writer, 3, 'b', 20);
      const { link } = startLink(source, consumer);
      await waitFor(() => link.state === 'streaming', 'streaming');
      await Promise.all([churn(w, 0, 'a', 60), churn(source.client(), 9, 'c', 60)]);
      await caughtUp(link, source);

      expect(consumer.starts).toHaveLength(1);
      const start = consumer.starts[0]!;
      if (diskless === 'yes') expect(start.rdbSize).toBeUndefined();
      else expect(start.rdbSize).toBe(consumer.ends[0]!.rdbBytes);
      expect(start.partialRefused).toBe(false);
      expect(consumer.ends[0]!.rdb.aux.get('redis-ver')).toMatch(/^7\./);
      expect(consumer.ends[0]!.rdb.aux.get('repl-id')).toBe(start.replid);
      expect(link.position).toEqual({
        replid: start.replid,
        offset: link.appliedOffset,
        db: expect.any(Number),
      });

      // SELECT is tracked: writes made in dbs 0, 3 and 9 arrive with their db, SELECT itself never.
      expect(consumer.seen.some((s) => s.name === 'SELECT')).toBe(false);
      expect(consumer.seen.some((s) => s.name === 'PING')).toBe(false);
      for (const db of [0, 3, 9]) expect(consumer.seen.filter((s) => s.db === db).length).toBeGreaterThan(20);
      expect(consumer.seen.filter((s) => s.name === 'MULTI').length).toBeGreaterThan(0);
      // Offsets strictly increase.
      for (let i = 1; i < consumer.seen.length; i++) {
        expect(consumer.seen[i]!.offset).toBeGreaterThan(consumer.seen[i - 1]!.offset);
      }

      const checked = await compareServers(w, consumer.client!);
      expect(checked).toBeGreaterThan(3 * 100);
    },
  );

  it.each(['on-return', 'manual'] as const)(
    'partial resync (ack mode %s): a dropped link continues with nothing lost or doubled',
    async (mode) => {
      const source = await server();
      const w = source.client();
      await populate(w, 0, 'a');
      const gate = new Gate();
      const sockets: Duplex[] = [];
      const consumer = new ReplayConsumer(mode);
      const { link } = startLink(source, consumer, {
        ackMode: mode,
        connect: gated(gate, tcpSocketFactory({ host: source.host, port: source.port }), sockets),
      });
      await waitFor(() => link.state === 'streaming', 'streaming');
      await churn(w, 0, 'a', 30);
      await churn(w, 7, 'g', 10); // the stream is in db 7 when the link drops

      // Drop it from the source's side while writes are flowing, and keep writing while it is down.
      gate.close();
      const retried = new Promise((r) => link.once('retry', r));
      const flowing = churn(source.client(), 7, 'g', 40);
      await w.client('KILL', 'TYPE', 'replica');
      await retried;
      await flowing;
      const outage = source.client();
      await outage.select(7); // no SELECT precedes these in the stream: the link must remember db 7
      for (let i = 0; i < 200; i++) await outage.incr('g:counter');
      await outage.lpush('g:outage', 'a', 'b', 'c');
      await churn(outage, 0, 'a', 20);
      gate.open();

      await waitFor(() => consumer.partials.length === 1, 'a partial resync');
      await caughtUp(link, source);
      expect(consumer.starts).toHaveLength(1);
      expect(consumer.partials[0]!.db).toBe(7);
      expect(consumer.partials[0]!.replid).toBe(consumer.starts[0]!.replid);
      await w.select(0);
      const dst = consumer.client!;
      await dst.select(0);
      expect(await dst.get('a:counter')).toBe(await w.get('a:counter'));
      await w.select(7);
      await dst.select(7);
      expect(await dst.get('g:counter')).toBe(await w.get('g:counter'));
      expect(Number(await w.get('g:counter'))).toBe(13 + 52 + 200);
      expect(await dst.lrange('g:outage', 0, -1)).toEqual(['c', 'b', 'a']);
      await compareServers(w, dst);
    },
  );

  it('beyond the backlog the source refuses to continue and a clean full resync follows', async () => {
    const source = await server(['--repl-backlog-size', '16kb']);
    const w = source.client();
    await populate(w, 0, 'a');
    const gate = new Gate();
    const consumer = new ReplayConsumer();
    const { link } = startLink(source, consumer, {
      connect: gated(gate, tcpSocketFactory({ host: source.host, port: source.port }), []),
    });
    await waitFor(() => link.state === 'streaming', 'streaming');
    await churn(w, 0, 'a', 10);
    await caughtUp(link, source);

    gate.close();
    const retried = new Promise((r) => link.once('retry', r));
    await w.client('KILL', 'TYPE', 'replica');
    await retried;
    await w.select(4);
    for (let i = 0; i < 100; i++) await w.set(`big:${i}`, 'v'.repeat(1024)); // ~100 KB > 16 KB backlog
    await w.incr('big:counter');
    gate.open();

    await waitFor(() => consumer.ends.length === 2 && link.state === 'streaming', 'the second full sync');
    await churn(w, 0, 'a', 10);
    await caughtUp(link, source);
    expect(consumer.partials).toHaveLength(0);
    expect(consumer.starts[1]!.partialRefused).toBe(true);
    expect(consumer.ends[1]!.streamDb).toBe(4); // repl-stream-db: the db the source's stream was in
    await compareServers(w, consumer.client!);
  });

  it("a full sync loaded slower than the source's repl-timeout keeps its connection (checker seed 1)", async () => {
    // The source puts a diskless replica online once its RDB is sent and drops it when it hears
    // nothing for repl-timeout: a link silent while it loads was cut right after loading.
    const source = await server(['--repl-timeout', '2']);
    const w = source.client();
    await w.set('before', '1');
    const got: string[] = [];
    let retries = 0;
    const consumer: ReplicationConsumer = {
      fullSyncStart() {},
      rdbChunk() {},
      fullSyncEnd: () => new Promise<void>((r) => setTimeout(r, 6000)),
      commands(batch) {
        for (const c of batch) got.push(c.argv.map((a) => a.toString()).join(' '));
      },
    };
    const { link } = startLinkRaw(source, consumer, {});
    link.on('retry', () => retries++);
    await waitFor(() => link.state === 'streaming', 'streaming');
    await w.set('after', '2');
    await waitFor(
      () => got.includes('set after 2') || got.includes('SET after 2'),
      'the write after the load',
    );
    expect(retries).toBe(0);
    expect(await w.info('replication')).toMatch(/connected_slaves:1/);
  }, 30_000);

  it('ACKs the applied offset, not the received one (WAIT on the source sees it)', async () => {
    const source = await server();
    const w = source.client();
    const held: ReplicationCommand[] = [];
    let link: ReplicationLink | undefined;
    const consumer: ReplicationConsumer = {
      fullSyncStart() {},
      rdbChunk() {},
      fullSyncEnd() {},
      commands(batch) {
        held.push(...batch);
      },
    };
    ({ link } = startLinkRaw(source, consumer, { ackMode: 'manual' }));
    await waitFor(() => link!.state === 'streaming', 'streaming');
    await w.set('k', 'v');
    await waitFor(() => held.length === 1, 'the SET to arrive');
    expect(link.receivedOffset).toBeGreaterThan(link.appliedOffset);
    // WAIT sends REPLCONF GETACK; the link answers at once, with the applied offset: not enough.
    expect(await w.call('WAIT', '1', '300')).toBe(0);
    const waiting = w.call('WAIT', '1', '20000');
    link.applied(held[0]!.offset);
    expect(await waiting).toBe(1);
    // GETACK and PING count toward the offset: nothing is pending once they are the only traffic.
    await waitFor(
      async () =>
        link!.appliedOffset === (await masterOffset(source)) && link!.receivedOffset === link!.appliedOffset,
      'applied offset to reach the source offset',
    );
  });

  it('pauses the socket while the consumer is busy: the source buffers, the link does not', async () => {
    // No output buffer limit for replicas, so the source keeps the stalled link instead of dropping it.
    const source = await server(['--client-output-buffer-limit', 'replica 0 0 0']);
    const w = source.client();
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((r) => {
      unblock = r;
    });
    let delivered = 0;
    let maxBuffered = 0;
    const consumer: ReplicationConsumer = {
      fullSyncStart() {},
      rdbChunk() {},
      fullSyncEnd() {},
      async commands(batch) {
        delivered += batch.length;
        await blocked;
      },
    };
    const { link } = startLinkRaw(source, consumer, { highWaterMark: 256 * 1024 });
    await waitFor(() => link.state === 'streaming', 'streaming');
    const value = 'x'.repeat(10_000);
    for (let i = 0; i < 60; i++) {
      const p = w.pipeline();
      for (let j = 0; j < 50; j++) p.set(`k${j}`, value);
      await p.exec();
      maxBuffered = Math.max(maxBuffered, link.bufferedBytes);
    }
    // 30 MB written; the kernel's socket buffers hold a few; the rest waits in the source.
    await waitFor(async () => {
      maxBuffered = Math.max(maxBuffered, link.bufferedBytes);
      const m = /mem_total_replication_buffers:(\d+)/.exec(await w.info('memory'));
      return Number(m?.[1]) > 8 * 1024 * 1024;
    }, 'the source to hold the stream for the stalled link');
    expect(delivered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThan(2 * 1024 * 1024);
    unblock();
    await caughtUp(link, source);
    expect(delivered).toBe(3000);
  });

  it('authenticates with a password or an ACL user, and fails with MINIRS_ERR_AUTH otherwise', async () => {
    const source = await server([], { password: 'right-pass' });
    const admin = source.client();
    await admin.call('ACL', 'SETUSER', 'repl', 'on', '>repl-pass', '+psync', '+replconf', '+ping', '+auth');
    await admin.set('k', 'v');

    const run = async (username: string | undefined, password: string | undefined) => {
      const link = new ReplicationLink({
        connect: tcpSocketFactory({ host: source.host, port: source.port }),
        peer: 'src',
        username,
        password,
        retry: { maxAttempts: 3, initialDelayMs: 10 },
      });
      links.push(link);
      const ends: FullSyncEnd[] = [];
      const done = link.run({
        fullSyncStart() {},
        rdbChunk() {},
        fullSyncEnd(i) {
          ends.push(i);
        },
        commands() {},
      });
      return { link, done, ends };
    };

    for (const [user, pass, reply] of [
      [undefined, 'wrong-pass', /WRONGPASS/],
      ['repl', 'wrong-pass', /WRONGPASS/],
      [undefined, undefined, /NOAUTH/],
    ] as const) {
      const { done } = await run(user, pass);
      const err = await done.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReplicationError);
      const e = err as ReplicationError;
      expect(e.code).toBe('MINIRS_ERR_AUTH');
      expect(e.retryable).toBe(false);
      expect(e.reply).toMatch(reply);
      expect(e.message).not.toContain('wrong-pass');
    }

    const ok = await run('repl', 'repl-pass');
    await waitFor(() => ok.ends.length === 1 && ok.link.state === 'streaming', 'ACL user sync');
    const plain = await run(undefined, 'right-pass');
    await waitFor(() => plain.ends.length === 1 && plain.link.state === 'streaming', 'password sync');
  });

  it('stops on -DENIED from a redis-server in protected mode, naming it, instead of retrying on EPIPE', async () => {
    // Protected mode (no password) answers a client from any address but 127.0.0.1 and ::1 with
    // -DENIED and closes: the link used to ignore the PING error, write REPLCONF, and retry
    // "write EPIPE" for ever (a netns cluster replicating a default redis-server).
    const source = await server(['--protected-mode', 'yes']);
    const link = new ReplicationLink({
      connect: async () => {
        const s = netConnect({ host: source.host, port: source.port, localAddress: '127.0.0.2' });
        await once(s, 'connect');
        return s;
      },
      peer: 'src',
      retry: { maxAttempts: 3, initialDelayMs: 10 },
    });
    links.push(link);
    const err = await link
      .run({ fullSyncStart() {}, rdbChunk() {}, fullSyncEnd() {}, commands() {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ReplicationError);
    const e = err as ReplicationError;
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: 'MINIRS_ERR_AUTH', retryable: false });
    expect(e.reply).toMatch(/^DENIED .*protected mode/);
    expect(e.message).toMatch(/protected mode .*password.*protected-mode to no/);
  });

  it('retries -NOMASTERLINK with backoff until the source can serve', async () => {
    const source = await server(['--replicaof', '127.0.0.1', '1']);
    const consumer = new ReplayConsumer();
    const errors: ReplicationError[] = [];
    const { link } = startLink(source, consumer);
    link.on('retry', (e) => errors.push(e));
    await waitFor(() => errors.length >= 2, 'two retries');
    expect(errors[0]!.code).toBe('MINIRS_ERR_CONNECTION');
    expect(errors[0]!.reply).toMatch(/^NOMASTERLINK/);
    const c = source.client();
    await c.call('REPLICAOF', 'NO', 'ONE');
    await c.set('after', 'promotion');
    await waitFor(() => link.state === 'streaming', 'streaming');
    await caughtUp(link, source);
    await compareServers(c, consumer.client!);
  });

  it('retries -LOADING while the source loads its dataset', async () => {
    const origin = await server();
    const o = origin.client();
    const p = o.pipeline();
    for (let i = 0; i < 3000; i++) p.set(`k${i}`, `v${i}`);
    await p.exec();
    // A replica of `origin` that loads its snapshot slowly answers -LOADING meanwhile.
    // 1 ms per key, and client requests served every KB of the RDB meanwhile (default: every 2 MB).
    const source = await server([
      '--key-load-delay',
      '1000',
      '--loading-process-events-interval-bytes',
      '1024',
    ]);
    const s = source.client();
    await s.call('REPLICAOF', origin.host, String(origin.port));
    await waitFor(async () => /loading:1/.test(await s.info('persistence')), 'the source to be loading');

    const consumer = new ReplayConsumer();
    const errors: ReplicationError[] = [];
    const { link } = startLink(source, consumer);
    link.on('retry', (e) => errors.push(e));
    await waitFor(() => link.state === 'streaming', 'streaming', 60_000);
    expect(errors.some((e) => e.reply?.startsWith('LOADING'))).toBe(true);
    expect(errors.every((e) => e.retryable)).toBe(true);
    await o.set('late', 'write');
    await waitFor(async () => (await s.get('late')) === 'write', 'the source to get the write');
    await caughtUp(link, source);
    await compareServers(s, consumer.client!);
  });
});

function startLinkRaw(
  source: StartedRedisServer,
  consumer: ReplicationConsumer,
  extra: Partial<ReplicationLinkOptions>,
) {
  const link = new ReplicationLink({
    connect: tcpSocketFactory({ host: source.host, port: source.port }),
    peer: `${source.host}:${source.port}`,
    ...extra,
  });
  links.push(link);
  const done = link.run(consumer);
  done.catch(() => {});
  return { link, done };
}

/** Holds new connections while closed: an outage the test controls. */
class Gate {
  private opened: Promise<void> = Promise.resolve();
  private release: () => void = () => {};
  close(): void {
    this.opened = new Promise((r) => {
      this.release = r;
    });
  }
  open(): void {
    this.release();
  }
  wait(): Promise<void> {
    return this.opened;
  }
}

function gated(gate: Gate, inner: SocketFactory, sockets: Duplex[]): SocketFactory {
  return async () => {
    await gate.wait();
    const s = await inner();
    sockets.push(s);
    return s;
  };
}
