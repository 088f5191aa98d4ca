import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { DestinationClient, firstError } from '../src/destination.js';

/**
 * A destination connection that fails must not leave awaited replies pending: checker seed 8
 * (issue 15) had the destination proxy killed while a link awaited its first checkpoint's EXEC,
 * and the link's stop, so the whole full resync, waited forever.
 */

let server: Server | undefined;
const sockets: Socket[] = [];

let redis: StartedRedisServer | undefined;

afterEach(async () => {
  await redis?.stop();
  redis = undefined;
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A peer that accepts, reads a request and closes without answering. */
async function silentCloser(): Promise<number> {
  server = createServer((s) => {
    sockets.push(s);
    s.once('data', () => s.destroy());
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return (server!.address() as { port: number }).port;
}

describe('DestinationClient', () => {
  it('rejects call() and awaitReply() when the connection fails before the reply', async () => {
    const port = await silentCloser();
    const d = new DestinationClient({ host: '127.0.0.1', port });
    await d.connect();
    const multi = d.awaitReply((cb) => {
      d.write(['MULTI']);
      d.write(['SELECT', '9']);
      d.write(['EXEC'], cb);
    });
    const call = d.call(['PING']);
    await expect(multi).rejects.toThrow(/closed the connection|ECONNRESET|EPIPE/);
    await expect(call).rejects.toThrow(/closed the connection|ECONNRESET|EPIPE/);
    // Once failed, a new call is refused at once.
    await expect(d.call(['PING'])).rejects.toThrow();
    d.close();
  });

  it("finds the error element of a real EXEC reply, and none where a value only holds '\\r\\n-'", async () => {
    redis = await new RedisServer().start();
    const d = new DestinationClient({ host: redis.host, port: redis.port });
    await d.connect();
    const exec = (cmds: string[][]) =>
      d.awaitReply((cb) => {
        d.write(['MULTI']);
        for (const c of cmds) d.write(c);
        d.write(['EXEC'], cb);
      });
    // A value whose bytes look like an error element after a CRLF, read back inside EXEC.
    const tricky = 'a\r\n-ERR not an error\r\n!5\r\n';
    const clean = await exec([
      ['SET', 'k', tricky],
      ['GET', 'k'],
      ['INCR', 'n'],
    ]);
    expect(clean.kind).toBe('ok');
    expect(clean.error).toBeUndefined();
    expect(clean.frame.elements[1]!.str()).toBe(tricky);
    // A runtime error inside the transaction (INCR of a non-integer) is found among the elements.
    const failed = await exec([
      ['SET', 's', 'x'],
      ['INCR', 's'],
      ['GET', 'k'],
    ]);
    expect(failed.kind).toBe('error');
    expect(failed.error).toMatch(/^ERR value is not an integer/);
    expect(firstError(failed.frame.elements[0]!)).toBeUndefined();
    // Nested one level down (an EXEC's element that is an array) stays found too.
    const nested = await exec([
      ['RPUSH', 'l', 'a'],
      ['LRANGE', 'l', '0', '-1'],
      ['LPUSH', 's', 'y'],
    ]);
    expect(nested.error).toMatch(/^WRONGTYPE/);
    d.close();
  });

  it('writeTransaction: one entry for MULTI, the queued commands and EXEC; queue-time errors by index', async () => {
    redis = await new RedisServer().start();
    const d = new DestinationClient({ host: redis.host, port: redis.port });
    await d.connect();
    const raw = (...a: string[]) =>
      Buffer.from(`*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`);
    const tx = (parts: Buffer[]) => {
      const queued: [number, string][] = [];
      const reply = d.awaitReply((cb) => d.writeTransaction(parts, (i, e) => queued.push([i, e]), cb));
      return { queued, reply };
    };
    const ok = tx([raw('SET', 'a', '1'), raw('INCR', 'a'), raw('GET', 'a')]);
    // Every reply of the transaction counts against the window until it arrives.
    expect(d.inFlight).toBe(5);
    const r = await ok.reply;
    expect(r.kind).toBe('ok');
    expect(r.frame.elements.map((e) => e.str())).toEqual(['OK', '2', '2']);
    expect(ok.queued).toEqual([]);
    expect(d.inFlight).toBe(0);
    // A command refused when queued (wrong arity) names its index; EXEC is discarded.
    const bad = tx([raw('INCR', 'a'), raw('SET', 'only-a-key'), raw('INCR', 'a')]);
    const b = await bad.reply;
    expect(b.kind).toBe('error');
    expect(b.error).toMatch(/^EXECABORT/);
    expect(bad.queued).toEqual([[1, expect.stringMatching(/wrong number of arguments/)]]);
    // Nothing of the discarded transaction applied; the connection goes on in order.
    expect((await d.call(['GET', 'a'])).frame.str()).toBe('2');
    d.close();
  });
});
