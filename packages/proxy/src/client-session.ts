import type { Socket } from 'node:net';
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
import { type CommandInfo, CommandFlag, keyPositions } from './command-table.js';
import { LOCAL_COMMANDS, NO_AUTH_NEEDED } from './local-commands.js';
import type { DbEndpoint } from './endpoint.js';
import { enterPubSub, type PubSubPipe, SUBSCRIBE_COMMANDS } from './pubsub.js';
import { Fifo } from './fifo.js';
import { type Entry, type EntryOwner, ForwardEntry, LocalEntry } from './reply-entry.js';
import { redisInlineError, redisProtocolError } from './protocol-errors.js';
import { NO_RULE_MATCHED } from './shard-key.js';
import type { ShardLink } from './shard-link.js';
import { SPECIAL_COMMANDS } from './special-commands.js';
import type { TlsInfo } from './tls.js';
import { Transaction, TXN_CONTROL } from './transaction.js';

/** The reply queue; entries pushed while `mute` is set are dropped instead of written. */
export class ReplyQueue extends Fifo<Entry> {
  mute = false;

  override push(e: Entry): void {
    if (this.mute) e.muted = true;
    super.push(e);
  }
}

/** route() results that are not a pool index. */
export const KEYLESS = -2;
export const CROSSSLOT = -3;
export const NO_RULE = -4;
export const NO_SHARD = -5;

export const CROSSSLOT_ERROR = "CROSSSLOT Keys in request don't hash to the same slot";

/**
 * Commands that run a script or function. They may run for long (a busy loop until SCRIPT KILL),
 * so they run like blocking commands, on a private link with no shard timeout: other clients'
 * commands still reach the shard and get its own answers (BUSY past its busy-reply-threshold,
 * as from redis-server), and SCRIPT KILL / FUNCTION KILL reach it.
 */
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

/** Replies a client may have outstanding before we stop reading its commands. */
const MAX_IN_FLIGHT = 4096;
/** Output a slow client may leave unread before we stop reading its commands. */
const OUTPUT_HIGH_WATER = 4 * 1024 * 1024;

/**
 * One client connection to a database endpoint.
 *
 * Commands are decoded as views of the bytes received and dispatched one by one: answered here
 * (AUTH, HELLO, PING...), forwarded byte for byte to the shard their keys hash to, split over
 * shards (MGET, DEL...), spread over all shards (KEYS, SCAN, DBSIZE...), or run on a private
 * link (MULTI, WATCH, blocking commands, pub/sub). Each gets an entry in the reply queue;
 * replies are written in command order as entries complete.
 *
 * Backpressure: dispatching stops (and the socket is paused) while too many replies are
 * outstanding, the client has not read its output, a target shard link is congested, or a
 * command must finish before the next may start (a barrier).
 */
export class ClientSession implements EntryOwner {
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
  pubsub: PubSubPipe | null = null;
  /** Private link of an in-flight blocking command. */
  blockingLink: {
    link: ShardLink;
    release: (clean: boolean) => void;
    /** Pool index of the link's shard, and whether it runs a script (not a blocked command). */
    index: number;
    script: boolean;
    /** The other shards' private links of a WAIT on a sharded database (released with it). */
    more?: { link: ShardLink; index: number }[];
  } | null = null;
  /** Slot found by the last route(); the key that matched no rule. */
  routedSlot = -1;
  badKey = -1;
  readonly keyPos: number[] = [];
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
    readonly endpoint: DbEndpoint,
    readonly socket: Socket,
    readonly id: number,
    readonly tls: TlsInfo,
  ) {
    this.out = new BatchWriter(socket);
    // Pub/sub streams are never "complete": their messages go out without waiting.
    this.out.hold = () => this.replies.length > 0 && this.pubsub === null;
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
    const name = v.name;
    this.lastCommandAt = clock.now;
    this.lastCommand = name;

    if (!this.authed && !NO_AUTH_NEEDED.has(name)) {
      this.replyError('NOAUTH Authentication required.');
      return true;
    }
    if (this.pubsub) return this.pubsub.dispatch(frame);
    const queued = this.txn?.inMulti === true && !TXN_CONTROL.has(name);
    if (!queued) {
      const local = LOCAL_COMMANDS.get(name);
      if (local) return local(this, frame);
    }

    const ready = this.endpoint.awaitCommands(this);
    if (ready !== true) {
      if (ready === false) return false;
      this.replyError(ready);
      return true;
    }
    if (queued) return this.txn!.queue(frame);
    const info = this.endpoint.commands!.lookup(v);

    const special = SPECIAL_COMMANDS.get(name);
    if (special) return special(this, frame, info);
    if (SUBSCRIBE_COMMANDS.has(name)) return enterPubSub(this, frame, info);
    if (info && (info.flags & CommandFlag.Blocking) !== 0) return this.runBlocking(frame, info);
    if (SCRIPT_COMMANDS.has(name)) return this.runBlocking(frame, info, true);
    return this.forwardRouted(frame, info);
  }

  /**
   * The pool index the keys of the current command hash to: every key must be in one slot
   * (sharded databases), else CROSSSLOT. KEYLESS when the command has no keys.
   */
  route(info: CommandInfo | undefined): number {
    const ep = this.endpoint;
    if (!ep.sharded) return ep.pools.length > 0 ? 0 : NO_SHARD;
    const pos = this.keyPos;
    pos.length = 0;
    if (!info || keyPositions(this.view, info, pos) === 0) return KEYLESS;
    const v = this.view;
    const rules = ep.rules;
    let slot = -1;
    for (let i = 0; i < pos.length; i++) {
      const a = pos[i]!;
      const s = rules.slot(v.buf, v.argStart(a), v.argEnd(a));
      if (s === NO_RULE_MATCHED) {
        this.badKey = a;
        return NO_RULE;
      }
      if (slot === -1) slot = s;
      else if (s !== slot) return CROSSSLOT;
    }
    this.routedSlot = slot;
    const owner = ep.slotOwner[slot]!;
    return owner < 0 ? NO_SHARD : owner;
  }

  /** Reply with the error of a failed route(); true when `target` is a pool index. */
  routeOk(target: number): boolean {
    if (target >= 0 || target === KEYLESS) return true;
    if (target === CROSSSLOT) this.replyError(CROSSSLOT_ERROR);
    else if (target === NO_RULE) this.replyError(this.noRuleError());
    else if (this.endpoint.pools.length === 0)
      this.replyError('ERR this database has no shards yet; retry later');
    else
      this.replyError(`ERR slot ${this.routedSlot} of this database is not served by any shard; retry later`);
    return false;
  }

  noRuleError(): string {
    const key = this.view
      .argString(this.badKey)
      .slice(0, 64)
      .replace(/[^\x20-\x7e]/g, '?');
    return `ERR key '${key}' matches no shard_key_regex rule of this database`;
  }

  private forwardRouted(frame: RespFrame, info: CommandInfo | undefined): boolean {
    const target = this.route(info);
    if (!this.routeOk(target)) return true;
    return this.forward(frame, target === KEYLESS ? 0 : target);
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

  /**
   * A blocking command (BLPOP, XREAD BLOCK, WAIT...) runs on a private link so it cannot stall
   * other clients; nothing else of this client is dispatched until it answers, as in Redis.
   */
  runBlocking(frame: RespFrame, info: CommandInfo | undefined, script = false, prefix?: Buffer): boolean {
    if (this.replies.length > 0) return false; // its earlier commands first
    const target = this.route(info);
    if (!this.routeOk(target)) return true;
    const pool = this.endpoint.pools[target === KEYLESS ? 0 : target]!;
    // In a transaction context (WATCH) the command runs on that link, in order.
    const txnLink = script ? this.txn?.linkFor(pool) : null;
    if (script) pool.scriptStarted();
    const e = new ForwardEntry(this);
    e.sentAt = -1;
    if (txnLink) {
      e.after = () => pool.scriptEnded();
      this.replies.push(e);
      txnLink.send(frame.buf, frame.start, frame.end, e);
      return true;
    }
    const link = pool.acquirePrivate(this.proto);
    // A command sent first on the private link, its reply dropped (WAIT's offset marker).
    if (prefix) link.send(prefix, 0, prefix.length, { sentAt: -1, onReply: () => {}, onError: () => {} });
    this.barrier = true;
    this.blockingLink = {
      link,
      release: (clean) => pool.release(link, clean),
      index: target === KEYLESS ? 0 : target,
      script,
    };
    e.after = () => {
      const b = this.blockingLink;
      this.blockingLink = null;
      this.barrier = false;
      if (script) pool.scriptEnded();
      b?.release(e.error === null);
    };
    this.replies.push(e);
    link.send(frame.buf, frame.start, frame.end, e);
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
    this.blockingLink?.release(false);
    this.blockingLink = null;
  }

  /** A transaction context, created on first MULTI/WATCH. */
  transaction(): Transaction {
    this.txn ??= new Transaction(this);
    return this.txn;
  }
}
