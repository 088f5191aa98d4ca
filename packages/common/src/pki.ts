import {
  createPrivateKey,
  createPublicKey,
  constants as cryptoConstants,
  generateKeyPair as generateKeyPairCb,
  privateEncrypt,
  randomBytes,
} from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type forgeNs from 'node-forge';

const generateKeyPair = promisify(generateKeyPairCb);

// node-forge costs ~55 ms to import; only cluster creation needs it, so every other process skips it.
let forgeMod: typeof forgeNs | undefined;
async function forgeLib(): Promise<typeof forgeNs> {
  forgeMod ??= (await import('node-forge')).default;
  return forgeMod;
}

/**
 * Certificates with node-forge building the X.509 structures. RSA keys come from Node's native
 * crypto (forge's pure-JS key generation takes seconds), and so do the signatures (forge signs
 * in JavaScript: ~50 ms per certificate, three times per cluster create): forge hands the
 * signer the SHA-256 of the TBSCertificate and the native key encrypts its PKCS#1 DigestInfo.
 *
 * Key generation is the slowest step of a cluster create (hundreds of ms per 2048-bit key on a
 * busy machine), so fresh keys are also kept in a per-user pool (see takePooledKey): a create
 * takes ready ones, and the manager makes new ones in the background once it is up.
 */

export interface KeyPairPem {
  cert: string;
  key: string;
}

export interface RsaKey {
  privatePem: string;
  /** The public key, for the certificate's subjectPublicKeyInfo. */
  forgePub: forgeNs.pki.rsa.PublicKey;
  /** forge's signer interface over the native key. */
  signer: { sign(md: forgeNs.md.MessageDigest): string };
}

/** A fresh RSA key, for leaves that should share one (key generation is the slow part). */
export function newRsaKey(): Promise<RsaKey> {
  return rsaKey();
}

// DER prefix of PKCS#1 v1.5's DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

async function keyFromPem(privatePem: string): Promise<RsaKey> {
  const forge = await forgeLib();
  const native = createPrivateKey(privatePem);
  const spki = createPublicKey(native).export({ type: 'spki', format: 'pem' }).toString();
  const forgePub = forge.pki.publicKeyFromPem(spki) as forgeNs.pki.rsa.PublicKey;
  const signer = {
    sign(md: forgeNs.md.MessageDigest): string {
      if (md.algorithm !== 'sha256') throw new Error(`unsupported digest ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const sig = privateEncrypt(
        { key: native, padding: cryptoConstants.RSA_PKCS1_PADDING },
        Buffer.concat([SHA256_DIGEST_INFO, digest]),
      );
      return sig.toString('binary');
    },
  };
  return { privatePem, forgePub, signer };
}

async function generateRsaPem(): Promise<string> {
  const { privateKey } = await generateKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return privateKey;
}

async function rsaKey(): Promise<RsaKey> {
  return keyFromPem(takePooledKey() ?? (await generateRsaPem()));
}

// ---- the key pool

/** Keys the pool holds at most (a cluster create takes two). */
export const KEY_POOL_SIZE = 4;

/**
 * The pool folder: per user, mode 0700, in the temp dir (machine-wide like the cluster index
 * claims, so test runs with fresh MINIRS_HOMEs share it). MINIRS_KEY_POOL names another folder,
 * or `off` disables the pool.
 */
export function keyPoolDir(): string | undefined {
  const env = process.env.MINIRS_KEY_POOL;
  if (env === 'off') return undefined;
  return env || join(tmpdir(), `minirs-key-pool-${process.getuid?.() ?? 'user'}`);
}

/** The pool folder if it is ours and private (created when `create`), else undefined. */
function poolDir(create: boolean): string | undefined {
  const dir = keyPoolDir();
  if (!dir) return undefined;
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    // Someone else's folder, a symlink, or one others can read: never take keys from it.
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0)
      return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/**
 * Takes one key out of the pool (a rename claims it, so two creates never share a key), or
 * undefined when the pool is empty or unusable.
 */
export function takePooledKey(): string | undefined {
  const dir = poolDir(false);
  if (!dir) return undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pem'));
  } catch {
    return undefined;
  }
  for (const n of names) {
    const claimed = join(dir, `${n}.taken-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(join(dir, n), claimed);
    } catch {
      continue; // taken by another create meanwhile
    }
    try {
      const pem = readFileSync(claimed, 'utf8');
      if (pem.includes('PRIVATE KEY')) return pem;
    } catch {
      // unreadable: skip it
    } finally {
      rmSync(claimed, { force: true });
    }
  }
  return undefined;
}

/** Keys in the pool now. */
export function pooledKeyCount(): number {
  const dir = poolDir(false);
  if (!dir) return 0;
  try {
    return readdirSync(dir).filter((n) => n.endsWith('.pem')).length;
  } catch {
    return 0;
  }
}

/**
 * Tops the pool up to `size` keys, one key at a time (native key generation runs on the libuv
 * thread pool; this is background work of a manager that is already up). Returns how many keys
 * it added.
 */
export async function refillKeyPool(size = KEY_POOL_SIZE): Promise<number> {
  const dir = poolDir(true);
  if (!dir) return 0;
  let added = 0;
  while (pooledKeyCount() < size) {
    const pem = await generateRsaPem();
    const name = randomBytes(8).toString('hex');
    const tmp = join(dir, `${name}.tmp`);
    writeFileSync(tmp, pem, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, join(dir, `${name}.pem`));
    added++;
  }
  return added;
}

function serial(): string {
  // Positive, 16 bytes.
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function validity(cert: forgeNs.pki.Certificate, years: number): void {
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + years * 365 * 24 * 3600 * 1000);
}

export async function createCa(commonName: string): Promise<KeyPairPem> {
  // The key first: its generation runs on the thread pool while forge loads.
  const key = rsaKey();
  key.catch(() => {}); // awaited below
  const forge = await forgeLib();
  const k = await key;
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.forgePub;
  cert.serialNumber = serial();
  validity(cert, 10);
  const attrs = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'minirs' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.signer as unknown as forgeNs.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: k.privatePem };
}

export interface LeafOptions {
  commonName: string;
  /** IP addresses for subjectAltName. */
  ips?: string[];
  dns?: string[];
  server?: boolean;
  client?: boolean;
}

export async function createLeaf(ca: KeyPairPem, opts: LeafOptions, key?: RsaKey): Promise<KeyPairPem> {
  const forge = await forgeLib();
  const k = key ?? (await rsaKey());
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = await keyFromPem(ca.key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.forgePub;
  cert.serialNumber = serial();
  validity(cert, 5);
  cert.setSubject([
    { name: 'commonName', value: opts.commonName },
    { name: 'organizationName', value: 'minirs' },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames: { type: number; value?: string; ip?: string }[] = [];
  for (const d of opts.dns ?? []) altNames.push({ type: 2, value: d });
  for (const ip of opts.ips ?? []) altNames.push({ type: 7, ip });
  const ext: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.server ?? true, clientAuth: opts.client ?? false },
  ];
  if (altNames.length) ext.push({ name: 'subjectAltName', altNames });
  cert.setExtensions(ext);
  // forge only calls sign(md) on the key it is given.
  cert.sign(caKey.signer as unknown as forgeNs.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: k.privatePem };
}

/** A self-signed leaf (server and client usage) for syncer identities and test peers. */
export async function createSelfSigned(opts: LeafOptions): Promise<KeyPairPem> {
  const ca = await createCa(`${opts.commonName} CA`);
  return createLeaf(ca, opts);
}
