import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeLocalAddress } from '../src/liveness.js';

describe('nodeLocalAddress', () => {
  const saved = process.env.MINIRS_NODE_ADDR;
  afterEach(() => {
    if (saved === undefined) delete process.env.MINIRS_NODE_ADDR;
    else process.env.MINIRS_NODE_ADDR = saved;
  });

  it("binds to the node's address only toward loopback peers", () => {
    process.env.MINIRS_NODE_ADDR = '127.0.9.1';
    expect(nodeLocalAddress('127.0.0.1')).toBe('127.0.9.1');
    expect(nodeLocalAddress('127.0.4.2')).toBe('127.0.9.1');
    expect(nodeLocalAddress('localhost')).toBe('127.0.9.1');
    // A peer on a container network or another host: a loopback source cannot reach it.
    expect(nodeLocalAddress('east')).toBeUndefined();
    expect(nodeLocalAddress('172.21.0.3')).toBeUndefined();
    expect(nodeLocalAddress('10.1.2.3')).toBeUndefined();
    delete process.env.MINIRS_NODE_ADDR;
    expect(nodeLocalAddress('127.0.0.1')).toBeUndefined();
  });

  it('netns mode on the host: also toward the node network (MINIRS_NODE_NET), nowhere else', () => {
    const savedNet = process.env.MINIRS_NODE_NET;
    try {
      process.env.MINIRS_NODE_ADDR = '198.19.7.1';
      process.env.MINIRS_NODE_NET = '198.18.0.0/15';
      expect(nodeLocalAddress('198.18.7.2')).toBe('198.19.7.1');
      expect(nodeLocalAddress('198.18.200.1')).toBe('198.19.7.1');
      expect(nodeLocalAddress('127.0.0.1')).toBe('198.19.7.1');
      expect(nodeLocalAddress('198.20.0.1')).toBeUndefined();
      expect(nodeLocalAddress('10.1.2.3')).toBeUndefined();
      expect(nodeLocalAddress('east')).toBeUndefined();
      process.env.MINIRS_NODE_NET = 'nonsense';
      expect(nodeLocalAddress('198.18.7.2')).toBeUndefined();
    } finally {
      if (savedNet === undefined) delete process.env.MINIRS_NODE_NET;
      else process.env.MINIRS_NODE_NET = savedNet;
    }
  });

  it('a connection to a loopback peer really leaves from the node address', async () => {
    process.env.MINIRS_NODE_ADDR = '127.0.9.1';
    let server: Server | undefined;
    try {
      const seen = new Promise<string | undefined>((resolve) => {
        server = createServer((s) => {
          resolve(s.remoteAddress);
          s.destroy();
        });
      });
      const port = await new Promise<number>((resolve) =>
        server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)),
      );
      const c = connect({ host: '127.0.0.1', port, localAddress: nodeLocalAddress('127.0.0.1') });
      c.on('error', () => {});
      expect(await seen).toBe('127.0.9.1');
      c.destroy();
    } finally {
      server?.close();
    }
  });
});
