import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { Logger, ProxyDbConfig } from '@minirs/common';

export interface TlsInfo {
  /** The client speaks TLS to us. */
  encrypted: boolean;
}

const PLAIN: TlsInfo = { encrypted: false };

/**
 * TLS on database endpoints. One port serves both kinds of connection: the first byte of a TLS
 * ClientHello is 0x16, which no RESP command starts with, so the proxy sniffs it. `enabled`
 * databases refuse plaintext; `replica_ssl` ones accept plaintext clients but replication
 * (AUTH admin) only over TLS. Client certificates are required whenever the database enforces
 * client authentication (fail closed: with none listed, only the cluster's own syncer certificate,
 * which lets Replica Of write to a TLS destination, is accepted).
 */
export class TlsAcceptor {
  private base: { cert: Buffer; key: Buffer } | null | undefined;
  private readonly contexts = new Map<string, SecureContext>();

  constructor(
    private readonly paths: { cert: string; key: string },
    private readonly log: Logger,
  ) {}

  accept(raw: Socket, db: ProxyDbConfig, ready: (socket: Socket, info: TlsInfo) => void): void {
    if (db.tls_mode === 'disabled') {
      ready(raw, PLAIN);
      return;
    }
    raw.once('data', (first: Buffer) => {
      raw.pause();
      if (first[0] !== 0x16) {
        if (db.tls_mode === 'enabled') {
          raw.end('-ERR this database requires TLS\r\n');
          return;
        }
        raw.unshift(first);
        ready(raw, PLAIN);
        raw.resume();
        return;
      }
      const ctx = this.context(db);
      if (!ctx) {
        raw.destroy();
        return;
      }
      const requireCert = db.enforce_client_authentication === 'enabled';
      const tlsSocket = new TLSSocket(bridge(raw, first), {
        isServer: true,
        secureContext: ctx,
        requestCert: requireCert,
        rejectUnauthorized: false,
      });
      tlsSocket.once('secure', () => {
        // A listed certificate is trusted as itself (a pinned leaf, like RS's syncer
        // certificates) or as the CA of the client's chain.
        // With none listed, "authorized" would only mean a public CA signed it: pinned ones only.
        const chainOk = tlsSocket.authorized && db.client_certs.length > 0;
        if (requireCert && !chainOk && !this.pinned(db).has(tlsSocket.getPeerCertificate().fingerprint256)) {
          this.log.debug(
            { bdb_uid: db.uid, reason: String(tlsSocket.authorizationError) },
            'client certificate refused',
          );
          tlsSocket.destroy();
          return;
        }
        ready(tlsSocket, { encrypted: true });
      });
      tlsSocket.on('error', (err) => {
        this.log.debug({ bdb_uid: db.uid, err: err.message }, 'TLS handshake failed');
        tlsSocket.destroy();
        raw.destroy();
      });
    });
    raw.on('error', () => raw.destroy());
  }

  private readonly pins = new Map<string, Set<string>>();

  /** SHA-256 fingerprints of the database's client certificates. */
  private pinned(db: ProxyDbConfig): Set<string> {
    const key = db.client_certs.join('\n');
    let set = this.pins.get(key);
    if (!set) {
      set = new Set();
      const own = this.ownSyncerCert();
      if (own) set.add(own);
      for (const pem of db.client_certs) {
        try {
          set.add(new X509Certificate(pem).fingerprint256);
        } catch (err) {
          this.log.warn(
            { bdb_uid: db.uid, err: (err as Error).message },
            'unreadable client certificate ignored',
          );
        }
      }
      this.pins.set(key, set);
    }
    return set;
  }

  private ownSyncer: string | null | undefined;

  /** Fingerprint of this cluster's syncer certificate (next to the proxy's in the certs folder). */
  private ownSyncerCert(): string | null {
    if (this.ownSyncer !== undefined) return this.ownSyncer;
    try {
      const pem = readFileSync(join(dirname(this.paths.cert), 'syncer.pem'), 'utf8');
      this.ownSyncer = new X509Certificate(pem).fingerprint256;
    } catch {
      this.ownSyncer = null;
    }
    return this.ownSyncer;
  }

  private context(db: ProxyDbConfig): SecureContext | null {
    if (this.base === undefined) {
      try {
        this.base = { cert: readFileSync(this.paths.cert), key: readFileSync(this.paths.key) };
      } catch (err) {
        this.log.error(
          { err: (err as Error).message },
          'proxy certificate unreadable: TLS endpoints refuse connections',
        );
        this.base = null;
      }
    }
    if (!this.base) return null;
    const key = db.client_certs.join('\n');
    let ctx = this.contexts.get(key);
    if (!ctx) {
      ctx = createSecureContext({
        cert: this.base.cert,
        key: this.base.key,
        ca: db.client_certs.length > 0 ? db.client_certs : undefined,
        // RS lists the syncer's own certificate (not its CA) as trusted: accept a listed leaf.
        allowPartialTrustChain: true,
      });
      this.contexts.set(key, ctx);
    }
    return ctx;
  }
}

/**
 * A Duplex over a socket whose first bytes were already read: TLSSocket would take over the
 * socket's handle and lose them, so it gets this stream instead, starting with `first`.
 */
function bridge(raw: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      raw.write(chunk, cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  d.push(first);
  raw.on('data', (chunk: Buffer) => {
    if (!d.push(chunk)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('close', () => d.destroy());
  return d;
}
