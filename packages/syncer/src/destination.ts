import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ErrorCodes, Fifo, MinirsError } from '@minirs/common';
import { type RespFrame, RespDecoder, RespWriter } from '@minirs/resp';
import { nodeLocalAddress, watchSilentPeer } from './liveness.js';

/**
 * A pipelined connection to the destination database's endpoint (the minirs proxy), so the
 * destination's own shard count and hash policy apply to every replicated write. Replies come
 * back in order; each write's callback learns its reply. The window of unanswered writes is
 * bounded: `capacity()` resolves when there is room, which is how backpressure reaches the
 * source link (its consumer awaits it, so the link stops reading the source socket).
 */

export type ReplyKind = 'ok' | 'error';

export interface WriteReply {
  kind: ReplyKind;
  /** The first error found in the reply (top level or inside an EXEC array). */
  error?: string;
  frame: RespFrame;
}

export type ReplyCallback = (reply: WriteReply) => void;

/** Where the syncer writes: its own database's endpoint, over TLS when the database requires it. */
export interface DestinationTarget {
  host: string;
  port: number;
  password?: string;
  /** TLS to the destination proxy: its certificate (pinned) and the syncer's client certificate. */
  tls?: { ca?: string; cert?: string; key?: string };
}

export interface DestinationOptions extends DestinationTarget {
  /** Writes sent but not yet answered; the bound on memory and on what a crash can leave unknown. */
  maxInFlight?: number;
  /** Bytes sent but not yet answered. */
  maxInFlightBytes?: number;
  connectTimeoutMs?: number;
}

interface Pending {
  cb: ReplyCallback | undefined;
  bytes: number;
  /**
   * A transaction (`writeTransaction`) is one entry for all its replies: MULTI's, one per
   * queued command, then EXEC's, which goes to `cb`. `left` counts the replies still due.
   */
  left?: number;
  /** Queued replies seen so far (the index of the next queued command). */
  seen?: number;
  onQueuedError?: (i: number, error: string) => void;
}

/** `MULTI` and `EXEC` as sent. */
export const MULTI_RAW = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
export const EXEC_RAW = Buffer.from('*1\r\n$4\r\nEXEC\r\n');

/** A raw command this big is sent as it is rather than copied into the write buffer. */
const BIG_WRITE = 64 * 1024;
/** The write buffer is cut into segments of about this size. */
const SEGMENT = 1024 * 1024;

const ERROR_START = Buffer.from('\r\n-');
const BLOB_ERROR_START = Buffer.from('\r\n!');

/**
 * Whether an aggregate's bytes may hold an error element: every element starts right after a
 * CRLF (the header's or the previous element's), so without a CRLF followed by '-' or '!' none is
 * an error. A bulk string may hold those bytes too: then the elements are walked.
 */
function mayHoldError(f: RespFrame): boolean {
  const bytes = f.buf.subarray(f.valueStart - 2, f.valueEnd);
  return bytes.indexOf(ERROR_START) !== -1 || bytes.indexOf(BLOB_ERROR_START) !== -1;
}

/** The first error reply within a frame: top level, or an element of an EXEC reply. */
export function firstError(f: RespFrame, depth = 0): string | undefined {
  if (f.isError) return f.str();
  // An EXEC's reply has one element per command of the transaction: most hold no error at all.
  if (depth === 0 && f.isAggregate && f.length > 0 && !mayHoldError(f)) return undefined;
  if (depth < 2 && f.isAggregate && f.length > 0) {
    for (const e of f.elements) {
      const err = firstError(e, depth + 1);
      if (err) return err;
    }
  }
  return undefined;
}

export class DestinationClient extends EventEmitter<{ failed: [MinirsError] }> {
  private socket?: Socket;
  private readonly decoder = new RespDecoder();
  private readonly pending = new Fifo<Pending>();
  /** Replies due (a transaction counts all of its replies): what the window bounds. */
  private due = 0;
  private inFlightBytes = 0;
  /** Commands of this tick are encoded into one buffer (no allocation or copy per command). */
  private readonly writer = new RespWriter(64 * 1024);
  /** Segments cut from `writer`, and big raw commands sent without a copy. */
  private outbox: Buffer[] = [];
  private flushScheduled = false;
  private waiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  /** Rejecters of awaitReply() promises not answered yet. */
  private readonly callers = new Set<(err: MinirsError) => void>();
  private closedError?: MinirsError;
  readonly peer: string;
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;

  constructor(private readonly opts: DestinationOptions) {
    super();
    this.peer = `${opts.host}:${opts.port}`;
    this.maxInFlight = opts.maxInFlight ?? 4096;
    this.maxInFlightBytes = opts.maxInFlightBytes ?? 16 * 1024 * 1024;
  }

  /** Replies still due (each command of a transaction counts, and its MULTI and EXEC). */
  get inFlight(): number {
    return this.due;
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  async connect(): Promise<void> {
    const t = this.opts.tls;
    const localAddress = nodeLocalAddress(this.opts.host);
    const socket = t
      ? tlsConnect({
          host: this.opts.host,
          port: this.opts.port,
          ca: t.ca,
          cert: t.cert,
          key: t.key,
          // The cluster's own proxy certificate is pinned as the trust anchor (a leaf, like RS's).
          allowPartialTrustChain: true,
          // tls.connect passes socket options through; its types do not list them.
          ...({ localAddress } as object),
        })
      : connect({ host: this.opts.host, port: this.opts.port, localAddress });
    socket.setNoDelay(true);
    watchSilentPeer(socket, { host: this.opts.host, port: this.opts.port, localAddress });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new MinirsError(ErrorCodes.TIMEOUT, `destination ${this.peer} did not accept a connection`, {
            peer: this.peer,
          }),
        );
      }, this.opts.connectTimeoutMs ?? 5000);
      socket.once(t ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new MinirsError(ErrorCodes.CONNECTION, `destination ${this.peer}: ${err.message}`, {
            peer: this.peer,
            cause: err,
          }),
        );
      });
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) =>
      this.fail(
        new MinirsError(ErrorCodes.CONNECTION, `destination ${this.peer}: ${err.message}`, {
          peer: this.peer,
          cause: err,
        }),
      ),
    );
    socket.on('close', () =>
      this.fail(
        new MinirsError(ErrorCodes.CONNECTION, `destination ${this.peer} closed the connection`, {
          peer: this.peer,
        }),
      ),
    );
    if (this.opts.password) {
      const r = await this.call(['AUTH', this.opts.password]);
      if (r.kind === 'error') {
        this.close();
        throw new MinirsError(ErrorCodes.AUTH, `destination ${this.peer} refused AUTH: ${r.error}`, {
          peer: this.peer,
        });
      }
    }
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.write(chunk, (frame) => this.onReply(frame));
    } catch (err) {
      this.fail(
        new MinirsError(
          ErrorCodes.PROTOCOL,
          `destination ${this.peer} sent bad RESP: ${(err as Error).message}`,
        ),
      );
    }
  }

  private onReply(frame: RespFrame): void {
    if (frame.type === 0x3e /* '>' push */) return;
    const p = this.pending.peek();
    if (!p) {
      this.fail(
        new MinirsError(ErrorCodes.PROTOCOL, `destination ${this.peer} sent a reply nobody asked for`),
      );
      return;
    }
    this.due--;
    if (p.left !== undefined && --p.left > 0) {
      // MULTI's +OK, then one +QUEUED (or the error it was refused with) per command.
      const i = p.seen!++ - 1;
      if (frame.isError && i >= 0) p.onQueuedError?.(i, frame.str());
      return;
    }
    this.pending.shift();
    this.inFlightBytes -= p.bytes;
    const error = firstError(frame);
    p.cb?.({ kind: error ? 'error' : 'ok', error, frame });
    if (this.waiters.length && this.hasRoom()) for (const w of this.waiters.splice(0)) w();
    if (this.inFlight === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /**
   * Whether another write fits in the window now. Writers check this before awaiting
   * `capacity()`: an await per write yields to the flush microtask after every write, which
   * turns a pipeline into one socket write (one syscall) per command.
   */
  hasRoom(): boolean {
    return this.inFlight < this.maxInFlight && this.inFlightBytes < this.maxInFlightBytes;
  }

  /** Resolves when another write fits in the window (rejects once the connection failed). */
  capacity(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push(() => (this.closedError ? reject(this.closedError) : resolve()));
    });
  }

  /** Resolves when every write so far has its reply. */
  drain(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.drainWaiters.push(() => (this.closedError ? reject(this.closedError) : resolve()));
    });
  }

  /** Send bytes that are exactly one command (e.g. a replication stream command's raw view). */
  writeRaw(raw: Buffer, cb?: ReplyCallback): void {
    if (this.closedError) throw this.closedError;
    this.append(raw);
    this.sent(raw.length, cb);
  }

  /** Queues one raw command's bytes: copied into the writer, or (big) sent as it is. */
  private append(raw: Buffer): void {
    if (raw.length >= BIG_WRITE) {
      this.cut();
      this.outbox.push(raw);
    } else {
      this.writer.raw(raw);
      if (this.writer.length >= SEGMENT) this.cut();
    }
  }

  /**
   * `MULTI`, the raw commands `parts` (each exactly one command), `EXEC`: one pending entry for
   * all their replies. A command refused when queued reports its index in `parts` and the error
   * to `onQueuedError`; `cb` gets EXEC's reply.
   */
  writeTransaction(
    parts: readonly Buffer[],
    onQueuedError: (i: number, error: string) => void,
    cb: ReplyCallback,
  ): void {
    if (this.closedError) throw this.closedError;
    let bytes = MULTI_RAW.length + EXEC_RAW.length;
    this.writer.raw(MULTI_RAW);
    for (const raw of parts) {
      this.append(raw);
      bytes += raw.length;
    }
    this.writer.raw(EXEC_RAW);
    this.pending.push({ cb, bytes, left: parts.length + 2, seen: 0, onQueuedError });
    this.due += parts.length + 2;
    this.inFlightBytes += bytes;
    if (this.writer.length >= SEGMENT) this.cut();
    this.scheduleFlush();
  }

  write(args: ReadonlyArray<string | Buffer | number>, cb?: ReplyCallback): void {
    if (this.closedError) throw this.closedError;
    const before = this.writer.length;
    this.writer.command(args);
    this.sent(this.writer.length - before, cb);
  }

  private sent(bytes: number, cb: ReplyCallback | undefined): void {
    this.pending.push({ cb, bytes });
    this.due++;
    this.inFlightBytes += bytes;
    // Bounded segments keep the writer's buffer small however much one tick writes.
    if (this.writer.length >= SEGMENT) this.cut();
    this.scheduleFlush();
  }

  /** Moves what the writer holds to the outbox, in order. */
  private cut(): void {
    if (this.writer.length > 0) this.outbox.push(this.writer.finish());
  }

  /** One command and its reply; rejects when the connection fails first (never left pending). */
  call(args: ReadonlyArray<string | Buffer | number>): Promise<WriteReply> {
    return this.awaitReply((cb) => this.write(args, cb));
  }

  /**
   * The reply of whatever `send` writes with the callback it is given (its last command's);
   * rejects when the connection fails first: a failed connection never answers its pending
   * writes, and an await on one would hang whoever waits (a link's stop, a restart).
   */
  awaitReply(send: (cb: ReplyCallback) => void): Promise<WriteReply> {
    return new Promise<WriteReply>((resolve, reject) => {
      if (this.closedError) {
        reject(this.closedError);
        return;
      }
      this.callers.add(reject);
      try {
        send((r) => {
          this.callers.delete(reject);
          resolve(r);
        });
      } catch (err) {
        this.callers.delete(reject);
        reject(err);
      }
    });
  }

  // Writes of one tick leave together: one write, or one writev of the segments.
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.cut();
      const out = this.outbox;
      if (out.length === 0 || !this.socket || this.closedError) return;
      this.outbox = [];
      if (out.length === 1) {
        this.socket.write(out[0]!);
        return;
      }
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    });
  }

  private fail(err: MinirsError): void {
    if (this.closedError) return;
    this.closedError = err;
    this.socket?.destroy();
    for (const w of this.waiters.splice(0)) w();
    for (const w of this.drainWaiters.splice(0)) w();
    const callers = [...this.callers];
    this.callers.clear();
    for (const c of callers) c(err);
    this.emit('failed', err);
  }

  close(): void {
    this.fail(
      new MinirsError(ErrorCodes.CONNECTION, 'destination connection closed by the syncer', {
        peer: this.peer,
      }),
    );
  }
}
