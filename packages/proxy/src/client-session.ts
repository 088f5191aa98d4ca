import type { Socket } from 'node:net';
import { Fifo } from '@minirs/common';
import {
  encodeCommand,
  isRespProtocolError,
  RequestView,
  RespDecoder,
  type RespFrame,
  RespType,
  RespWriter,
} from '@minirs/resp';
import { BatchWriter } from './batch-writer.js';
import { clock } from './clock.js';
import type { CommandInfo } from './command-table.js';
import { dispatchCommand } from './commands/dispatch.js';
import { Transaction } from './commands/transaction.js';
import { redisInlineError, redisProtocolError } from './protocol-errors.js';
import { type Entry, ForwardEntry, LocalEntry } from './reply-entry.js';
import { KeyRouter } from './routing.js';
import type { BlockingLink, ReplyMode, Session, SessionHost, SessionMode } from './session.js';
import type { ShardLink } from './shard-link.js';
import type { TlsInfo } from './tls.js';

/** The reply queue; entries pushed while `mute` is set are dropped instead of written. */
export class ReplyQueue extends Fifo<Entry> {
  mute = false;

  override push(e: Entry): void {
    if (this.mute) e.muted = true;
    super.push(e);
  }
}

/** Replies a client may have outstanding before we stop reading its commands. */
const MAX_IN_FLIGHT = 4096;
/** Output a slow client may leave unread before we stop reading its commands. */
const OUTPUT_HIGH_WATER = 4 * 1024 * 1024;

/**
 * One client connection to a database endpoint, and the one place its state changes (the
 * Session intents the command handlers of src/commands/ call).
 *
 * Commands are decoded as views of the bytes received and dispatched one by one (see
 * commands/dispatch.ts): answered here (AUTH, HELLO, PING...), forwarded byte for byte to the
 * shard their keys hash to, split over shards (MGET, DEL...), spread over all shards (KEYS, SCAN,
 * DBSIZE...), or run on a private link (MULTI, WATCH, blocking commands, pub/sub). Each gets an
 * entry in the reply queue; replies are written in command order as entries complete.
 *
 * Backpressure: dispatching stops (and the socket is paused) while too many replies are
 * outstanding, the client has not read its output, a target shard link is congested, or a
 * command must finish before the next may start (a barrier).
 */
export class ClientSession implements Session {
  proto: 2 | 3 = 2;
  authed: boolean;
  admin = false;
  name = '';
  readonly createdAt = Date.now();
  lastCommandAt = Date.now();
  lastCommand = '';
  readonly view = new RequestView();
  readonly out: BatchWriter;
  /** A command whose reply must arrive before the next command is dispatched. */
  barrier = false;
  /** Reading stops for good: QUIT, protocol error, or the socket was handed to a raw pipe. */
  closing = false;
  closed = false;
  /** The socket now belongs to a raw pipe (MINIRS.LINK): no RESP processing. */
  detached = false;
  txn: Transaction | null = null;
  pubsub: SessionMode | null = null;
  monitor: SessionMode | null = null;
  /** Private link of an in-flight blocking command. */
  blockingLink: BlockingLink | null = null;
  private readonly router = new KeyRouter();
  /** When this client started waiting for the command table (ms), 0 when it is not. */
  tableWaitSince = 0;

  readonly replies = new ReplyQueue();
  /** CLIENT REPLY OFF in force. */
  replyOff = false;
  /** CLIENT REPLY SKIP: 1 = the next command's reply is dropped, 2 = this command's is. */
  replySkip: 0 | 1 | 2 = 0;
  /** Header lines (multibulk and bulk counts) are limited to 64 KiB, as in redis-server. */
  private readonly decoder = new RespDecoder({ requests: true, maxLineLength: 64 * 1024 });
  /** Re-reads an inline command's arguments as a multibulk frame. */
  private readonly inlineDecoder = new RespDecoder({ requests: true });
  readonly inbox = new Fifo<RespFrame>();
  private held: RespFrame | null = null;
  private pumping = false;
  private paused = false;
  private readonly onFrame = (f: RespFrame) => this.inbox.push(f);

  constructor(
    readonly endpoint: SessionHost,
    readonly socket: Socket,
    readonly id: number,
    readonly tls: TlsInfo,
  ) {
    this.out = new BatchWriter(socket);
    // Pub/sub streams are never "complete": their messages go out without waiting.
    this.out.hold = () => this.replies.length > 0 && this.pubsub === null && this.monitor === null;
    this.authed = !endpoint.config.redis_pass;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.pump());
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
  }

  get remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  get localAddress(): string {
    return `${this.socket.localAddress ?? '?'}:${this.socket.localPort ?? 0}`;
  }

  private onData(chunk: Buffer): void {
    if (this.closing || this.detached) return;
    try {
      this.decoder.write(chunk, this.onFrame);
    } catch (err) {
      if (!isRespProtocolError(err)) throw err;
      // Like Redis: answer what came before, then the error (redis-server's text), then close.
      const frameOffset = this.decoder.offset;
      const message = redisProtocolError(err, this.decoder.takeBuffered(), frameOffset);
      this.pump();
      this.protocolError(`Protocol error: ${message}`);
      return;
    }
    this.pump();
  }

  /** Reply with an error and close once everything before it has been written. */
  protocolError(message: string): void {
    this.closing = true;
    this.inbox.drain();
    this.held = null;
    this.replyError(`ERR ${message}`);
    // redis-server closes the socket for good: what the client still sends is not read.
    this.socket.once('finish', () => this.socket.destroy());
    this.endWhenFlushed();
  }

  private canDispatch(): boolean {
    return (
      !this.barrier &&
      !this.closing &&
      this.replies.length < MAX_IN_FLIGHT &&
      this.out.pendingBytes < OUTPUT_HIGH_WATER
    );
  }

  /** Dispatch queued commands while nothing holds them back. */
  pump(): void {
    if (this.pumping || this.closed || this.detached) return;
    this.pumping = true;
    try {
      while (this.canDispatch()) {
        const frame = this.held ?? this.inbox.shift();
        if (!frame) break;
        this.held = null;
        // CLIENT REPLY OFF / SKIP: entries of this command are dropped when their turn comes.
        this.replies.mute = this.replyOff || this.replySkip === 2;
        const done = this.dispatch(frame);
        this.replies.mute = false;
        if (!done) {
          this.held = frame;
          break;
        }
        if (this.replySkip !== 0) this.replySkip = this.replySkip === 1 ? 2 : 0;
        this.endpoint.ops++;
      }
    } finally {
      this.pumping = false;
    }
    const backlog = this.held !== null || this.inbox.length > 0;
    if (backlog && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!backlog && this.paused && !this.closing) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Handle one command; false means "not now": it is retried when whatever blocks it clears. */
  private dispatch(received: RespFrame): boolean {
    const v = this.view;
    let frame = received;
    try {
      v.parse(frame);
      // Shards get inline commands as multibulk: a long inline line on a shared link could
      // hit the shard's 64 KiB inline limit (which closes the link) in the middle of a read.
      if (frame.type === RespType.Inline && v.argc > 0) {
        const args: Buffer[] = [];
        for (let i = 0; i < v.argc; i++) args.push(v.arg(i));
        frame = this.inlineDecoder.decodeAll(encodeCommand(args))[0]!;
        v.parse(frame);
      }
    } catch (err) {
      if (!isRespProtocolError(err)) throw err;
      this.protocolError(`Protocol error: ${redisInlineError(err)}`);
      return true;
    }
    if (v.argc === 0) return true;
    this.lastCommandAt = clock.now;
    this.lastCommand = v.name;

    return dispatchCommand(this, frame);
  }

  // ---- routing (routing.ts)

  get routedSlot(): number {
    return this.router.slot;
  }

  route(info: CommandInfo | undefined): number {
    return this.router.route(this.endpoint, this.view, info);
  }

  routeOk(target: number): boolean {
    const err = this.router.error(this.endpoint, this.view, target);
    if (err === null) return true;
    this.replyError(err);
    return false;
  }

  commandsReady(): true | false | string {
    return this.endpoint.awaitCommands(this);
  }

  /**
   * The link this client's commands to pool `index` use: the private link of its transaction
   * or WATCH (also while that link still has replies in flight, so nothing overtakes it), else
   * its shared link of that pool.
   */
  linkFor(index: number): ShardLink {
    const pool = this.endpoint.pools[index]!;
    return this.txn?.linkFor(pool) ?? pool.link(this.proto, this.id);
  }

  /** Send the client's frame as is to pool `index`; false when that link is congested. */
  forward(frame: RespFrame, index: number): boolean {
    return this.forwardBytes(frame.buf, index, frame.start, frame.end);
  }

  /** Send a command (bytes buf[start, end)) to pool `index` for this client's reply queue. */
  forwardBytes(buf: Buffer, index: number, start = 0, end = buf.length): boolean {
    const link = this.linkFor(index);
    if (link.congested) {
      link.whenDrained(() => this.pump());
      return false;
    }
    const e = new ForwardEntry(this);
    this.replies.push(e);
    link.send(buf, start, end, e);
    return true;
  }

  // ---- replies

  entryDone(entry: Entry): void {
    if (this.replies.peek() === entry) this.flushReplies();
    else if (!this.barrier && (this.held || this.inbox.length > 0)) this.pump();
  }

  flushReplies(): void {
    let e = this.replies.peek();
    while (e?.done) {
      this.replies.shift();
      if (!e.muted) e.write(this.out);
      e = this.replies.peek();
    }
    if (e?.atHead) e.atHead(this.out);
    if (this.held || this.inbox.length > 0) this.pump();
  }

  /** Queue a reply the proxy made. */
  replyBytes(bytes: Buffer): void {
    this.replies.push(new LocalEntry(this, bytes));
    if (this.replies.length === 1) this.flushReplies();
  }

  replyError(message: string): void {
    this.replyBytes(new RespWriter(message.length + 8).error(message).finish());
  }

  /** A writer for composing a local reply; finish with replyBytes(w.finish()). */
  writer(): RespWriter {
    return new RespWriter(256);
  }

  /** Close the connection once every queued reply has been written (QUIT, protocol error). */
  endWhenFlushed(): void {
    this.closing = true;
    const finish = () => {
      if (this.replies.length > 0) {
        setImmediate(finish);
        return;
      }
      // The writer flushes on setImmediate; end after it.
      setImmediate(() => this.socket.end());
    };
    finish();
  }

  /** Hand the socket over to a raw pipe: returns every byte received but not yet dispatched. */
  detach(): Buffer {
    this.detached = true;
    const parts: Buffer[] = [];
    if (this.held) parts.push(this.held.raw());
    this.held = null;
    for (const f of this.inbox.drain()) parts.push(f.raw());
    parts.push(this.decoder.takeBuffered());
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('drain');
    return Buffer.concat(parts);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.drain();
    this.held = null;
    // Private links hold per-connection state (MULTI, WATCH, a blocked pop): never reuse them.
    this.txn?.abandon();
    this.pubsub?.close();
    this.monitor?.close();
    this.blockingLink?.release(false);
    this.blockingLink = null;
  }

  // ---- intents (see Session)

  /** A transaction context, created on first MULTI/WATCH. */
  transaction(): Transaction {
    this.txn ??= new Transaction(this);
    return this.txn;
  }

  authenticate(admin: boolean): void {
    this.authed = true;
    this.admin = admin;
  }

  setName(name: string): void {
    this.name = name;
  }

  setProtocol(proto: 2 | 3): void {
    this.proto = proto;
  }

  setReplyMode(mode: ReplyMode): void {
    // Redis: ON answers +OK; OFF and SKIP answer nothing (SKIP drops the next reply too).
    if (mode === 'on') {
      this.replyOff = false;
      this.replySkip = 0;
      this.replies.mute = false;
    } else if (mode === 'off') this.replyOff = true;
    else if (!this.replyOff) this.replySkip = 1;
  }

  holdBarrier(): void {
    this.barrier = true;
  }

  releaseBarrier(): void {
    this.barrier = false;
  }

  holdBlocking(b: BlockingLink): void {
    this.barrier = true;
    this.blockingLink = b;
  }

  endBlocking(): BlockingLink | null {
    const b = this.blockingLink;
    this.blockingLink = null;
    this.barrier = false;
    return b;
  }

  enterPubSub(mode: SessionMode): void {
    this.pubsub = mode;
  }

  enterMonitor(mode: SessionMode): void {
    this.monitor = mode;
  }

  leaveMode(mode: SessionMode): void {
    if (this.pubsub === mode) this.pubsub = null;
    if (this.monitor === mode) this.monitor = null;
  }

  /** The shards of the database changed: a mode that holds a link to every shard cannot follow. */
  shardsChanged(uids: number[]): void {
    this.pubsub?.shardsChanged(uids);
    this.monitor?.shardsChanged(uids);
  }

  /** RESET: back to a fresh connection's state (false: not yet, earlier replies first). */
  reset(): boolean {
    // Earlier commands first: dropping a private link under them would fail their replies.
    if (this.replies.length > 0 && !this.pubsub && !this.monitor) return false;
    this.txn?.abandon();
    this.txn = null;
    this.pubsub?.close();
    this.monitor?.close();
    this.proto = 2;
    this.name = '';
    this.admin = false;
    this.authed = !this.endpoint.config.redis_pass;
    this.replyBytes(Buffer.from('+RESET\r\n'));
    return true;
  }
}
