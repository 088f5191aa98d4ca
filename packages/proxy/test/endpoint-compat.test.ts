import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { keysPerShard, ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

/**
 * Issue 9, endpoint: protocol edge cases and misbehaving clients, compared with a plain
 * redis-server (1-shard and 3-shard databases).
 */
describe('endpoint protocol edge cases, as redis-server', () => {
  let plain: StartedRedisServer;
  let bed: StartedProxyTestBed;
  const targets: [string, number][] = [];

  beforeAll(async () => {
    plain = await new RedisServer().start();
    bed = await new ProxyTestBed().withShards(4).start();
    targets.push(['redis-server', plain.port]);
    targets.push(['1-shard', (await bed.addDb({ shards: [bed.shards[0]!], sharding: false })).port]);
    targets.push(['3-shard', (await bed.addDb({ shards: bed.shards.slice(1) })).port]);
  });
  afterAll(async () => {
    await bed?.stop();
    await plain?.stop();
  });

  /** Write raw bytes on a fresh connection; the raw bytes of the next `count` replies. */
  async function exchange(port: number, bytes: string | Buffer, count: number): Promise<string[]> {
    const r = await RawClient.connect(port);
    try {
      r.write(bytes);
      const out: string[] = [];
      for (let i = 0; i < count; i++) out.push((await r.next(10_000)).raw().toString('latin1'));
      return out;
    } finally {
      r.close();
    }
  }

  async function same(bytes: string | Buffer, count: number): Promise<string[]> {
    const all = await Promise.all(targets.map(([, port]) => exchange(port, bytes, count)));
    for (let i = 1; i < all.length; i++)
      expect({ [targets[i]![0]]: all[i] }).toEqual({ [targets[i]![0]]: all[0] });
    return all[0]!;
  }

  it('ignores *0 and negative multibulk counts (*-1, *-10)', async () => {
    expect(await same('*-10\r\n*0\r\n*-1\r\nPING\r\n*1\r\n$4\r\nPING\r\n', 2)).toEqual([
      '+PONG\r\n',
      '+PONG\r\n',
    ]);
  });

  it('CLIENT REPLY OFF, ON and SKIP drop exactly the replies redis-server drops', async () => {
    const script = [
      'CLIENT REPLY OFF',
      'SET r:a 1',
      'MGET r:a r:b r:c',
      'INCR r:a',
      'CLIENT REPLY ON',
      'GET r:a',
      'CLIENT REPLY SKIP',
      'MGET r:a r:b',
      'PING',
      'CLIENT REPLY SKIP',
      'CLIENT REPLY SKIP',
      'ECHO skipped',
      'ECHO shown',
      'CLIENT REPLY bogus',
      'CLIENT REPLY',
      'DEL r:a',
    ]
      .map((l) => `${l}\r\n`)
      .join('');
    expect(await same(script, 7)).toEqual([
      '+OK\r\n',
      '$1\r\n2\r\n',
      '+PONG\r\n',
      '$5\r\nshown\r\n',
      '-ERR syntax error\r\n',
      "-ERR wrong number of arguments for 'client|reply' command\r\n",
      ':1\r\n',
    ]);
  });

  it("CONFIG GET answers every setting of RS's compatibility table as redis-server does", async () => {
    const names = [
      'activerehashing',
      'busy-reply-threshold',
      'hash-max-listpack-entries',
      'hash-max-listpack-value',
      'hash-max-ziplist-entries',
      'hash-max-ziplist-value',
      'hll-sparse-max-bytes',
      'list-compress-depth',
      'list-max-listpack-size',
      'list-max-ziplist-size',
      'lua-time-limit',
      'notify-keyspace-events',
      'set-max-intset-entries',
      'slowlog-log-slower-than',
      'slowlog-max-len',
      'stream-node-max-bytes',
      'stream-node-max-entries',
      'zset-max-listpack-entries',
      'zset-max-listpack-value',
      'zset-max-ziplist-entries',
      'zset-max-ziplist-value',
    ];
    const replies = await same(names.map((n) => `CONFIG GET ${n}\r\n`).join(''), names.length);
    for (const [i, r] of replies.entries()) expect(r).toContain(names[i]);
    // A glob: the same pairs (Redis lists them in its dict's order).
    const pairs = async (port: number) => {
      const r = await RawClient.connect(port);
      try {
        const v = (await r.call('CONFIG', 'GET', '*max-listpack*')) as string[];
        const out: string[] = [];
        for (let i = 0; i < v.length; i += 2) out.push(`${v[i]}=${v[i + 1]}`);
        return out.sort();
      } finally {
        r.close();
      }
    };
    const want = await pairs(targets[0]![1]);
    expect(want).toHaveLength(5);
    for (const [, port] of targets.slice(1)) expect(await pairs(port)).toEqual(want);
  });

  it('CONFIG SET of a supported setting reaches every shard of the database', async () => {
    const port = targets[2]![1];
    const r = await RawClient.connect(port);
    try {
      expect(await r.raw('CONFIG', 'SET', 'set-max-intset-entries', '2', 'slowlog-max-len', '256')).toBe(
        '+OK\r\n',
      );
      for (let i = 1; i <= 3; i++) {
        expect(await bed.shardClient(i).config('GET', 'set-max-intset-entries')).toEqual([
          'set-max-intset-entries',
          '2',
        ]);
        expect(await bed.shardClient(i).config('GET', 'slowlog-max-len')).toEqual(['slowlog-max-len', '256']);
      }
      // It behaves like redis-server with the same setting.
      const direct = plain.client();
      await direct.config('SET', 'set-max-intset-entries', '2');
      for (const p of [plain.port, port]) {
        const x = await RawClient.connect(p);
        await x.call('DEL', 'cfg:s');
        await x.call('SADD', 'cfg:s', '1', '2', '3');
        expect({
          p: p === port ? 'minirs' : 'redis',
          enc: await x.call('OBJECT', 'ENCODING', 'cfg:s'),
        }).toEqual({
          p: p === port ? 'minirs' : 'redis',
          enc: 'hashtable',
        });
        x.close();
      }
      await direct.config('SET', 'set-max-intset-entries', '512');
      direct.disconnect();
      expect(await r.raw('CONFIG', 'SET', 'set-max-intset-entries', '512', 'slowlog-max-len', '128')).toBe(
        '+OK\r\n',
      );
    } finally {
      r.close();
    }
  });

  it("refuses what RS refuses: other settings, RS's value limits, other CONFIG subcommands, CONFIG in MULTI", async () => {
    for (const [, port] of targets.slice(1)) {
      const r = await RawClient.connect(port);
      try {
        const err = async (...args: string[]) => {
          r.send(...args);
          const f = await r.next();
          expect({ args, error: f.isError }).toEqual({ args, error: true });
          return f.str();
        };
        expect(await err('CONFIG', 'GET', 'requirepass')).toMatch(
          /^ERR unsupported CONFIG parameter 'requirepass'/,
        );
        expect(await err('CONFIG', 'GET', 'maxmemory')).toMatch(/unsupported CONFIG parameter 'maxmemory'/);
        expect(await err('CONFIG', 'SET', 'maxmemory', '1')).toMatch(
          /unsupported CONFIG parameter 'maxmemory'/,
        );
        expect(await err('CONFIG', 'SET', 'slowlog-max-len', '100')).toMatch(
          /slowlog-max-len must be between 128 and 1024/,
        );
        expect(await err('CONFIG', 'SET', 'slowlog-max-len', '2000')).toMatch(/between 128 and 1024/);
        expect(await err('CONFIG', 'SET', 'lua-time-limit', '70000')).toMatch(/between 0 and 60000/);
        expect(await err('CONFIG', 'SET', 'busy-reply-threshold', '-1')).toMatch(/between 0 and 60000/);
        expect(await err('CONFIG', 'SET', 'slowlog-log-slower-than', '10')).toMatch(/at least 1000/);
        expect(await err('CONFIG', 'RESETSTAT')).toMatch(/CONFIG RESETSTAT is not supported/);
        expect(await err('CONFIG', 'GET')).toMatch(/wrong number of arguments for 'config\|get'/);
        expect(await r.raw('CONFIG', 'GET', 'nothing-matches-*')).toBe('*0\r\n');
        expect(await r.raw('MULTI')).toBe('+OK\r\n');
        expect(await err('CONFIG', 'GET', 'requirepass')).toMatch(/not supported inside MULTI/);
        expect(await err('EXEC')).toMatch(/^EXECABORT/);
        expect((await bed.shardClient(1).config('GET', 'maxmemory'))[1]).not.toBe('1');
      } finally {
        r.close();
      }
    }
  });

  it('relays script replies nested deeper than 64 levels, and the link keeps serving', async () => {
    const deep = 'local a = {} local c = a for i=1,300 do local b = {} c[1] = b c = b end return a';
    const recursive = 'local a = {}; local b = {a}; a[1] = b; return a';
    const cmd = (s: string) => `*3\r\n$4\r\nEVAL\r\n$${s.length}\r\n${s}\r\n$1\r\n0\r\n`;
    const [d, rec, pong] = await same(`${cmd(deep)}${cmd(recursive)}PING\r\n`, 3);
    expect(d!.startsWith('*1\r\n'.repeat(300))).toBe(true);
    expect(rec).toMatch(/reached lua stack limit/);
    expect(pong).toBe('+PONG\r\n');
  });

  it('takes a 70 kB inline command written in one go, as redis-server does', async () => {
    const value = 'v'.repeat(70_000);
    const [set, get] = await same(`SET big:inline ${value}\r\n*2\r\n$3\r\nGET\r\n$10\r\nbig:inline\r\n`, 2);
    expect(set).toBe('+OK\r\n');
    expect(get).toBe(`$70000\r\n${value}\r\n`);
  });

  it('keeps serving other clients of the same shard while 200 clients each stall on half a frame', async () => {
    for (const [name, port] of targets.slice(1)) {
      const stalled: RawClient[] = [];
      const [[key]] = keysPerShard(3, 1, 'stall') as [[string]];
      try {
        const half = `${'z'.repeat(50_000)}`;
        for (let i = 0; i < 200; i++) {
          const s = await RawClient.connect(port);
          s.write(`*3\r\n$3\r\nSET\r\n$${`{${key}}:${i}`.length}\r\n{${key}}:${i}\r\n$100000\r\n${half}`);
          stalled.push(s);
        }
        const other = await RawClient.connect(port);
        try {
          for (let i = 1; i <= 100; i++)
            expect({ name, reply: await other.raw('INCR', key) }).toEqual({ name, reply: `:${i}\r\n` });
        } finally {
          other.close();
        }
        for (const s of stalled) s.write(`${half}\r\n`);
        for (const s of stalled) expect((await s.next(10_000)).raw().toString()).toBe('+OK\r\n');
      } finally {
        for (const s of stalled) s.close();
      }
    }
  });
});
