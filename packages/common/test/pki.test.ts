import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCa, createLeaf, pooledKeyCount, refillKeyPool, takePooledKey } from '../src/pki.js';

describe('certificates (forge structures, native keys and signatures)', () => {
  beforeEach(() => {
    process.env.MINIRS_KEY_POOL = 'off';
  });
  afterEach(() => {
    delete process.env.MINIRS_KEY_POOL;
  });

  it('a CA signs itself and its leaves; a leaf carries its names and matches its key', async () => {
    const ca = await createCa('test CA');
    const leaf = await createLeaf(ca, { commonName: 'api.x', ips: ['127.0.0.1'], dns: ['localhost'] });
    const caCert = new X509Certificate(ca.cert);
    const leafCert = new X509Certificate(leaf.cert);
    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(leafCert.verify(caCert.publicKey)).toBe(true);
    expect(leafCert.checkIssued(caCert)).toBe(true);
    expect(leafCert.checkPrivateKey(createPrivateKey(leaf.key))).toBe(true);
    expect(leafCert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    const other = await createCa('other CA');
    expect(leafCert.verify(new X509Certificate(other.cert).publicKey)).toBe(false);
  });
});

describe('key pool', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'minirs-pki-test-')), 'pool');
    process.env.MINIRS_KEY_POOL = dir;
  });
  afterEach(() => {
    delete process.env.MINIRS_KEY_POOL;
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('refill makes private keys (0600 in a 0700 folder) and each take removes one', async () => {
    expect(takePooledKey()).toBeUndefined();
    expect(await refillKeyPool(2)).toBe(2);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    expect(pooledKeyCount()).toBe(2);
    const a = takePooledKey();
    const b = takePooledKey();
    expect(a).toContain('PRIVATE KEY');
    expect(b).toContain('PRIVATE KEY');
    expect(a).not.toBe(b);
    expect(takePooledKey()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a CA made from a pooled key uses that key', async () => {
    await refillKeyPool(1);
    const ca = await createCa('pooled CA');
    expect(pooledKeyCount()).toBe(0);
    expect(new X509Certificate(ca.cert).checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
  });

  it('a folder others can read is never used', async () => {
    await refillKeyPool(1);
    chmodSync(dir, 0o755);
    expect(takePooledKey()).toBeUndefined();
    expect(await refillKeyPool(2)).toBe(0);
  });

  it('a file that is not a key is skipped and removed', async () => {
    await refillKeyPool(0);
    writeFileSync(join(dir, 'junk.pem'), 'not a key', { mode: 0o600 });
    expect(takePooledKey()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });
});
