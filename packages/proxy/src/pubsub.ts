import type { RespFrame } from '@minirs/resp';
import { type ClientSession, KEYLESS } from './client-session.js';
import type { CommandInfo } from './command-table.js';
import { resetClient } from './local-commands.js';
import { Entry } from './reply-entry.js';
import type { BatchWriter } from './batch-writer.js';
import type { ShardLink } from './shard-link.js';

/** Commands that put a connection in pub/sub mode. */
export const SUBSCRIBE_COMMANDS = new Set(['subscribe', 'psubscribe', 'ssubscribe']);
const UNSUBSCRIBE_COMMANDS = new Set(['unsubscribe', 'punsubscribe', 'sunsubscribe']);
const REGULAR_KINDS = new Set(['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']);
const SHARDED_KINDS = new Set(['ssubscribe', 'sunsubscribe']);

/** Sent after an unsubscribe to learn when all its replies are in (see PubSubPipe). */
const MARKER = Buffer.from('*1\r\n$4\r\nPING\r\n');

/**
 * Pub/sub of one client: all its subscriptions live on one dedicated link to one shard, and
 * every frame from that link (confirmations, messages, replies) streams to the client in
 * order. PUBLISH goes to every shard (see special-commands), so a subscriber hears a message
 * whatever shard it subscribed on; SSUBSCRIBE uses the shard of its channel's slot, where
 * SPUBLISH routes.
 *
 * Leaving pub/sub mode: after an UNSUBSCRIBE the proxy sends a PING and holds the client's next
 * commands; when that PING's reply comes back every unsubscribe reply has been seen, and the
 * subscription counts they carried say whether any subscription is left. If none is, the link
 * closes and the client is an ordinary client again.
 */
export class PubSubPipe {
  private readonly link: ShardLink;
  private readonly entry: StreamEntry;
  private regular = 0;
  private sharded = 0;
  private clientPings = 0;
  private markers = 0;
  private closed = false;

  constructor(
    private readonly c: ClientSession,
    readonly poolIndex: number,
  ) {
    const pool = c.endpoint.pools[poolIndex]!;
    this.link = pool.dedicated(c.proto, (reason) => this.lost(reason));
    this.link.pipe = (f) => this.onFrame(f);
    this.entry = new StreamEntry(c, c.out);
    c.replies.push(this.entry);
    if (c.replies.peek() === this.entry) this.entry.atHead(c.out);
  }

  /** A command while in pub/sub mode. */
  dispatch(frame: RespFrame): boolean {
    const c = this.c;
    const name = c.view.name;
    if (name === 'quit') {
      this.entry.inject(Buffer.from('+OK\r\n'));
      this.close();
      c.endWhenFlushed();
      return true;
    }
    if (name === 'client' && c.view.argc === 3 && c.view.argString(1, 'latin1').toLowerCase() === 'reply') {
      // Answered here: sent to the shard it would mute the PING markers this pipe waits for.
      // Pub/sub messages and (un)subscribe confirmations are pushes: redis-server delivers them
      // whatever CLIENT REPLY says, and so does this stream.
      const mode = c.view.argString(2, 'latin1').toLowerCase();
      if (mode === 'on') {
        c.replyOff = false;
        c.replySkip = 0;
        this.entry.inject(Buffer.from('+OK\r\n'));
      } else if (mode === 'off') c.replyOff = true;
      else if (mode === 'skip') {
        if (!c.replyOff) c.replySkip = 1;
      } else this.entry.inject(c.writer().error('ERR syntax error').finish());
      return true;
    }
    if (name === 'reset') {
      this.close();
      return resetClient(c);
    }
    if (name === 'ssubscribe' || name === 'sunsubscribe' || (c.proto === 3 && !isPubSubCommand(name))) {
      // Keys (or shard channels) of another shard cannot run on this link.
      const t = c.route(c.endpoint.commands?.lookup(c.view));
      if (t !== KEYLESS && t !== this.poolIndex) {
        this.entry.inject(
          c
            .writer()
            .error(
              t >= 0
                ? 'CROSSSLOT this connection is subscribed on another shard; use another connection for these keys or channels'
                : "CROSSSLOT Keys in request don't hash to the same slot",
            )
            .finish(),
        );
        return true;
      }
    }
    if (name === 'ping') this.clientPings++;
    this.link.sendRaw(frame.buf, frame.start, frame.end);
    if (UNSUBSCRIBE_COMMANDS.has(name)) {
      this.link.sendRaw(MARKER, 0, MARKER.length);
      this.markers++;
      c.barrier = true;
    }
    return true;
  }

  private onFrame(f: RespFrame): void {
    const kind = pubsubKind(f);
    if (kind) {
      const count = f.elements[2]!.int();
      if (SHARDED_KINDS.has(kind)) this.sharded = count;
      else if (REGULAR_KINDS.has(kind)) this.regular = count;
      this.entry.emit(f);
      return;
    }
    if ((this.markers > 0 || this.clientPings > 0) && isPong(f)) {
      if (this.clientPings > 0) {
        this.clientPings--;
        this.entry.emit(f);
        return;
      }
      this.markers--;
      if (this.markers > 0) return;
      if (this.regular === 0 && this.sharded === 0) this.exit();
      else {
        this.c.barrier = false;
        this.c.pump();
      }
      return;
    }
    this.entry.emit(f);
  }

  /** No subscription left: an ordinary client again. */
  private exit(): void {
    this.close();
    this.c.pump();
  }

  /** The shard went away: like a Redis server going down, the subscriber's connection closes. */
  private lost(reason: string): void {
    if (this.closed) return;
    this.c.endpoint.log.warn({ client: this.c.id, reason }, 'pub/sub link lost; closing the subscriber');
    this.close();
    this.c.destroy();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.pipe = null;
    this.link.close('pub/sub ended');
    if (this.c.pubsub === this) this.c.pubsub = null;
    this.c.barrier = false;
    this.entry.finish();
  }
}

function isPubSubCommand(name: string): boolean {
  return SUBSCRIBE_COMMANDS.has(name) || UNSUBSCRIBE_COMMANDS.has(name) || name === 'ping';
}

/** The kind of a (un)subscribe confirmation frame, else null. */
function pubsubKind(f: RespFrame): string | null {
  if (!f.isAggregate || f.length !== 3) return null;
  const k = f.elements[0]!;
  if (k.isAggregate || k.length > 12) return null;
  const s = k.str().toLowerCase();
  return REGULAR_KINDS.has(s) || SHARDED_KINDS.has(s) ? s : null;
}

/** +PONG (RESP3 or no subscription) or ["pong", msg] (RESP2 in pub/sub mode). */
function isPong(f: RespFrame): boolean {
  if (f.isAggregate) return f.length === 2 && f.elements[0]!.str().toLowerCase() === 'pong';
  return !f.isError && f.length === 4 && f.str() === 'PONG';
}

/** Enter pub/sub mode with a SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE. */
export function enterPubSub(c: ClientSession, frame: RespFrame, info: CommandInfo | undefined): boolean {
  const pools = c.endpoint.pools;
  if (pools.length === 0) {
    c.replyError('ERR this database has no shards yet; retry later');
    return true;
  }
  if (c.txn?.active) {
    c.replyError('ERR subscribing is not supported while a transaction or WATCH is open on this connection');
    return true;
  }
  if (c.replies.length > 0) return false; // earlier replies first
  let index = c.id % pools.length;
  if (c.view.name === 'ssubscribe') {
    const t = c.route(info);
    if (!c.routeOk(t)) return true;
    index = t === KEYLESS ? 0 : t;
  }
  const pipe = new PubSubPipe(c, index);
  c.pubsub = pipe;
  return pipe.dispatch(frame);
}

/** The reply-queue slot of a pub/sub stream: frames pass through as they come once it is at the head. */
class StreamEntry extends Entry {
  private pending: Buffer[] = [];
  private live = false;

  constructor(
    owner: ClientSession,
    private readonly out: BatchWriter,
  ) {
    super(owner);
  }

  emit(f: RespFrame): void {
    if (this.live) this.out.write(f.buf, f.start, f.end);
    else this.pending.push(f.raw());
  }

  inject(bytes: Buffer): void {
    if (this.live) this.out.write(bytes, 0, bytes.length);
    else this.pending.push(bytes);
  }

  override atHead(out: BatchWriter): void {
    this.live = true;
    this.write(out);
  }

  write(out: BatchWriter): void {
    for (const b of this.pending) out.write(b, 0, b.length);
    this.pending = [];
  }

  finish(): void {
    if (!this.done) this.complete();
  }
}
