import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { createLogger } from '@minirs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { ShardLink } from '../src/shard-link.js';
import { INTERNAL_PASSWORD } from './harness.js';

/**
 * A new database's proxies get its routes while the shards still start: their links fail and
 * back off (up to 1 s between tries). When the manager then says a shard is active, the link
 * must try again at once (retryNow), not at the end of its backoff.
 */
describe('ShardLink.retryNow', () => {
  let shard: StartedRedisServer | undefined;
  let link: ShardLink | undefined;
  const servers: Server[] = [];
  afterEach(async () => {
    link?.close();
    for (const s of servers.splice(0)) s.close();
    await shard?.stop();
    shard = undefined;
    link = undefined;
  });

  it('a link backing off from a shard that was not up connects at once, then serves commands', async () => {
    shard = await new RedisServer().withPassword(INTERNAL_PASSWORD).start();
    const redisPort = shard.port;
    // In front of the shard: first it drops every connection (a shard still starting), then it
    // passes them through.
    let passThrough = false;
    const front = createServer((c) => {
      if (!passThrough) {
        c.destroy();
        return;
      }
      const up = connect(redisPort, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    servers.push(front);
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    const port = (front.address() as AddressInfo).port;
    let readyResolve: () => void = () => {};
    const ready = new Promise<void>((r) => {
      readyResolve = r;
    });
    const seen: string[] = [];
    link = new ShardLink({
      host: '127.0.0.1',
      port,
      password: INTERNAL_PASSWORD,
      protocol: 2,
      label: 'shard 1',
      log: createLogger({ name: 'test', level: 'silent' }),
      reconnect: true,
      timeoutMs: () => 5000,
      onReady: () => readyResolve(),
      onDown: (l) => {
        if (passThrough) return;
        // The link is down with its retry timer set: the shard is up from now on.
        seen.push(l.state);
        passThrough = true;
        l.retryNow();
        // The retry starts now, not when the backoff timer fires.
        seen.push(l.state);
      },
    });
    await ready;
    expect(seen).toEqual(['down', 'connecting']);
    const reply = await new Promise<string>((resolve, reject) =>
      link!.sendCommand(['PING'], {
        sentAt: 0,
        onReply: (f) => resolve(f.str()),
        onError: reject,
      }),
    );
    expect(reply).toBe('PONG');
  });

  it('does nothing to a link that is ready or connecting', async () => {
    shard = await new RedisServer().withPassword(INTERNAL_PASSWORD).start();
    link = new ShardLink({
      host: '127.0.0.1',
      port: shard.port,
      password: INTERNAL_PASSWORD,
      protocol: 2,
      label: 'shard 1',
      log: createLogger({ name: 'test', level: 'silent' }),
      reconnect: true,
      timeoutMs: () => 5000,
    });
    expect(link.state).toBe('connecting');
    link.retryNow();
    expect(link.state).toBe('connecting');
    await new Promise<void>((resolve) => {
      link!.sendCommand(['PING'], { sentAt: 0, onReply: () => resolve(), onError: () => resolve() });
    });
    expect(link.state).toBe('ready');
    link.retryNow();
    expect(link.state).toBe('ready');
  });
});
