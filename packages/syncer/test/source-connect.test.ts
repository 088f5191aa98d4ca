import { createServer, type Server } from 'node:net';
import { parseSourceUri } from '@minirs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkFaultState } from '../src/link-faults.js';
import { ReplicationError } from '../src/replication/index.js';
import { openSourceStream } from '../src/source-connect.js';

/**
 * The proxy steps of a minirs source link (AUTH admin, MINIRS.LINK) against a scripted peer: a
 * protocol edge case (the proxy's own replies are tested in packages/proxy against redis-server).
 */

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function proxyAnswering(replies: string): Promise<number> {
  server = createServer((sock) => {
    sock.once('data', () => sock.write(replies));
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

async function openAgainst(replies: string): Promise<unknown> {
  const port = await proxyAnswering(replies);
  return openSourceStream({
    uri: parseSourceUri(`redis://admin:pw@127.0.0.1:${port}`),
    faults: new LinkFaultState(1),
    counters: { ingressBytes: 0, ingressBytesDecompressed: 0 },
    shardUid: 2,
    timeoutMs: 5000,
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('openSourceStream through a source proxy', () => {
  it('retries when the proxy cannot reach the source shard (its redis-server restarting)', async () => {
    const err = await openAgainst(
      '+OK\r\n-ERR MINIRS.LINK to shard 2 failed: connect ECONNREFUSED 127.0.2.2:45861\r\n',
    );
    expect(err).toBeInstanceOf(ReplicationError);
    expect((err as ReplicationError).code).toBe('MINIRS_ERR_CONNECTION');
    expect((err as ReplicationError).retryable).toBe(true);
    expect((err as ReplicationError).message).toMatch(/could not reach the source shard.*retries/);
  });

  it('still stops on a refused AUTH and on a shard the database does not have', async () => {
    const auth = (await openAgainst(
      '-WRONGPASS invalid username-password pair\r\n-NOAUTH\r\n',
    )) as ReplicationError;
    expect(auth.code).toBe('MINIRS_ERR_AUTH');
    expect(auth.retryable).toBe(false);
    const noShard = (await openAgainst(
      '+OK\r\n-ERR no shard 2 in this database; MINIRS.SHARDS lists them\r\n',
    )) as ReplicationError;
    expect(noShard.retryable).toBe(false);
  });
});

describe('link faults (FaultyDuplex)', () => {
  it('a healed bandwidth fault releases at once what it queued (checker seed 1)', async () => {
    const { PassThrough } = await import('node:stream');
    const { FaultyDuplex } = await import('../src/link-faults.js');
    const faults = new LinkFaultState(1);
    faults.update([{ id: 'b', kind: 'bandwidth', kbps: 8 }]); // 1 KB/s
    const inner = new PassThrough();
    const d = new FaultyDuplex(inner, faults);
    let got = 0;
    d.on('data', (c: Buffer) => {
      got += c.length;
    });
    for (let i = 0; i < 20; i++) inner.write(Buffer.alloc(5000, i));
    await new Promise((r) => setImmediate(r));
    expect(got).toBeLessThan(100_000); // held: 100 s worth at 1 KB/s
    faults.update([]);
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(100_000);
    d.destroy();
  });

  it('a connection closed without an end still delivers what was queued, then ends', async () => {
    const { PassThrough } = await import('node:stream');
    const { FaultyDuplex } = await import('../src/link-faults.js');
    const faults = new LinkFaultState(1);
    faults.update([{ id: 'l', kind: 'latency', ms: 50 }]);
    const inner = new PassThrough();
    const d = new FaultyDuplex(inner, faults);
    const chunks: Buffer[] = [];
    d.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => d.once('end', r));
    inner.write(Buffer.from('abc'));
    await new Promise((r) => setImmediate(r));
    inner.destroy();
    await ended;
    expect(Buffer.concat(chunks).toString()).toBe('abc');
  });
});
