import { ErrorReply, Push, SimpleString } from '@minirs/resp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

const CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot";

describe('MULTI/EXEC, WATCH, blocking commands and pub/sub on private links', () => {
  let bed: StartedProxyTestBed;
  let db: Awaited<ReturnType<StartedProxyTestBed['addDb']>>;
  let c: Redis;
  const raws: RawClient[] = [];
  const raw = async () => {
    const r = await RawClient.connect(db.port);
    raws.push(r);
    return r;
  };
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(4).start();
    db = await bed.addDb();
    c = bed.client(db);
  });
  afterAll(async () => {
    for (const r of raws) r.close();
    await bed?.stop();
  });

  it('runs a transaction whose keys share a slot', async () => {
    const res = await c.multi().set('{t}a', '1').incr('{t}a').get('{t}a').ping().exec();
    expect(res).toEqual([
      [null, 'OK'],
      [null, 2],
      [null, '2'],
      [null, 'PONG'],
    ]);
  });

  it('runs ioredis multi() blocks auto-pipelined with other commands in one write, in order', async () => {
    const p = bed.client(db, { enableAutoPipelining: true });
    await p.del('{ap}:n', '{ap}:l', 'ap:plain');
    const [a, b, plain, d] = await Promise.all([
      p.multi().incr('{ap}:n').lpush('{ap}:l', 'x').exec(),
      p.multi().incr('{ap}:n').lpush('{ap}:l', 'y').exec(),
      p.set('ap:plain', '1'),
      p.multi().get('{ap}:n').lrange('{ap}:l', 0, -1).exec(),
    ]);
    expect(a).toEqual([
      [null, 1],
      [null, 1],
    ]);
    expect(b).toEqual([
      [null, 2],
      [null, 2],
    ]);
    expect(plain).toBe('OK');
    expect(d).toEqual([
      [null, '2'],
      [null, ['y', 'x']],
    ]);
  });

  it('queues keyless commands until a key picks the shard', async () => {
    const r = await raw();
    expect(await r.call('MULTI')).toEqual(new SimpleString('OK'));
    expect(await r.call('PING')).toEqual(new SimpleString('QUEUED'));
    expect(await r.call('SET', '{q}k', 'v')).toEqual(new SimpleString('QUEUED'));
    expect(await r.call('GET', '{q}k')).toEqual(new SimpleString('QUEUED'));
    expect(await r.call('EXEC')).toEqual([new SimpleString('PONG'), new SimpleString('OK'), 'v']);
    // A transaction with no key at all runs too.
    expect(await r.call('MULTI')).toEqual(new SimpleString('OK'));
    expect(await r.call('ECHO', 'x')).toEqual(new SimpleString('QUEUED'));
    expect(await r.call('EXEC')).toEqual(['x']);
    expect(await r.call('DISCARD')).toEqual(new ErrorReply('ERR DISCARD without MULTI'));
  });

  it('answers a pipelined transaction that breaks the slot rule without failing its queued commands', async () => {
    // The syncer replays a source's MULTI/EXEC pipelined: every queued command must get its
    // own answer (QUEUED), not an error from the private link being dropped early.
    const r = await raw();
    r.send('MULTI');
    r.send('SET', '{x}k1', 'v');
    r.send('SET', '{y}k2', 'v');
    r.send('EXEC');
    r.send('PING');
    expect(await r.value()).toEqual(new SimpleString('OK'));
    expect(await r.value()).toEqual(new SimpleString('QUEUED'));
    expect(await r.value()).toEqual(new ErrorReply(CROSSSLOT));
    expect(await r.value()).toEqual(
      new ErrorReply('EXECABORT Transaction discarded because of previous errors.'),
    );
    expect(await r.value()).toEqual(new SimpleString('PONG'));
    expect(await c.exists('{x}k1')).toBe(0);
  });

  it('answers CROSSSLOT inside MULTI and aborts the transaction', async () => {
    const r = await raw();
    await r.call('MULTI');
    expect(await r.call('SET', '{a}1', 'x')).toEqual(new SimpleString('QUEUED'));
    expect(await r.call('SET', '{b}1', 'x')).toEqual(new ErrorReply(CROSSSLOT));
    expect(await r.call('EXEC')).toEqual(
      new ErrorReply('EXECABORT Transaction discarded because of previous errors.'),
    );
    expect(await r.call('GET', '{a}1')).toBeNull();
    await r.call('MULTI');
    expect(await r.call('NOSUCHCMD')).toBeInstanceOf(ErrorReply);
    expect((await r.call('EXEC')) as ErrorReply).toBeInstanceOf(ErrorReply);
  });

  it('honours WATCH: a concurrent write aborts EXEC', async () => {
    const r = await raw();
    await c.set('{w}k', '1');
    expect(await r.call('WATCH', '{w}k')).toEqual(new SimpleString('OK'));
    await c.set('{w}k', '2');
    await r.call('MULTI');
    await r.call('SET', '{w}k', 'mine');
    expect(await r.call('EXEC')).toBeNull();
    expect(await c.get('{w}k')).toBe('2');
    // Unchanged: EXEC runs.
    await r.call('WATCH', '{w}k');
    await r.call('MULTI');
    await r.call('SET', '{w}k', 'mine');
    expect(await r.call('EXEC')).toEqual([new SimpleString('OK')]);
    // Keys of another slot than the watched ones: CROSSSLOT.
    await r.call('WATCH', '{w}k');
    expect(await r.call('WATCH', '{other}k')).toEqual(new ErrorReply(CROSSSLOT));
    expect(await r.call('UNWATCH')).toEqual(new SimpleString('OK'));
  });

  it('runs blocking commands on a private link without stalling other clients', async () => {
    const blocked = bed.client(db);
    const popped = blocked.blpop('{bl}list', 5);
    // Other clients keep going while it blocks (they share the shard's pipelined links).
    for (let i = 0; i < 20; i++) expect(await c.incr('{bl}counter')).toBe(i + 1);
    await c.rpush('{bl}list', 'item');
    expect(await popped).toEqual(['{bl}list', 'item']);
    // And it times out as told, not as the shard timeout says.
    expect(await blocked.blpop('{bl}empty', 0.2)).toBeNull();
    expect(await blocked.get('{bl}counter')).toBe('20');
  });

  it('runs WAIT on a private link (no replicas: it answers 0)', async () => {
    const r = await raw();
    await r.call('SET', 'w', '1');
    expect(await r.call('WAIT', '0', '100')).toBe(0);
    expect(await r.call('GET', 'w')).toBe('1');
  });

  it('holds a client behind its own blocking command, as Redis does', async () => {
    const r = await raw();
    r.send('BLPOP', '{hold}l', '1');
    r.send('RPUSH', '{hold}l', 'late');
    // The RPUSH must not run before the BLPOP gives up: BLPOP times out, then RPUSH answers 1.
    expect(await r.value()).toBeNull();
    expect(await r.value()).toBe(1);
  });

  it('streams pub/sub and returns to normal mode after the last unsubscribe', async () => {
    const sub = await raw();
    expect(await sub.call('SUBSCRIBE', 'ch1', 'ch2')).toEqual(['subscribe', 'ch1', 1]);
    expect(await sub.value()).toEqual(['subscribe', 'ch2', 2]);
    expect(await sub.call('PSUBSCRIBE', 'p*')).toEqual(['psubscribe', 'p*', 3]);
    expect(await c.publish('ch1', 'm1')).toBe(1);
    expect(await sub.value()).toEqual(['message', 'ch1', 'm1']);
    await c.publish('pq', 'm2');
    expect(await sub.value()).toEqual(['pmessage', 'p*', 'pq', 'm2']);
    expect(await sub.call('PING')).toEqual(['pong', '']);
    expect(await sub.call('GET', 'x')).toBeInstanceOf(ErrorReply);
    sub.send('UNSUBSCRIBE');
    // Redis walks its channel dict in hash order: which channel comes first varies.
    const replies = [await sub.value(), await sub.value()] as [string, string, number][];
    expect(replies.map((x) => x[0])).toEqual(['unsubscribe', 'unsubscribe']);
    expect(replies.map((x) => x[1]).sort()).toEqual(['ch1', 'ch2']);
    expect(replies.map((x) => x[2])).toEqual([2, 1]);
    sub.send('PUNSUBSCRIBE');
    sub.send('SET', 'after-pubsub', 'yes');
    expect(await sub.value()).toEqual(['punsubscribe', 'p*', 0]);
    expect(await sub.value()).toEqual(new SimpleString('OK'));
    expect(await c.get('after-pubsub')).toBe('yes');
  });

  it('delivers RESP3 pushes to a RESP3 subscriber', async () => {
    const sub = await raw();
    await sub.call('HELLO', '3');
    expect(await sub.call('SUBSCRIBE', 'r3')).toEqual(new Push(['subscribe', 'r3', 1]));
    await c.publish('r3', 'hi');
    expect(await sub.value()).toEqual(new Push(['message', 'r3', 'hi']));
    expect(await sub.call('UNSUBSCRIBE', 'r3')).toEqual(new Push(['unsubscribe', 'r3', 0]));
    await c.set('after-resp3-pubsub', 'yes');
    expect(await sub.call('GET', 'after-resp3-pubsub')).toBe('yes');
  });

  it('routes SSUBSCRIBE and SPUBLISH by the slot of the channel', async () => {
    const sub = bed.client(db);
    const got: string[] = [];
    sub.on('smessage', (_ch: string, m: string) => got.push(m));
    await sub.ssubscribe('{sh}chan');
    expect(await c.spublish('{sh}chan', 'sharded')).toBe(1);
    await expect.poll(() => got).toEqual(['sharded']);
    sub.disconnect();
  });
});
