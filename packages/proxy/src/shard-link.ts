import { createConnection, type Socket } from 'node:net';
import { Fifo, type Logger } from '@minirs/common';
import { encodeCommand, RespDecoder, type RespFrame, RespType } from '@minirs/resp';
import { BatchWriter } from './batch-writer.js';
import { clock } from './clock.js';

/** Receives the reply to one command sent on a shard link. */
export interface ReplySink {
  /**
   * When the command was queued (coarse clock); the link stamps it on send. -1 exempts it from
   * the shard timeout (blocking commands wait as long as they were told to).
   */
  sentAt: number;
  onReply(frame: RespFrame): void;
  /** The command failed in the proxy (shard down, timeout); `message` is a RESP error line. */
  onError(message: string): void;
}

/** A sink for replies nobody waits for (a replayed MULTI, a handshake). */
export const DISCARD_REPLY: ReplySink = {
  sentAt: 0,
  onReply() {},
  onError() {},
};

export type LinkState = 'connecting' | 'ready' | 'down' | 'closed';

export interface ShardLinkOptions {
  host: string;
  port: number;
  password: string;
  protocol: 2 | 3;
  /** For messages: "shard 3". */
  label: string;
  log: Logger;
  /** Reconnect after a failure (shared links); private links just die. */
  reconnect: boolean;
  /** How long a command may wait for its reply, and a connection for its handshake. */
  timeoutMs: () => number;
  /** Extra time the timeout allows now (a script runs on the shard: see ShardPool.scriptsRunning). */
  graceMs?: () => number;
  /** When the shard last finished something that kept it from answering (a script): the timeout counts from then. */
  freeSince?: () => number;
  onReady?: (link: ShardLink, hello: RespFrame) => void;
  onDown?: (link: ShardLink, reason: string) => void;
}

/**
 * Local addresses (ip:port) of this process's connected shard links: a shard's MONITOR shows
 * these as the clients of the commands the proxy forwarded (see monitor.ts).
 */
export const linkAddresses = new Set<string>();

/** A command queued while the link is not ready: not sent anywhere yet. */
interface Waiting {
  bytes: Buffer;
  sink: ReplySink;
}

/** Unsent bytes above which a link counts as congested: its clients wait for 'drain'. */
const CONGESTED_BYTES = 8 * 1024 * 1024;
/** Replies outstanding above which a link counts as congested. */
const CONGESTED_REPLIES = 100_000;
const BACKOFF_MIN_MS = 50;
/** Replies of any depth a shard produces are relayed (a Lua script's nested tables go deep). */
const MAX_REPLY_DEPTH = 1_000_000;
/** An idle shared link sends a PING after this long without a reply. */
const IDLE_PING_MS = 2000;
const BACKOFF_MAX_MS = 1000;
/**
 * Commands the proxy sends on its own carry an argument with this prefix (the idle PING, the
 * pub/sub markers, WAIT's PUBLISH): MONITOR leaves them out of what it shows.
 */
export const INTERNAL_PREFIX = '__minirs:';
const IDLE_PING = ['PING', `${INTERNAL_PREFIX}idle`];

/**
 * One pipelined connection to a shard's redis-server: commands from many clients go out in
 * order, and replies come back in the same order, so a FIFO of sinks pairs them. The link
 * authenticates with the internal password (HELLO <proto> AUTH default <pass>) before anything
 * else; commands queued meanwhile follow it in the same pipeline.
 *
 * Failure is explicit: while the link is down, sends fail at once with a clear error; a
 * command unanswered past the timeout fails every command in flight (their replies could no
 * longer be paired) and the connection is replaced.
 */
export class ShardLink {
  state: LinkState = 'connecting';
  lastError = '';
  /** Frames of a link in pipe mode (pub/sub) all go here instead of to sinks. */
  pipe: ((frame: RespFrame) => void) | null = null;
  /** RESP3 pushes on a request link. */
  onPush: ((frame: RespFrame) => void) | null = null;
  /** Called when the last reply in flight is in (private links: give the link back). */
  onIdle: (() => void) | null = null;
  /** Extra data for the owner (pool bookkeeping). */
  redisVersion = '';
  /** This connection's CLIENT ID on the shard (from the HELLO reply): CLIENT UNBLOCK targets it. */
  redisClientId = 0;

  private socket: Socket | null = null;
  private out: BatchWriter | null = null;
  private decoder = new RespDecoder({ maxDepth: MAX_REPLY_DEPTH });
  private readonly pending = new Fifo<ReplySink>();
  /** Commands that arrived while the link was not ready, sent once it is (or failed unsent). */
  private readonly waiting = new Fifo<Waiting>();
  private waitingBytes = 0;
  /** Coarse time the oldest waiting command arrived. */
  private waitingSince = 0;
  private everReady = false;
  private drainWaiters: (() => void)[] = [];
  private backoff = BACKOFF_MIN_MS;
  /** Coarse time the shard last sent anything: a busy shard is slow, not stalled. */
  private lastReadAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  /** ip:port this link connects from (see linkAddresses). */
  private localAddr = '';
  private readonly onFrame = (frame: RespFrame) => this.frame(frame);

  constructor(readonly opts: ShardLinkOptions) {
    this.connect();
  }

  get address(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  /** Commands sent or waiting to be sent whose reply has not come. */
  get inFlight(): number {
    return this.pending.length + this.waiting.length;
  }

  get congested(): boolean {
    return (
      this.pending.length + this.waiting.length > CONGESTED_REPLIES ||
      this.waitingBytes + (this.out?.pendingBytes ?? 0) > CONGESTED_BYTES
    );
  }

  /** Call `fn` once the link is no longer congested (or has failed). */
  whenDrained(fn: () => void): void {
    this.drainWaiters.push(fn);
  }

  private connect(): void {
    this.state = 'connecting';
    this.decoder = new RespDecoder({ maxDepth: MAX_REPLY_DEPTH });
    // From the node's own address (MINIRS_NODE_ADDR, set by the manager): packets say which node
    // sent them, so network faults between nodes can tell them apart.
    const socket = createConnection({
      host: this.opts.host,
      port: this.opts.port,
      localAddress: process.env.MINIRS_NODE_ADDR || undefined,
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    this.socket = socket;
    socket.once('connect', () => {
      this.localAddr = `${socket.localAddress}:${socket.localPort}`;
      if (this.socket === socket) linkAddresses.add(this.localAddr);
    });
    this.out = new BatchWriter(socket);
    const hello = this.opts.password
      ? encodeCommand(['HELLO', this.opts.protocol, 'AUTH', 'default', this.opts.password])
      : encodeCommand(['HELLO', this.opts.protocol]);
    // The handshake reply is the first frame; everything queued after it is ordinary traffic.
    this.pending.push({
      sentAt: clock.now,
      onReply: (frame) => {
        if (frame.isError) {
          this.fail(`shard refused the proxy's handshake: ${frame.str()}`);
          return;
        }
        this.state = 'ready';
        this.everReady = true;
        this.backoff = BACKOFF_MIN_MS;
        this.redisVersion = helloField(frame, 'version');
        this.redisClientId = Number(helloField(frame, 'id')) || 0;
        this.sendWaiting();
        this.opts.onReady?.(this, frame);
      },
      onError: () => {},
    });
    this.out.write(hello, 0, hello.length);
    socket.on('data', (chunk: Buffer) => {
      this.lastReadAt = clock.now;
      try {
        this.decoder.write(chunk, this.onFrame);
      } catch (err) {
        this.fail(`bad reply from shard: ${(err as Error).message}`);
      }
    });
    socket.on('drain', () => this.wakeDrainWaiters());
    socket.on('error', (err) => {
      this.lastError = err.message;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.fail(this.lastError ? `connection lost: ${this.lastError}` : 'connection closed by the shard');
    });
  }

  private frame(frame: RespFrame): void {
    if (this.pipe && this.state === 'ready') {
      this.pipe(frame);
      return;
    }
    if (frame.type === RespType.Push && this.state === 'ready') {
      // Out-of-band in RESP3: not the reply to anything queued.
      this.onPush?.(frame);
      return;
    }
    const sink = this.pending.shift();
    if (!sink) {
      this.fail('shard sent a reply nobody asked for');
      return;
    }
    sink.onReply(frame);
    if (this.drainWaiters.length > 0 && !this.congested) this.wakeDrainWaiters();
    if (this.onIdle && this.pending.length === 0) this.onIdle();
  }

  /**
   * Queue a command (bytes buf[start, end)) whose reply goes to `sink`. While the link is
   * (re)connecting the command waits, unsent, for the link to be ready (up to the timeout;
   * then it fails with TRYAGAIN): a client never gets "may or may not have been executed"
   * for a command no shard saw.
   */
  send(buf: Buffer, start: number, end: number, sink: ReplySink): void {
    if (this.state === 'ready' && this.out) {
      if (sink.sentAt !== -1) sink.sentAt = clock.now;
      this.pending.push(sink);
      this.out.write(buf, start, end);
      return;
    }
    if (!this.willConnect) {
      sink.onError(this.notSent());
      return;
    }
    // The client's buffer may be reused once dispatched: keep a copy (slow path only).
    const bytes = Buffer.from(buf.subarray(start, end));
    if (this.waiting.length === 0) this.waitingSince = clock.now;
    this.waiting.push({ bytes, sink });
    this.waitingBytes += bytes.length;
  }

  /** A link waiting out its reconnect backoff connects now, with the backoff reset. */
  retryNow(): void {
    if (this.state !== 'down' || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.backoff = BACKOFF_MIN_MS;
    this.connect();
  }

  /** The link is connecting, or will try again. */
  private get willConnect(): boolean {
    return this.state === 'connecting' || (this.state === 'down' && this.retryTimer !== null);
  }

  /** The link is ready: send what waited, in order. */
  private sendWaiting(): void {
    if (this.waiting.length === 0) return;
    const now = clock.now;
    for (const w of this.waiting.drain()) {
      if (w.sink.sentAt !== -1) w.sink.sentAt = now;
      this.pending.push(w.sink);
      this.out!.write(w.bytes, 0, w.bytes.length);
    }
    this.waitingBytes = 0;
  }

  /** Fail every waiting command: none of them reached the shard. */
  private failWaiting(message: string): void {
    if (this.waiting.length === 0) return;
    const all = this.waiting.drain();
    this.waitingBytes = 0;
    for (const w of all) w.sink.onError(message);
    this.wakeDrainWaiters();
    if (this.inFlight === 0) this.onIdle?.();
  }

  /** The error of a command that was not sent: retryable, and it says so. */
  notSent(): string {
    const why = this.lastError ? ` (${this.lastError})` : '';
    return `TRYAGAIN ${this.opts.label} is unavailable${why}; the command was not sent to it, retry it`;
  }

  /** Queue raw bytes that expect no reply (pipe mode). */
  sendRaw(buf: Buffer, start: number, end: number): void {
    this.out?.write(buf, start, end);
  }

  sendCommand(args: ReadonlyArray<string | Buffer | number>, sink: ReplySink): void {
    const b = encodeCommand(args);
    this.send(b, 0, b.length, sink);
  }

  unavailable(): string {
    const why = this.lastError ? ` (${this.lastError})` : '';
    return `ERR ${this.opts.label} is unavailable${why}; retry later`;
  }

  /**
   * Called on every clock tick by the owner: fail the link when its oldest command has waited
   * longer than the timeout and the shard has sent nothing for that long either (a deep queue
   * behind a shard that keeps answering is load, not failure).
   */
  checkTimeout(now: number): void {
    const grace = this.opts.graceMs?.() ?? 0;
    if (this.waiting.length > 0 && now - this.waitingSince > this.opts.timeoutMs() + grace) {
      if (!this.lastError) this.lastError = `not connected within ${this.opts.timeoutMs()} ms`;
      this.failWaiting(this.notSent());
      if (this.state === 'down' && !this.opts.reconnect && this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.state = 'closed';
      }
    }
    const head = this.pending.peek();
    if (!head) {
      // An idle shared link is probed with a PING, so a silent (partitioned) shard is found by
      // the timeout below within seconds, not at the next client command. Private links carry
      // MULTI, pub/sub or blocking state a PING would disturb.
      if (this.opts.reconnect && !this.pipe && this.state === 'ready' && now - this.lastReadAt > IDLE_PING_MS) {
        this.lastReadAt = now;
        this.sendCommand(IDLE_PING, { sentAt: 0, onReply() {}, onError() {} });
      }
      return;
    }
    if (head.sentAt < 0) return;
    const limit = this.opts.timeoutMs() + grace;
    if (now - Math.max(head.sentAt, this.lastReadAt, this.opts.freeSince?.() ?? 0) > limit) {
      this.fail(
        this.state === 'ready'
          ? `${this.opts.label} did not answer within ${limit} ms`
          : `could not connect to ${this.opts.label} at ${this.address} within ${limit} ms`,
        true,
      );
    }
  }

  /** Tear the connection down, fail what is in flight, and reconnect if this link does. */
  private fail(reason: string, timedOut = false): void {
    if (this.state === 'closed') return;
    this.forgetAddress();
    const socket = this.socket;
    this.socket = null;
    this.out = null;
    socket?.destroy();
    const wasReady = this.state === 'ready';
    this.lastError = reason.replace(/^connection lost: /, '');
    // Decide on the retry first: commands dispatched from the callbacks below then wait for it.
    // A private link that never got ready holds no connection state: it may try again for
    // the commands waiting on it (until their timeout).
    const retry = this.opts.reconnect || (!this.everReady && this.waiting.length > 0);
    if (retry) {
      this.state = 'down';
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (this.state === 'down') this.connect();
      }, this.backoff);
      this.retryTimer.unref();
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    } else {
      this.state = 'closed';
    }
    // What is pending was written to the shard's connection (on a link that never got ready,
    // only the handshake was: commands wait in `waiting` until the handshake's reply).
    const message = timedOut
      ? `ERR ${reason}; the command may or may not have been executed`
      : `ERR ${this.opts.label}: ${reason}; the command may or may not have been executed`;
    for (const sink of this.pending.drain()) sink.onError(message);
    if (!retry) this.failWaiting(this.notSent());
    this.wakeDrainWaiters();
    if (wasReady)
      this.opts.log.warn({ shard: this.opts.label, addr: this.address, reason }, 'shard link down');
    this.opts.onDown?.(this, reason);
    if (this.inFlight === 0) this.onIdle?.();
  }

  private forgetAddress(): void {
    if (this.localAddr) linkAddresses.delete(this.localAddr);
    this.localAddr = '';
  }

  private wakeDrainWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Close for good; whatever is in flight fails with `reason`. */
  close(reason = 'link closed'): void {
    this.forgetAddress();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.out = null;
    const message = `ERR ${this.opts.label}: ${reason}; the command may or may not have been executed`;
    this.state = 'closed';
    socket?.destroy();
    for (const sink of this.pending.drain()) sink.onError(message);
    const unsent = this.waiting.drain();
    this.waitingBytes = 0;
    for (const w of unsent)
      w.sink.onError(`TRYAGAIN ${this.opts.label}: ${reason}; the command was not sent to it, retry it`);
    this.wakeDrainWaiters();
  }
}

/** A field of a HELLO reply (RESP2 flat array or RESP3 map). */
function helloField(frame: RespFrame, name: string): string {
  const els = frame.elements;
  for (let i = 0; i + 1 < els.length; i += 2) if (els[i]!.str() === name) return els[i + 1]!.str();
  return '';
}
