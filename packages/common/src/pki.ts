import { generateKeyPair as generateKeyPairCb, randomBytes } from 'node:crypto';
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
 * Certificates with node-forge. RSA keys come from Node's native crypto (forge's pure-JS key
 * generation takes seconds; cluster creation must not), forge builds and signs the X.509 parts.
 */

export interface KeyPairPem {
  cert: string;
  key: string;
}

export type RsaKey = Awaited<ReturnType<typeof rsaKey>>;

/** A fresh RSA key, for leaves that should share one (key generation is the slow part). */
export function newRsaKey(): Promise<RsaKey> {
  return rsaKey();
}

async function rsaKey(): Promise<{
  privatePem: string;
  forgeKey: forgeNs.pki.rsa.PrivateKey;
  forgePub: forgeNs.pki.rsa.PublicKey;
}> {
  const forge = await forgeLib();
  const { privateKey } = await generateKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forgeNs.pki.rsa.PrivateKey;
  const forgePub = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { privatePem: privateKey, forgeKey, forgePub };
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
  const forge = await forgeLib();
  const k = await rsaKey();
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
  cert.sign(k.forgeKey, forge.md.sha256.create());
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
  const caKey = forge.pki.privateKeyFromPem(ca.key);
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
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: k.privatePem };
}

/** A self-signed leaf (server and client usage) for syncer identities and test peers. */
export async function createSelfSigned(opts: LeafOptions): Promise<KeyPairPem> {
  const ca = await createCa(`${opts.commonName} CA`);
  return createLeaf(ca, opts);
}
