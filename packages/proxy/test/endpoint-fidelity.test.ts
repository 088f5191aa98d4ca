import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { keysPerShard, ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

/**
 * Issue 9, endpoint fidelity measured with Redis's own suite (scripts/redis-suite): each case
 * here is one of its findings, checked against a plain redis-server. The proxy's shard timeout
 * is 300 ms, so a script that runs longer than that must not be cut off or misreported.
 */
const SHARD_TIMEOUT_MS = 300;

describe('endpoint fidelity: scripts, PING and protocol errors as redis-server', () => {
  let plain: StartedRedisServer;
  let bed: StartedProxyTestBed;
  /** [name, port, a key of the last shard]. */
  const targets: [string, number, string][] = [];

  beforeAll(async () => {
    plain = await new RedisServer().start();
    bed = await new ProxyTestBed().withShards(4).withShardTimeout(SHARD_TIMEOUT_MS).start();
    const lastShardKey = keysPerShard(3, 1, 'busy')[2]![0]!;
    targets.push(['redis-server', plain.port, lastShardKey]);
    targets.push([
      '1-shard',
      (await bed.addDb({ shards: [bed.shards[0]!], sharding: false })).port,
      lastShardKey,
    ]);
    targets.push(['3-shard', (await bed.addDb({ shards: bed.shards.slice(1) })).port, lastShardKey]);
  });
  afterAll(async () => {
    await bed?.stop();
    await plain?.stop();
  });

  async function withClients<T>(port: number, n: number, fn: (...c: RawClient[]) => Promise<T>): Promise<T> {
    const clients = await Promise.all(Array.from({ length: n }, () => RawClient.connect(port)));
    try {
      return await fn(...clients);
    } finally {
      for (const c of clients) c.close();
    }
  }

  /** GET `key` from `c` until its shard answers BUSY (the script passed its busy-reply-threshold). */
  async function untilBusy(c: RawClient, key: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const r = await c.raw('GET', key);
      if (r.startsWith('-BUSY')) return r;
      await sleep(20);
    }
    throw new Error('the script never made the server BUSY');
  }

  it('a busy script: other clients get BUSY, SCRIPT KILL stops it, its client gets the kill error', async () => {
    const seen: Record<string, string[]> = {};
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 2, async (a, b) => {
        expect(await b.raw('CONFIG', 'SET', 'busy-reply-threshold', '50')).toBe('+OK\r\n');
        a.send('EVAL', 'while true do end', '1', key);
        const busy = await untilBusy(b, key);
        // Longer than the proxy's shard timeout: the script's link must not be failed.
        await sleep(3 * SHARD_TIMEOUT_MS);
        const busyAgain = await b.raw('GET', key);
        const kill = await b.raw('SCRIPT', 'KILL');
        const killed = (await a.next(10_000)).str();
        const after = await b.raw('PING');
        const notBusy = await b.raw('SCRIPT', 'KILL');
        expect(await b.raw('CONFIG', 'SET', 'busy-reply-threshold', '5000')).toBe('+OK\r\n');
        return [
          busy.split(' ')[0]!,
          busyAgain.split(' ')[0]!,
          kill,
          killed.replace(/script: .*/, ''),
          after,
          notBusy,
        ];
      });
    }
    expect(seen['redis-server']![0]).toBe('-BUSY');
    expect(seen['redis-server']![3]).toMatch(/killed by user/);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('a busy function: FUNCTION KILL reaches the shard running it (any shard of the database)', async () => {
    const lib = "#!lua name=busylib\nredis.register_function('busy', function() while true do end end)";
    const seen: Record<string, string[]> = {};
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 2, async (a, b) => {
        expect(await b.raw('FUNCTION', 'LOAD', 'REPLACE', lib)).toBe('$7\r\nbusylib\r\n');
        expect(await b.raw('CONFIG', 'SET', 'busy-reply-threshold', '50')).toBe('+OK\r\n');
        a.send('FCALL', 'busy', '1', key);
        const busy = await untilBusy(b, key);
        const scriptKill = await b.raw('SCRIPT', 'KILL');
        const kill = await b.raw('FUNCTION', 'KILL');
        const killed = (await a.next(10_000)).str();
        const after = await b.raw('PING');
        expect(await b.raw('CONFIG', 'SET', 'busy-reply-threshold', '5000')).toBe('+OK\r\n');
        expect(await b.raw('FUNCTION', 'DELETE', 'busylib')).toBe('+OK\r\n');
        return [
          busy.split(' ')[0]!,
          scriptKill.split(' ')[0]!,
          kill,
          killed.replace(/script: .*/, ''),
          after,
        ];
      });
    }
    expect(seen['redis-server']![1]).toBe('-BUSY'); // SCRIPT KILL does not kill a function
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('a script slower than the shard timeout but under the busy threshold: everyone gets their replies', async () => {
    // Runs about 1 s (by the server's clock), more than 3 shard timeouts; BUSY starts at 5 s.
    const slow =
      "local t = redis.call('TIME') local t0 = t[1] * 1000000 + t[2] " +
      "while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - t0 > 1000000 then break end end " +
      "return redis.call('INCR', KEYS[1])";
    const seen: Record<string, string[]> = {};
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 3, async (a, b, c) => {
        await b.raw('DEL', key);
        a.send('EVAL', slow, '1', key);
        await sleep(100);
        // Same shard as the script, and (3-shard) a command fanned out over every shard.
        b.send('GET', key);
        c.send('DBSIZE');
        const replies = [(await a.next(10_000)).raw(), (await b.next(10_000)).raw()].map((x) => x.toString());
        const dbsize = (await c.next(10_000)).isError;
        return [...replies, String(dbsize)];
      });
    }
    expect(seen['redis-server']).toEqual([':1\r\n', '$1\r\n1\r\n', 'false']);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('a slow script after WATCH runs on the transaction link without a timeout, in order', async () => {
    const slow =
      "local t = redis.call('TIME') local t0 = t[1] * 1000000 + t[2] " +
      "while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] - t0 > 1000000 then break end end " +
      "return redis.call('INCR', KEYS[1])";
    const seen: Record<string, string[]> = {};
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 1, async (a) => {
        await a.raw('DEL', key);
        a.write(
          [['WATCH', key], ['EVAL', slow, '1', key], ['MULTI'], ['INCR', key], ['EXEC'], ['GET', key]]
            .map(
              (args) =>
                `*${args.length}\r\n${args.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`,
            )
            .join(''),
        );
        const out: string[] = [];
        for (let i = 0; i < 6; i++) out.push((await a.next(10_000)).raw().toString());
        return out;
      });
    }
    // The script changed the watched key: EXEC aborts (null), as redis-server does.
    expect(seen['redis-server']).toEqual([
      '+OK\r\n',
      ':1\r\n',
      '+OK\r\n',
      '+QUEUED\r\n',
      '*-1\r\n',
      '$1\r\n1\r\n',
    ]);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('CLIENT UNBLOCK unblocks a blocked client (TIMEOUT and ERROR), as redis-server does', async () => {
    const seen: Record<string, string[]> = {};
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 2, async (a, b) => {
        await b.raw('DEL', key);
        const id = String(await a.call('CLIENT', 'ID'));
        const out: string[] = [await b.raw('CLIENT', 'UNBLOCK', id)];
        for (const mode of ['TIMEOUT', 'ERROR']) {
          a.send('BLPOP', key, '0');
          // Awaited: :0 until the BLPOP has reached the server and blocks.
          let r = ':0\r\n';
          for (let i = 0; i < 200 && r === ':0\r\n'; i++) r = await b.raw('CLIENT', 'UNBLOCK', id, mode);
          out.push(r, (await a.next()).raw().toString());
        }
        out.push(await b.raw('CLIENT', 'UNBLOCK', id, 'bogus'), await b.raw('CLIENT', 'UNBLOCK', 'x'));
        return out;
      });
    }
    expect(seen['redis-server']).toEqual([
      ':0\r\n',
      ':1\r\n',
      '*-1\r\n',
      ':1\r\n',
      '-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n',
      '-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n',
      '-ERR value is not an integer or out of range\r\n',
    ]);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('pub/sub pushes pass CLIENT REPLY OFF (RESP3), and unsubscribing still leaves pub/sub mode', async () => {
    const seen: Record<string, string[]> = {};
    for (const [name, port] of targets) {
      seen[name] = await withClients(port, 2, async (a, b) => {
        await a.call('HELLO', '3');
        const out: string[] = [];
        a.send('CLIENT', 'REPLY', 'OFF');
        a.send('SUBSCRIBE', 'rchan');
        out.push((await a.next()).raw().toString());
        a.send('CLIENT', 'REPLY', 'OFF');
        out.push(await b.raw('PUBLISH', 'rchan', 'hello'));
        out.push((await a.next()).raw().toString());
        a.send('CLIENT', 'REPLY', 'OFF');
        a.send('UNSUBSCRIBE', 'rchan');
        out.push((await a.next()).raw().toString());
        a.send('CLIENT', 'REPLY', 'ON');
        out.push((await a.next()).raw().toString());
        out.push(await a.raw('ECHO', 'back'));
        return out;
      });
    }
    expect(seen['redis-server']).toEqual([
      '>3\r\n$9\r\nsubscribe\r\n$5\r\nrchan\r\n:1\r\n',
      ':1\r\n',
      '>3\r\n$7\r\nmessage\r\n$5\r\nrchan\r\n$5\r\nhello\r\n',
      '>3\r\n$11\r\nunsubscribe\r\n$5\r\nrchan\r\n:0\r\n',
      '+OK\r\n',
      '$4\r\nback\r\n',
    ]);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('INFO clients counts a client blocked on any shard (blocked_clients), as redis-server does', async () => {
    const seen: Record<string, string[]> = {};
    const blocked = async (c: RawClient) =>
      /^blocked_clients:(\d+)\r$/m.exec((await c.next()).str())?.[1] ?? '?';
    for (const [name, port, key] of targets) {
      seen[name] = await withClients(port, 2, async (a, b) => {
        await b.raw('DEL', key);
        b.send('INFO', 'clients');
        const before = await blocked(b);
        a.send('BLPOP', key, '0');
        // Awaited: the BLPOP reaches the server some time after it was sent.
        let during = before;
        for (let i = 0; i < 200 && during === before; i++) {
          b.send('INFO', 'clients');
          during = await blocked(b);
        }
        await b.raw('LPUSH', key, 'x');
        await a.next();
        b.send('INFO');
        return [before, during, await blocked(b)];
      });
    }
    expect(seen['redis-server']).toEqual(['0', '1', '0']);
    expect(seen['1-shard']).toEqual(seen['redis-server']);
    expect(seen['3-shard']).toEqual(seen['redis-server']);
  });

  it('PING is answered by the shard: in MULTI, with an argument, with too many arguments', async () => {
    const script = 'PING\r\nPING hello\r\nPING a b\r\nMULTI\r\nPING\r\nPING x\r\nEXEC\r\n';
    const all = await Promise.all(
      targets.map(([, port]) =>
        withClients(port, 1, async (r) => {
          r.write(script);
          const out: string[] = [];
          for (let i = 0; i < 7; i++) out.push((await r.next()).raw().toString());
          return out;
        }),
      ),
    );
    expect(all[0]).toEqual([
      '+PONG\r\n',
      '$5\r\nhello\r\n',
      "-ERR wrong number of arguments for 'ping' command\r\n",
      '+OK\r\n',
      '+QUEUED\r\n',
      '+QUEUED\r\n',
      '*2\r\n+PONG\r\n$1\r\nx\r\n',
    ]);
    expect(all[1]).toEqual(all[0]);
    expect(all[2]).toEqual(all[0]);
  });

  // The inputs of Redis's tests/unit/protocol.tcl, plus the 64 KiB limits of its desync tests.
  const malformed: [string, string | Buffer][] = [
    ['out of range multibulk length', '*3000000000\r\n'],
    ['wrong multibulk payload header', '*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n'],
    ['negative multibulk payload length', '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n'],
    ['out of range multibulk payload length', '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n'],
    ['non-number multibulk payload length', '*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n'],
    ['multibulk request not followed by bulk arguments', '*1\r\nfoo\r\n'],
    ['non-number multibulk length', '*x\r\n'],
    ['unbalanced quotes', 'set """test-key""" test-value\r\nping\r\n'],
    ['unterminated quote', 'set "abc\r\n'],
    [
      'inline request over 64 KiB without a newline',
      Buffer.concat([Buffer.from([0]), Buffer.alloc(70_000, 'p')]),
    ],
    [
      'multibulk count over 64 KiB without CRLF',
      Buffer.concat([Buffer.from('*\x00'), Buffer.alloc(70_000, 'p')]),
    ],
  ];

  it.each(malformed)("%s: redis-server's protocol error, then the connection is closed", async (_, bytes) => {
    const got: string[] = [];
    for (const [, port] of targets) {
      const r = await RawClient.connect(port);
      try {
        r.write('PING\r\n');
        r.write(bytes);
        const pong = (await r.next()).raw().toString();
        const err = (await r.next()).raw().toString();
        await r.waitClosed();
        got.push(`${pong}${err}`);
      } finally {
        r.close();
      }
    }
    expect(got[0]).toMatch(/^\+PONG\r\n-ERR Protocol error: /);
    expect(got[1]).toBe(got[0]);
    expect(got[2]).toBe(got[0]);
  });

  it('CONFIG REWRITE answers OK (RS supports it; CONFIG SET values are kept by the cluster)', async () => {
    for (const [, port] of targets.slice(1)) {
      await withClients(port, 1, async (r) => {
        expect(await r.raw('CONFIG', 'REWRITE')).toBe('+OK\r\n');
        expect(await r.raw('CONFIG', 'RESETSTAT')).toMatch(/^-ERR CONFIG RESETSTAT is not supported/);
      });
    }
  });
});
