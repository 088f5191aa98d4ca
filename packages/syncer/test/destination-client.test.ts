import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DestinationClient } from '../src/destination.js';

/**
 * A destination connection that fails must not leave awaited replies pending: checker seed 8
 * (issue 15) had the destination proxy killed while a link awaited its first checkpoint's EXEC,
 * and the link's stop, so the whole full resync, waited forever.
 */

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
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
});
