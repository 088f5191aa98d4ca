import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { askRedis } from '../src/index.js';

let redis: StartedRedisServer;
let silent: Server;
let silentPort = 0;
const conns = new Set<import('node:net').Socket>();
beforeAll(async () => {
  redis = await new RedisServer().withPassword('pw').start();
  // Accepts connections and never answers.
  silent = createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  silentPort = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  await redis?.stop();
  for (const c of conns) c.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
});

describe('askRedis (against redis-server)', () => {
  it('sends AUTH then the commands on one connection and gives every reply in order', async () => {
    const r = await askRedis(
      { host: redis.host, port: redis.port, password: 'pw' },
      [['PING'], ['INFO', 'server']],
      5000,
    );
    if (!('replies' in r)) throw new Error(r.error);
    expect(r.replies.map((f) => f.isError)).toEqual([false, false, false]);
    expect(r.replies[1]!.str()).toBe('PONG');
    expect(r.replies[2]!.str()).toMatch(/process_id:\d+/);
  });

  it('gives a wrong password as an error reply, and an unreachable or silent server as an error text', async () => {
    const bad = await askRedis({ host: redis.host, port: redis.port, password: 'nope' }, [['PING']], 5000);
    if (!('replies' in bad)) throw new Error(bad.error);
    expect(bad.replies[0]!.isError).toBe(true);
    expect(bad.replies[0]!.str()).toMatch(/WRONGPASS|invalid/i);
    const closed = await askRedis({ host: '127.0.0.1', port: 1 }, [['PING']], 5000);
    expect(closed).toMatchObject({ error: expect.stringMatching(/ECONNREFUSED/) });
    const mute = await askRedis({ host: '127.0.0.1', port: silentPort }, [['PING']], 300);
    expect(mute).toEqual({ error: 'no answer within 300 ms' });
  });
});
