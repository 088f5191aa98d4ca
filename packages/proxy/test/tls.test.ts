import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createCa, createLeaf, type KeyPairPem } from '@minirs/common';
import { encodeCommand, ErrorReply, RespDecoder, type RespValue, toValue } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

/** Send commands over TLS and collect the replies (or the connection error). */
async function overTls(
  port: number,
  ca: string,
  commands: string[][],
  client?: KeyPairPem,
): Promise<RespValue[] | Error> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      cert: client?.cert,
      key: client?.key,
      servername: 'localhost',
    });
    const d = new RespDecoder();
    const out: RespValue[] = [];
    s.on('secureConnect', () => s.write(Buffer.concat(commands.map((c) => encodeCommand(c)))));
    s.on('data', (chunk: Buffer) =>
      d.write(chunk, (f) => {
        out.push(toValue(f, { strings: true }));
        if (out.length === commands.length) {
          s.destroy();
          resolve(out);
        }
      }),
    );
    s.on('error', (err) => resolve(err));
    s.on('close', () =>
      resolve(out.length === commands.length ? out : new Error(`closed after ${out.length} replies`)),
    );
  });
}

describe('TLS endpoints', () => {
  let bed: StartedProxyTestBed;
  let ca: KeyPairPem;
  let clientCert: KeyPairPem;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'minirs-proxy-tls-'));
    ca = await createCa('minirs test CA');
    const proxyCert = await createLeaf(ca, { commonName: 'proxy', ips: ['127.0.0.1'], dns: ['localhost'] });
    clientCert = await createLeaf(ca, { commonName: 'syncer', client: true, server: false });
    writeFileSync(join(dir, 'proxy.pem'), proxyCert.cert);
    writeFileSync(join(dir, 'proxy.key'), proxyCert.key);
    bed = await new ProxyTestBed()
      .withShards(2)
      .withProcessConfig({ tls_cert: join(dir, 'proxy.pem'), tls_key: join(dir, 'proxy.key') })
      .start();
  });
  afterAll(async () => {
    await bed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves TLS clients and refuses plaintext when TLS is enabled', async () => {
    const db = await bed.addDb({ tls_mode: 'enabled' });
    expect(
      await overTls(db.port, ca.cert, [
        ['SET', 'k', 'v'],
        ['GET', 'k'],
      ]),
    ).toEqual([expect.anything(), 'v']);
    const plain = await RawClient.connect(db.port);
    plain.write('PING\r\n');
    expect(((await plain.value()) as ErrorReply).message).toBe('ERR this database requires TLS');
    await plain.waitClosed();
  });

  it('requires a client certificate the database trusts when it enforces client authentication', async () => {
    const db = await bed.addDb({
      tls_mode: 'enabled',
      enforce_client_authentication: 'enabled',
      client_certs: [clientCert.cert],
    });
    expect(await overTls(db.port, ca.cert, [['PING']], clientCert)).toEqual([expect.anything()]);
    expect(await overTls(db.port, ca.cert, [['PING']])).toBeInstanceOf(Error);
    const stranger = await createLeaf(await createCa('other CA'), { commonName: 'x', client: true });
    expect(await overTls(db.port, ca.cert, [['PING']], stranger)).toBeInstanceOf(Error);
  });

  it('replica_ssl: plaintext clients, but replication (AUTH admin) over TLS only', async () => {
    const db = await bed.addDb({ tls_mode: 'replica_ssl', admin_pass: 'adm' });
    const plain = await RawClient.connect(db.port);
    expect(await plain.call('SET', 'p', '1')).not.toBeInstanceOf(ErrorReply);
    expect(((await plain.call('AUTH', 'admin', 'adm')) as ErrorReply).message).toMatch(/over TLS only/);
    plain.close();
    const viaTls = await overTls(db.port, ca.cert, [['AUTH', 'admin', 'adm'], ['MINIRS.SHARDS']]);
    expect(viaTls).toEqual([expect.anything(), [expect.any(Array), expect.any(Array)]]);
  });
});
