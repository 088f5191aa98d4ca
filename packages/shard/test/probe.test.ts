import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeRedis } from '../src/index.js';

// A programmable fake server, for protocol edge cases only: how replies are cut into packets,
// and replies no redis-server would send. Real behaviour is tested against real redis-servers.
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function fake(onData: (sock: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const s = createServer((sock) => {
    sockets.add(sock);
    sock.once('data', () => onData(sock));
    sock.on('close', () => sockets.delete(sock));
  });
  const close = s.close.bind(s);
  s.close = (cb) => {
    for (const x of sockets) x.destroy();
    return close(cb);
  };
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

const INFO = '# Server\r\nredis_version:7.0.15\r\nprocess_id:31337\r\n';
const GOOD = Buffer.from(`+OK\r\n+PONG\r\n$${Buffer.byteLength(INFO)}\r\n${INFO}\r\n`);

function writeInPieces(sock: Socket, bytes: Buffer, size: number): void {
  let i = 0;
  const step = () => {
    if (i >= bytes.length) return;
    sock.write(bytes.subarray(i, i + size));
    i += size;
    setImmediate(step);
  };
  step();
}

describe('probeRedis', () => {
  it.each([1, 2, 3, 5, 7, 13, 64])('reads replies cut into %i-byte pieces', async (size) => {
    const port = await fake((sock) => writeInPieces(sock, GOOD, size));
    expect(await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 2000)).toEqual({
      ok: true,
      pid: 31337,
    });
  });

  it('reports an AUTH error', async () => {
    const port = await fake((sock) =>
      sock.write(
        '-WRONGPASS invalid username-password pair\r\n-NOAUTH Authentication required.\r\n-NOAUTH x\r\n',
      ),
    );
    expect(await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 2000)).toEqual({
      ok: false,
      error: 'WRONGPASS invalid username-password pair',
    });
  });

  it('reports a server still loading', async () => {
    const port = await fake((sock) => sock.write('+OK\r\n-LOADING Redis is loading\r\n-LOADING x\r\n'));
    const r = await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 2000);
    expect(r).toEqual({ ok: false, error: 'PING answered LOADING Redis is loading' });
  });

  it('rejects a reply no redis-server sends', async () => {
    const port = await fake((sock) => sock.write('+OK\r\n+PONG\r\n*1\r\n$1\r\nx\r\n'));
    const r = await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 2000);
    expect(r.ok).toBe(false);
  });

  it('reports a server that never answers', async () => {
    const port = await fake(() => {});
    expect(await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 200)).toEqual({
      ok: false,
      error: 'no answer within 200 ms',
    });
  });

  it('reports a refused connection', async () => {
    const port = await fake(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    const r = await probeRedis({ host: '127.0.0.1', port, password: 'pw' }, 2000);
    expect(r).toMatchObject({ ok: false, error: expect.stringContaining('ECONNREFUSED') });
  });
});
