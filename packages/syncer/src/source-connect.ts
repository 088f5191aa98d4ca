import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { createGunzip } from 'node:zlib';
import { ErrorCodes, type SourceUri } from '@minirs/common';
import {
  encodeCommand,
  ErrorReply,
  type PlainReply,
  type RespFrame,
  RespProtocolError,
  takeReplies,
  toPlainReply,
} from '@minirs/resp';
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

/** Link setup replies are one line each (+OK, -ERR ...); more than this is not a minirs proxy. */
const SETUP_REPLY_BYTES = 64 * 1024;
/** MINIRS.SHARDS and INFO replies: a few KB; bounded so a wrong peer cannot fill memory. */
const COMMAND_REPLY_BYTES = 16 * 1024 * 1024;

/**
 * Reads `n` replies and gives back the bytes after them, undecoded (after MINIRS.LINK the
 * connection is a raw pipe to a shard, perhaps gzipped). The socket is paused when it resolves
 * and destroyed when it rejects.
 */
function readReplies(
  socket: Socket,
  n: number,
  peer: string,
  timeoutMs: number,
  what: string,
  maxBytes: number,
): Promise<{ replies: RespFrame[]; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(
      () => done(new ReplicationError(ErrorCodes.TIMEOUT, `${peer} did not answer ${what}`, { peer })),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let taken: ReturnType<typeof takeReplies>;
      try {
        taken = takeReplies(buf, n, { maxLineLength: SETUP_REPLY_BYTES });
      } catch (err) {
        const reason = err instanceof RespProtocolError ? err.reason : String(err);
        done(
          new ReplicationError(ErrorCodes.PROTOCOL, `${peer} sent a malformed reply to ${what}: ${reason}`, {
            peer,
          }),
        );
        return;
      }
      if (taken) done(undefined, { replies: taken.replies, rest: buf.subarray(taken.end) });
      else if (buf.length > maxBytes)
        done(
          new ReplicationError(ErrorCodes.PROTOCOL, `${peer} sent more than ${maxBytes} bytes for ${what}`, {
            peer,
          }),
        );
    };
    const onClose = () =>
      done(
        new ReplicationError(ErrorCodes.CONNECTION, `${peer} closed the connection during ${what}`, {
          peer,
          retryable: true,
        }),
      );
    const done = (err?: Error, out?: { replies: RespFrame[]; rest: Buffer }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(out!);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
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
    socket.write(
      Buffer.concat([encodeCommand(['AUTH', 'admin', o.uri.password ?? '']), encodeCommand(link)]),
    );
    const { replies, rest } = await readReplies(
      socket,
      2,
      peer,
      o.timeoutMs ?? 10_000,
      'the link setup',
      SETUP_REPLY_BYTES,
    );
    for (const [i, reply] of replies.entries()) {
      if (reply.isError) {
        socket.destroy();
        throw linkReplyError(reply.str(), i === 0 ? 'AUTH admin' : 'MINIRS.LINK', peer);
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
    socket.write(Buffer.concat([...pre, ...args].map((c) => encodeCommand(c))));
    const { replies } = await readReplies(
      socket,
      pre.length + args.length,
      peer,
      o.timeoutMs ?? 10_000,
      args.map((a) => a[0]).join(', '),
      COMMAND_REPLY_BYTES,
    );
    let plain: PlainReply[];
    try {
      plain = replies.map(toPlainReply);
    } catch (err) {
      const reason = err instanceof RespProtocolError ? err.reason : String(err);
      throw new ReplicationError(ErrorCodes.PROTOCOL, `${peer} sent an unexpected reply: ${reason}`, {
        peer,
      });
    }
    for (const [i, r] of plain.entries()) {
      if (r instanceof ErrorReply) {
        throw errorFromReply(r.message, i < pre.length ? 'AUTH' : (args[i - pre.length]?.[0] ?? '?'), peer);
      }
    }
    return plain.slice(pre.length).map((r) => {
      const t = asText(r);
      return typeof t === 'string' ? t : JSON.stringify(t);
    });
  } finally {
    socket.destroy();
  }
}

type Text = string | null | Text[];

/** A reply with strings for its scalars (an integer or an error as its text). */
function asText(r: PlainReply): Text {
  if (r === null) return null;
  if (Array.isArray(r)) return r.map(asText);
  if (r instanceof ErrorReply) return `-${r.message}`;
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  return String(r);
}

export function parseShardList(raw: string): { uid: number; slot_start: number; slot_end: number }[] {
  const arr = JSON.parse(raw) as [string, string, string][];
  return arr.map(([uid, s, e]) => ({ uid: Number(uid), slot_start: Number(s), slot_end: Number(e) }));
}
