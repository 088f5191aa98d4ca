import { ErrorCodes } from '@minirs/common';
import { ErrorReply } from '@minirs/resp';
import { errorFromReply, errorFromSocket, protocolError, ReplicationError } from './errors.js';
import { HandshakeIO, type HandshakeSession } from './handshake-io.js';
import type { SocketFactory } from './socket-factory.js';
import { SocketReader } from './socket-reader.js';

export interface ReplicationInfo {
  /** `master` or `slave`. */
  role: string;
  masterReplid: string;
  /** The source's current replication offset: lag in bytes = this - the link's applied offset. */
  masterReplOffset: number;
  /** Every field of `INFO replication`, as text. */
  fields: Record<string, string>;
}

export interface ReplicationInfoOptions {
  connect: SocketFactory;
  peer?: string;
  username?: string;
  password?: string;
  /** Same pre-steps as the link (e.g. route to one shard through a minirs proxy). */
  preamble?: (session: HandshakeSession) => Promise<void>;
  timeoutMs?: number;
}

/** `INFO replication` over a separate, ordinary connection (the link's own one only streams). */
export async function readReplicationInfo(opts: ReplicationInfoOptions): Promise<ReplicationInfo> {
  const peer = opts.peer ?? 'source';
  let socket: Awaited<ReturnType<SocketFactory>>;
  try {
    socket = await opts.connect();
  } catch (err) {
    throw errorFromSocket(err, 'connect to', peer);
  }
  try {
    const io = new HandshakeIO(socket, new SocketReader(socket, peer), peer, opts.timeoutMs ?? 10_000);
    await startSession(io, opts);
    return await askReplicationInfo(io, peer);
  } finally {
    socket.destroy();
  }
}

async function startSession(io: HandshakeIO, opts: ReplicationInfoOptions): Promise<void> {
  if (opts.preamble) await opts.preamble(io);
  if (opts.password)
    await io.expect('AUTH', ...(opts.username ? [opts.username, opts.password] : [opts.password]));
}

/** The fields of `INFO <section>` on an open session. */
async function askInfo(io: HandshakeIO, peer: string, section: string): Promise<Record<string, string>> {
  const op = `INFO ${section}`;
  const reply = await io.call('INFO', section);
  if (reply instanceof ErrorReply) throw errorFromReply(reply.message, op, peer);
  if (!Buffer.isBuffer(reply)) {
    throw protocolError(`${peer} answered ${op} with something other than a bulk string.`, { op, peer });
  }
  const fields: Record<string, string> = {};
  for (const line of reply.toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

async function askReplicationInfo(io: HandshakeIO, peer: string): Promise<ReplicationInfo> {
  const fields = await askInfo(io, peer, 'replication');
  const offset = Number(fields.master_repl_offset);
  if (fields.role === undefined || !Number.isSafeInteger(offset)) {
    throw new ReplicationError(
      ErrorCodes.PROTOCOL,
      `INFO replication of ${peer} lacks role or master_repl_offset.`,
      {
        op: 'INFO replication',
        peer,
      },
    );
  }
  return { role: fields.role, masterReplid: fields.master_replid ?? '', masterReplOffset: offset, fields };
}

/**
 * `INFO replication` again and again over one long-lived connection (the lag probe asks every
 * 100 ms: a connection, an AUTH and a TLS handshake each time would load the source and its
 * counters). The connection opens on the first read and after any failure; `close()` ends it.
 */
export class ReplicationInfoProbe {
  private socket?: Awaited<ReturnType<SocketFactory>>;
  private io?: HandshakeIO;
  private closed = false;
  /** Connections opened so far (tests, diagnostics). */
  connections = 0;

  constructor(private readonly opts: ReplicationInfoOptions) {}

  /** `INFO replication`: the source's offset (the lag) and role. */
  read(): Promise<ReplicationInfo> {
    return this.ask((io, peer) => askReplicationInfo(io, peer));
  }

  /** The fields of `INFO <section>` (e.g. `memory`) over the same connection. */
  info(section: string): Promise<Record<string, string>> {
    return this.ask((io, peer) => askInfo(io, peer, section));
  }

  private async ask<T>(fn: (io: HandshakeIO, peer: string) => Promise<T>): Promise<T> {
    const peer = this.opts.peer ?? 'source';
    if (this.closed)
      throw new ReplicationError(ErrorCodes.CONNECTION, `the probe of ${peer} is closed`, { peer });
    try {
      if (!this.io) {
        let socket: Awaited<ReturnType<SocketFactory>>;
        try {
          socket = await this.opts.connect();
        } catch (err) {
          throw errorFromSocket(err, 'connect to', peer);
        }
        this.connections++;
        this.socket = socket;
        // A connection that ends between reads is opened again at the next one.
        socket.once('close', () => {
          if (this.socket === socket) this.drop();
        });
        socket.on('error', () => {});
        const io = new HandshakeIO(
          socket,
          new SocketReader(socket, peer),
          peer,
          this.opts.timeoutMs ?? 10_000,
        );
        await startSession(io, this.opts);
        if (this.closed || this.socket !== socket) {
          socket.destroy();
          throw new ReplicationError(ErrorCodes.CONNECTION, `the probe of ${peer} was closed`, { peer });
        }
        this.io = io;
      }
      return await fn(this.io, peer);
    } catch (err) {
      // After a timeout or a bad reply the connection's framing is unknown: start over.
      this.drop();
      throw err;
    }
  }

  private drop(): void {
    const s = this.socket;
    this.socket = undefined;
    this.io = undefined;
    s?.destroy();
  }

  close(): void {
    this.closed = true;
    this.drop();
  }
}

/** Fields of `INFO <sections...>` over a separate connection (for diagnosing a source). */
export async function readInfoFields(
  opts: ReplicationInfoOptions,
  sections: readonly string[],
  /** CONFIG GET parameters, returned as `config:<name>` fields (skipped where CONFIG is refused). */
  configs: readonly string[] = [],
): Promise<Record<string, string>> {
  const peer = opts.peer ?? 'source';
  let socket: Awaited<ReturnType<SocketFactory>>;
  try {
    socket = await opts.connect();
  } catch (err) {
    throw errorFromSocket(err, 'connect to', peer);
  }
  try {
    const io = new HandshakeIO(socket, new SocketReader(socket, peer), peer, opts.timeoutMs ?? 10_000);
    if (opts.preamble) await opts.preamble(io);
    if (opts.password)
      await io.expect('AUTH', ...(opts.username ? [opts.username, opts.password] : [opts.password]));
    const fields: Record<string, string> = {};
    // One section per call: INFO with several sections is Redis 7.0+.
    for (const section of sections) {
      const reply = await io.call('INFO', section);
      if (reply instanceof ErrorReply) throw errorFromReply(reply.message, `INFO ${section}`, peer);
      if (!Buffer.isBuffer(reply)) continue;
      for (const line of reply.toString('utf8').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
      }
    }
    for (const name of configs) {
      const reply = await io.call('CONFIG', 'GET', name);
      if (!Array.isArray(reply)) continue;
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const k = reply[i];
        const v = reply[i + 1];
        if (Buffer.isBuffer(k) && Buffer.isBuffer(v))
          fields[`config:${k.toString('utf8')}`] = v.toString('utf8');
      }
    }
    return fields;
  } finally {
    socket.destroy();
  }
}
