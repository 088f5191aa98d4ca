import { randomBytes } from 'node:crypto';
import { Fifo } from '@minirs/common';
import { encodeCommand, type RespFrame, RespType } from '@minirs/resp';
import type { CommandInfo } from '../command-table.js';
import { CROSSSLOT_ERROR, KEYLESS, NO_SHARDS_YET } from '../routing.js';
import type { ReplyMode, Session } from '../session.js';
import { INTERNAL_PREFIX } from '../shard-link.js';
import { ShardStream } from './shard-stream.js';

/** Commands that put a connection in pub/sub mode. */
export const SUBSCRIBE_COMMANDS = new Set(['subscribe', 'psubscribe', 'ssubscribe']);
const UNSUBSCRIBE_COMMANDS = new Set(['unsubscribe', 'punsubscribe', 'sunsubscribe']);
const REGULAR_KINDS = new Set(['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']);
const SHARDED_KINDS = new Set(['ssubscribe', 'sunsubscribe']);
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage']);

/** `PING <token>` follows every command of a pipe on each link it went to; its reply closes that command's replies. */
const MARKER_TOKEN = `${INTERNAL_PREFIX}pubsub:${randomBytes(8).toString('hex')}`;
const MARKER = encodeCommand(['PING', MARKER_TOKEN]);
const MARKER_BYTES = Buffer.from(MARKER_TOKEN, 'latin1');

/** One command of a pipe: the replies the client gets for it, released once every link it went to is done with it. */
interface Slot {
  seq: number;
  /** Link whose replies are the client's (-1: answered by the proxy). */
  emitter: number;
  frames: Buffer[];
  /** Messages that arrived, on a link that had finished this command, before it was released. */
  trailing: Buffer[];
  /** Links still to answer its marker. */
  remaining: number;
  /** An unsubscribe: once released, are any subscriptions left? */
  unsubscribe: boolean;
  sharded: boolean;
  /** CLIENT REPLY OFF/SKIP was in force: replies other than pub/sub confirmations are dropped. */
  muted: boolean;
}

/**
 * Pub/sub of one client. SUBSCRIBE and PSUBSCRIBE go to a dedicated link to every shard of the
 * database, so the client hears what any shard publishes: a PUBLISH (routed to one shard) and
 * the keyspace notifications of every shard's keys, as from one Redis. The client gets one
 * confirmation per channel, the one of its primary link, and only once every shard has
 * confirmed it; PUBSUB NUMSUB/CHANNELS/NUMPAT then count each subscriber once on any shard.
 * SSUBSCRIBE uses the link of the shard of its channel's slot, where SPUBLISH routes; a client's
 * shard channels must all be on one shard.
 *
 * Ordering: each command is followed, on every link it went to, by a `PING <token>`; the frames a
 * link sends before that marker's reply are its replies to the command. A command's replies are
 * released in command order once each of its links answered the marker. A message is written
 * after the commands its link had finished when it came (so never before the confirmation of
 * its subscription) and before the ones it had not.
 *
 * Leaving pub/sub mode: after an unsubscribe the client's next commands wait until its replies
 * are released; their subscription counts say whether any subscription is left. If none is, the
 * links close and the client is an ordinary client again.
 */
export class PubSubPipe extends ShardStream {
  /** Per link: the commands sent to it whose marker has not come back. */
  private readonly queues: Fifo<Slot>[];
  /** Per link: seq of the last command whose marker it answered. */
  private readonly lastDone: number[];
  /** Unreleased commands, in order. */
  private readonly slots = new Fifo<Slot>();
  private nextSeq = 0;
  /** Commands with seq below this are released. */
  private released = 0;
  private regular = 0;
  private sharded = 0;
  /** The link of the client's shard channels (-1: none yet). */
  private shardedLink = -1;
  private pendingSharded = 0;

  constructor(
    c: Session,
    /** The link whose confirmations and replies the client gets for commands sent to every link. */
    readonly primary: number,
  ) {
    super(c, 'pub/sub link lost; closing the subscriber');
    this.queues = this.links.map(() => new Fifo<Slot>());
    this.lastDone = this.links.map(() => -1);
  }

  /** A command while in pub/sub mode. */
  dispatch(frame: RespFrame): boolean {
    const c = this.c;
    const name = c.view.name;
    const ended = this.ending(name);
    if (ended !== null) return ended;
    if (name === 'client' && c.view.argc === 3 && c.view.argString(1, 'latin1').toLowerCase() === 'reply') {
      // Answered here: sent to a shard it would mute the markers this pipe waits for.
      // Pub/sub messages and (un)subscribe confirmations are pushes: redis-server delivers them
      // whatever CLIENT REPLY says, and so does this stream.
      const mode = c.view.argString(2, 'latin1').toLowerCase();
      if (mode === 'on' || mode === 'off' || mode === 'skip') {
        c.setReplyMode(mode as ReplyMode);
        if (mode === 'on') this.local(Buffer.from('+OK\r\n'));
      } else this.local(c.writer().error('ERR syntax error').finish());
      return true;
    }
    if (name === 'monitor') {
      this.local(
        c
          .writer()
          .error('ERR MONITOR is not supported on a subscribed connection; use another connection')
          .finish(),
      );
      return true;
    }
    const all = this.links.map((_, i) => i);
    if (REGULAR_KINDS.has(name)) {
      this.send(frame, all, this.primary, UNSUBSCRIBE_COMMANDS.has(name), false);
      return true;
    }
    if (name === 'ssubscribe' || name === 'sunsubscribe') {
      const t = c.route(c.endpoint.commands?.lookup(c.view));
      if (name === 'sunsubscribe') {
        // Unsubscribing goes where the client's shard channels are, whatever the channel's slot:
        // that link's counts are the client's.
        const to = this.shardedLink >= 0 ? this.shardedLink : t >= 0 ? t : this.primary;
        this.send(frame, [to], to, true, true);
        return true;
      }
      if (t < 0) {
        this.local(c.writer().error(CROSSSLOT_ERROR).finish());
        return true;
      }
      if (this.shardedLink >= 0 && t !== this.shardedLink && (this.sharded > 0 || this.pendingSharded > 0)) {
        this.local(
          c
            .writer()
            .error(
              'CROSSSLOT this connection has shard channels on another shard; use another connection for these channels',
            )
            .finish(),
        );
        return true;
      }
      this.shardedLink = t;
      this.pendingSharded++;
      this.send(frame, [t], t, false, true);
      return true;
    }
    // RESP2 allows only PING (and the commands above) here: the shard refuses the others with
    // its own error, from a link that has subscriptions. RESP3 runs anything, on its keys' shard.
    let to = this.shardedLink >= 0 && this.regular === 0 ? this.shardedLink : this.primary;
    if (c.proto === 3 && name !== 'ping') {
      const t = c.route(c.endpoint.commands?.lookup(c.view));
      if (t >= 0) to = t;
      else if (t !== KEYLESS) {
        this.local(c.writer().error(CROSSSLOT_ERROR).finish());
        return true;
      }
    }
    this.send(frame, [to], to, false, false);
    return true;
  }

  private send(
    frame: RespFrame,
    targets: number[],
    emitter: number,
    unsubscribe: boolean,
    sharded: boolean,
  ): void {
    const s: Slot = {
      seq: this.nextSeq++,
      emitter,
      frames: [],
      trailing: [],
      remaining: targets.length,
      unsubscribe,
      sharded,
      muted: this.c.replies.mute,
    };
    this.slots.push(s);
    for (const i of targets) {
      const link = this.links[i]!;
      link.sendRaw(frame.buf, frame.start, frame.end);
      link.sendRaw(MARKER, 0, MARKER.length);
      this.queues[i]!.push(s);
    }
    // Nothing else of the client runs until an unsubscribe's outcome is known.
    if (unsubscribe) this.c.holdBarrier();
  }

  protected local(bytes: Buffer): void {
    const s: Slot = {
      seq: this.nextSeq++,
      emitter: -1,
      frames: [bytes],
      trailing: [],
      remaining: 0,
      unsubscribe: false,
      sharded: false,
      muted: false,
    };
    this.slots.push(s);
    this.release();
  }

  protected onFrame(i: number, f: RespFrame): void {
    if (this.closed) return;
    if (isMarker(f)) {
      const s = this.queues[i]!.shift();
      if (!s) return;
      this.lastDone[i] = s.seq;
      if (--s.remaining === 0) this.release();
      return;
    }
    const kind = pubsubKind(f, this.c.proto);
    if (kind !== null && MESSAGE_KINDS.has(kind)) {
      this.message(i, f);
      return;
    }
    const s = this.queues[i]!.peek();
    if (!s) {
      // Not the reply to anything sent: pass it on in its place.
      this.message(i, f);
      return;
    }
    if (s.emitter !== i) return; // the same confirmation from another shard
    if (kind !== null) {
      const count = f.elements[2]!.int();
      if (SHARDED_KINDS.has(kind)) this.sharded = count;
      else this.regular = count;
    } else if (s.muted) return;
    s.frames.push(f.raw());
  }

  /** A message from link i goes after what that link had finished when it came. */
  private message(i: number, f: RespFrame): void {
    const after = this.lastDone[i]!;
    if (after < this.released) {
      this.entry.emit(f.raw());
      return;
    }
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots.at(k)!;
      if (s.seq === after) {
        s.trailing.push(f.raw());
        return;
      }
    }
    this.entry.emit(f.raw());
  }

  /** Write every finished command at the head, in order. */
  private release(): void {
    let s = this.slots.peek();
    while (s && s.remaining === 0) {
      this.slots.shift();
      this.released = s.seq + 1;
      for (const b of s.frames) this.entry.emit(b);
      for (const b of s.trailing) this.entry.emit(b);
      if (s.sharded && !s.unsubscribe) this.pendingSharded--;
      if (s.sharded && this.sharded === 0 && this.pendingSharded === 0) this.shardedLink = -1;
      if (s.unsubscribe) {
        if (this.regular === 0 && this.sharded === 0 && this.slots.length === 0) {
          this.exit();
          return;
        }
        this.c.releaseBarrier();
        this.c.pump();
      }
      s = this.slots.peek();
    }
  }

  /** No subscription left: an ordinary client again. */
  private exit(): void {
    this.close();
    this.c.pump();
  }
}

/** The kind of a pub/sub frame (a confirmation or a message), else null. */
function pubsubKind(f: RespFrame, proto: 2 | 3): string | null {
  // RESP3 sends them as pushes; an array is the reply to a command (LRANGE...).
  if (f.type !== (proto === 3 ? RespType.Push : RespType.Array)) return null;
  if (f.length !== 3 && f.length !== 4) return null;
  const k = f.elements[0]!;
  if (k.isAggregate || k.length > 12) return null;
  const s = k.str('latin1').toLowerCase();
  if (MESSAGE_KINDS.has(s)) return s;
  return f.length === 3 && (REGULAR_KINDS.has(s) || SHARDED_KINDS.has(s)) ? s : null;
}

/** The reply to a marker: the token as a bulk string, or ["pong", token] (RESP2 in pub/sub mode). */
function isMarker(f: RespFrame): boolean {
  let v = f;
  if (f.type === RespType.Array || f.type === RespType.Push) {
    if (f.length !== 2) return false;
    v = f.elements[1]!;
  }
  return v.type === RespType.BulkString && v.bytes().equals(MARKER_BYTES);
}

/** Enter pub/sub mode with a SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE. */
export function subscribe(c: Session, frame: RespFrame, info: CommandInfo | undefined): boolean {
  const pools = c.endpoint.pools;
  if (pools.length === 0) {
    c.replyError(NO_SHARDS_YET);
    return true;
  }
  if (c.txn?.active) {
    c.replyError('ERR subscribing is not supported while a transaction or WATCH is open on this connection');
    return true;
  }
  if (c.replies.length > 0) return false; // earlier replies first
  // Redis's own arity error, and the client stays an ordinary client.
  if (info && !info.arityOk(c.view.argc)) return c.forward(frame, 0);
  if (c.view.name === 'ssubscribe' && !c.routeOk(c.route(info))) return true;
  const pipe = new PubSubPipe(c, c.id % pools.length);
  c.enterPubSub(pipe);
  return pipe.dispatch(frame);
}
