import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { createGunzip } from 'node:zlib';
import { ErrorCodes, type SourceUri } from '@minirs/common';
import { FaultyDuplex, type LinkFaultState } from './link-faults.js';
import { nodeLocalAddress, watchSilentPeer } from './liveness.js';
import { errorFromReply, errorFromSocket, ReplicationError } from './replication/index.js';

/**
 * Opens the byte stream of one link to a source: TCP or TLS, through the link fault layer, and
 * for a minirs source the proxy steps (`AUTH admin <pass>`, `MINIRS.LINK <shard> [COMPRESS n]`)
 * after which the connection is a raw pipe to one shard — gunzipped here when compressed.
 */

export interface SourceTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** SNI to send (the source's replication_tls_sni); Node sends the host name otherwise. */
  servername?: string;
}

export interface Counters {
  ingressBytes: number;
  ingressBytesDecompressed: number;
  /** Consecutive TLS handshakes the source cut short (how a refused client certificate looks). */
  tlsHandshakeResets?: number;
}

/** After this many handshakes cut short in a row, the source is taken to refuse our certificate. */
const TLS_REFUSALS_TO_STOP = 3;

export interface OpenOptions {
  uri: SourceUri;
  tls?: SourceTls;
  faults: LinkFaultState;
  counters: Counters;
  /** minirs source: route this connection to one shard. */
  shardUid?: number;
  compression?: number;
  timeoutMs?: number;
  /** Count the connection's bytes as the link's ingress (default true; the lag probe's are not). */
  countIngress?: boolean;
}

function rawConnect(o: OpenOptions): Promise<Socket> {
  const { host, port } = o.uri;
  const peer = `${host}:${port}`;
  if (o.faults.partitioned) {
    return Promise.reject(
      new ReplicationError(ErrorCodes.CONNECTION, `connect to ${peer} failed: partitioned by a fault`, {
        peer,
        retryable: true,
      }),
    );
  }
  const useTls = o.uri.tls || o.tls !== undefined;
  return new Promise((resolve, reject) => {
    const socket = useTls
      ? tlsConnect({
          host,
          port,
          // RS pins the source cluster's proxy certificate itself ("Source Cluster Certificate").
          ca: o.tls?.ca,
          allowPartialTrustChain: true,
          // RS's Replica Of uses TLS 1.2; it also makes a refused client certificate fail the
          // handshake itself (with 1.3 the refusal arrives after the client thinks it connected).
          maxVersion: 'TLSv1.2',
          cert: o.tls?.cert,
          key: o.tls?.key,
          ...(o.tls?.servername ? { servername: o.tls.servername } : {}),
          // tls.connect passes socket options through; its types do not list them.
          ...({ localAddress: nodeLocalAddress(host) } as object),
        })
      : netConnect({ host, port, localAddress: nodeLocalAddress(host) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ReplicationError(ErrorCodes.TIMEOUT, `connect to ${peer} timed out`, { peer }));
    }, o.timeoutMs ?? 10_000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (useTls && /CERT|SSL|TLS|VERIFY|SELF_SIGNED|ALTNAME/.test(code)) {
        // A certificate problem does not heal by retrying: it needs a person (like a wrong password).
        reject(
          new ReplicationError(
            ErrorCodes.AUTH,
            `TLS with ${peer} failed: ${err.message} (${code}); set the source cluster's proxy certificate as server_cert and list this cluster's syncer certificate on the source database`,
            { peer },
          ),
        );
        return;
      }
      if (useTls && /before secure TLS connection/.test(err.message)) {
        const n = (o.counters.tlsHandshakeResets ?? 0) + 1;
        o.counters.tlsHandshakeResets = n;
        if (n >= TLS_REFUSALS_TO_STOP) {
          reject(
            new ReplicationError(
              ErrorCodes.AUTH,
              `${peer} cut the TLS handshake short ${n} times in a row: it does not trust this cluster's syncer certificate; add it to the source database's authentication_ssl_client_certs (or disable its client authentication)`,
              { peer },
            ),
          );
          return;
        }
      }
      reject(errorFromSocket(err, 'connect to', peer));
    });
    socket.once(useTls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      o.counters.tlsHandshakeResets = 0;
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      socket.setNoDelay(true);
      watchSilentPeer(socket, { host, port, localAddress: nodeLocalAddress(host) });
      resolve(socket);
    });
  });
}

/** Reads `n` single-line replies (`+OK`, `-ERR ...`, `*...` not expected) and gives back the rest. */
function readLines(
  socket: Socket,
  n: number,
  peer: string,
  timeoutMs: number,
): Promise<{ lines: string[]; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const lines: string[] = [];
    const timer = setTimeout(
      () => done(new ReplicationError(ErrorCodes.TIMEOUT, `${peer} did not answer the link setup`, { peer })),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const i = buf.indexOf('\r\n');
        if (i < 0) break;
        lines.push(buf.subarray(0, i).toString('utf8'));
        buf = buf.subarray(i + 2);
        if (lines.length === n) {
          done();
          return;
        }
      }
      if (buf.length > 64 * 1024)
        done(new ReplicationError(ErrorCodes.PROTOCOL, `${peer} sent an overlong line`, { peer }));
    };
    const onClose = () =>
      done(
        new ReplicationError(ErrorCodes.CONNECTION, `${peer} closed the connection during link setup`, {
          peer,
          retryable: true,
        }),
      );
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve({ lines, rest: buf });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Counts bytes as they pass. */
function counting(inner: Duplex, count: (n: number) => void): Duplex {
  inner.on('data', (c: Buffer) => count(c.length));
  return inner;
}

/** A socket whose readable side is decompressed; writes go through as they are. */
class GunzipDuplex extends Duplex {
  private readonly gunzip = createGunzip();

  constructor(
    private readonly inner: Duplex,
    onDecompressed: (n: number) => void,
  ) {
    super();
    inner.pipe(this.gunzip);
    this.gunzip.on('data', (c: Buffer) => {
      onDecompressed(c.length);
      if (!this.push(c)) this.gunzip.pause();
    });
    this.gunzip.on('end', () => this.push(null));
    this.gunzip.on('error', (err) =>
      this.destroy(
        new ReplicationError(ErrorCodes.PROTOCOL, `compressed replication stream is corrupt: ${err.message}`),
      ),
    );
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  override _read(): void {
    this.gunzip.resume();
  }

  override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, enc, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    this.gunzip.destroy();
    cb(err);
  }
}

/**
 * The source proxy's `-ERR MINIRS.LINK to shard N failed: ...` means it could not reach that
 * shard's redis-server (restarting after a crash, paused, slow): a connection error that the link
 * retries, not a source that refuses replicas (found by the checker, seed 2: a source shard's
 * redis-server killed stopped the sync).
 */
export function linkReplyError(reply: string, op: string, peer: string): ReplicationError {
  if (op === 'MINIRS.LINK' && /^ERR MINIRS\.LINK to .+ failed: /.test(reply)) {
    return new ReplicationError(
      ErrorCodes.CONNECTION,
      `${peer} could not reach the source shard: ${reply}. The link retries.`,
      { op, peer, reply, retryable: true },
    );
  }
  return errorFromReply(reply, op, peer);
}

export async function openSourceStream(o: OpenOptions): Promise<Duplex> {
  const peer = `${o.uri.host}:${o.uri.port}`;
  const socket = await rawConnect(o);
  let stream: Duplex = socket;
  if (o.shardUid !== undefined) {
    const link = ['MINIRS.LINK', String(o.shardUid)];
    if (o.compression) link.push('COMPRESS', String(o.compression));
    socket.write(encode(['AUTH', 'admin', o.uri.password ?? '']) + encode(link));
    const { lines, rest } = await readLines(socket, 2, peer, o.timeoutMs ?? 10_000);
    for (const [i, line] of lines.entries()) {
      if (line.startsWith('-')) {
        socket.destroy();
        throw linkReplyError(line.slice(1), i === 0 ? 'AUTH admin' : 'MINIRS.LINK', peer);
      }
    }
    if (rest.length) socket.unshift(rest);
  }
  socket.resume();
  if (o.countIngress !== false)
    stream = counting(stream, (n) => {
      o.counters.ingressBytes += n;
      if (!o.compression || o.shardUid === undefined) o.counters.ingressBytesDecompressed += n;
    });
  if (o.compression && o.shardUid !== undefined) {
    stream = new GunzipDuplex(stream, (n) => (o.counters.ingressBytesDecompressed += n));
  }
  return new FaultyDuplex(stream, o.faults);
}

/** One ordinary request/reply connection (for MINIRS.SHARDS and INFO), through the same path. */
export async function sourceCommand(o: OpenOptions, args: string[][]): Promise<string[]> {
  const peer = `${o.uri.host}:${o.uri.port}`;
  const socket = await rawConnect(o);
  try {
    const pre: string[][] = [];
    if (o.uri.admin) pre.push(['AUTH', 'admin', o.uri.password ?? '']);
    else if (o.uri.password)
      pre.push(o.uri.username ? ['AUTH', o.uri.username, o.uri.password] : ['AUTH', o.uri.password]);
    socket.write([...pre, ...args].map(encode).join(''));
    const replies = await readReplies(socket, pre.length + args.length, peer, o.timeoutMs ?? 10_000);
    for (const [i, r] of replies.entries()) {
      if (typeof r === 'string' && r.startsWith('-')) {
        throw errorFromReply(r.slice(1), i < pre.length ? 'AUTH' : (args[i - pre.length]?.[0] ?? '?'), peer);
      }
    }
    return replies.slice(pre.length).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
  } finally {
    socket.destroy();
  }
}

type Simple = string | Simple[] | null;

/** Minimal reply reader for a handful of small replies (status, error, integer, bulk, array). */
function readReplies(socket: Socket, n: number, peer: string, timeoutMs: number): Promise<Simple[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(
      () => finish(new ReplicationError(ErrorCodes.TIMEOUT, `${peer} did not answer`, { peer })),
      timeoutMs,
    );
    const parse = (p: number): { v: Simple; end: number } | undefined => {
      const i = buf.indexOf('\r\n', p);
      if (i < 0) return undefined;
      const t = String.fromCharCode(buf[p]!);
      const line = buf.subarray(p + 1, i).toString('utf8');
      if (t === '+' || t === ':') return { v: line, end: i + 2 };
      if (t === '-') return { v: `-${line}`, end: i + 2 };
      if (t === '$') {
        const len = Number(line);
        if (len < 0) return { v: null, end: i + 2 };
        if (buf.length < i + 2 + len + 2) return undefined;
        return { v: buf.subarray(i + 2, i + 2 + len).toString('utf8'), end: i + 2 + len + 2 };
      }
      if (t === '*') {
        const cnt = Number(line);
        const out: Simple[] = [];
        let q = i + 2;
        for (let k = 0; k < cnt; k++) {
          const e = parse(q);
          if (!e) return undefined;
          out.push(e.v);
          q = e.end;
        }
        return { v: out, end: q };
      }
      throw new ReplicationError(ErrorCodes.PROTOCOL, `${peer} sent an unexpected reply type "${t}"`, {
        peer,
      });
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const out: Simple[] = [];
        let p = 0;
        for (let k = 0; k < n; k++) {
          const e = parse(p);
          if (!e) return;
          out.push(e.v);
          p = e.end;
        }
        finish(undefined, out);
      } catch (err) {
        finish(err as Error);
      }
    };
    const onClose = () =>
      finish(
        new ReplicationError(ErrorCodes.CONNECTION, `${peer} closed the connection`, {
          peer,
          retryable: true,
        }),
      );
    const finish = (err?: Error, out?: Simple[]) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(out!);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

export function parseShardList(raw: string): { uid: number; slot_start: number; slot_end: number }[] {
  const arr = JSON.parse(raw) as [string, string, string][];
  return arr.map(([uid, s, e]) => ({ uid: Number(uid), slot_start: Number(s), slot_end: Number(e) }));
}
