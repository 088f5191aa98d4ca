import type { RespFrame } from '@minirs/resp';
import { CommandFlag } from '../command-table.js';
import { ForwardEntry } from '../reply-entry.js';
import { CROSSSLOT_ERROR, KEYLESS, NO_SHARDS_YET } from '../routing.js';
import type { Session, TxnCommands } from '../session.js';
import { DISCARD_REPLY, type ShardLink } from '../shard-link.js';
import type { ShardPool } from '../shard-pool.js';
import { notAllowedMessage } from './not-allowed.js';

/** Commands that act on the transaction itself instead of being queued in it (as in Redis). */
export const TXN_CONTROL = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n');
const OK = Buffer.from('+OK\r\n');
const QUEUED = Buffer.from('+QUEUED\r\n');
const EXECABORT = 'EXECABORT Transaction discarded because of previous errors.';

/**
 * Commands the proxy answers (or refuses) outside MULTI. Queued on a shard as they are they
 * would act on the shard's connection instead of the client's (HELLO would switch the link's
 * protocol, AUTH would check the internal password, SUBSCRIBE would turn the link into a
 * subscriber), so inside MULTI they are refused, which aborts the transaction like any
 * command Redis rejects while queueing.
 */
const NOT_QUEUEABLE = new Set([
  'auth',
  'hello',
  'client',
  // A shard's ACL would describe its internal user, or change it.
  'acl',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'minirs.shards',
  'minirs.link',
]);

/**
 * WATCH / MULTI / EXEC of one client, modelled on what redis-server's state for this client
 * is once it has run every command dispatched so far: a pipeline `MULTI ... EXEC MULTI ...
 * EXEC SET` must be read exactly as Redis reads it, so every state change happens when a
 * command is dispatched, never when its reply comes back.
 *
 * A transaction runs on one private link to the shard of its keys, and all its keys (watched
 * ones included) must be in one slot. Where the shard is known at MULTI (WATCH chose it, or the
 * database has one shard) MULTI goes to the shard at once and the shard answers everything
 * itself. Otherwise the proxy answers MULTI and queues keyless commands locally (checking
 * them against the command table as Redis would) until the first command with keys picks the
 * shard; then MULTI and the queued commands are replayed on the private link and their
 * replies dropped. A transaction that never names a key runs on the first shard. A command
 * that breaks the one-slot rule gets CROSSSLOT and dooms the transaction, as Redis Cluster
 * does: EXEC then answers EXECABORT (and DISCARD goes to the shard).
 *
 * Ordering: while the client holds the private link of a shard (during WATCH/MULTI, and after
 * EXEC, DISCARD or UNWATCH until every reply on it is in), all its commands to that shard go on
 * that link (see Session.linkFor), so nothing overtakes the transaction. A private link
 * is taken only once every earlier command of the client has been answered, unless the one it
 * already holds is to the same shard; pipelined transactions on one shard therefore flow
 * without a round trip between them.
 */
export class Transaction implements TxnCommands {
  /** The client is inside MULTI. */
  inMulti = false;
  /** MULTI has been sent on the link (else the proxy is queueing keyless commands). */
  private onLink = false;
  private watching = false;
  /** The proxy refused a command of this MULTI: EXEC answers EXECABORT. */
  private dirty = false;
  private slot = -1;
  /** The private link (held while bound, then until idle) and its pool. */
  private link: ShardLink | null = null;
  private pool: ShardPool | null = null;
  /** Keyless commands answered +QUEUED before the shard was known. */
  private localQueue: RespFrame[] = [];
  private sentCount = 0;

  constructor(private readonly c: Session) {}

  get queuedCount(): number {
    return this.localQueue.length + this.sentCount;
  }

  /** MULTI or WATCH state lives on the link: it must not be given back. */
  private get bound(): boolean {
    return this.onLink || this.watching;
  }

  get active(): boolean {
    return this.inMulti || this.watching;
  }

  /**
   * The private link the client's commands to `pool` must use, or null. A link that is only
   * draining and has died is given up here (its commands already failed).
   */
  linkFor(pool: ShardPool): ShardLink | null {
    const link = this.link;
    if (!link || this.pool !== pool) return null;
    if (!this.bound && link.state === 'closed') {
      this.drop(false);
      return null;
    }
    return link;
  }

  /** Route the current command; returns the pool index or KEYLESS, or -1 after replying an error. */
  private target(): number {
    const c = this.c;
    const t = c.route(c.endpoint.commands?.lookup(c.view));
    if (t === KEYLESS) return KEYLESS;
    if (!c.routeOk(t)) return -1;
    if (c.endpoint.sharded) {
      if (this.slot >= 0 && c.routedSlot !== this.slot) {
        c.replyError(CROSSSLOT_ERROR);
        return -1;
      }
      this.slot = c.routedSlot;
    }
    return t;
  }

  /** Index of the pool the bound link belongs to (-1 if none). */
  private boundIndex(): number {
    return this.pool ? this.c.endpoint.pools.indexOf(this.pool) : -1;
  }

  /**
   * Hold a private link to pool `index`: the one already held if it is to that shard, else a
   * new one once every earlier command of this client has been answered (false = not yet;
   * the command is retried when a reply comes in).
   */
  private bind(index: number): boolean {
    const pool = this.c.endpoint.pools[index]!;
    if (this.link && this.pool === pool && this.link.state !== 'closed') return true;
    if (this.c.replies.length > 0) return false;
    this.drop(true);
    const link = pool.acquirePrivate(this.c.proto);
    link.onIdle = () => this.releaseIfIdle();
    this.link = link;
    this.pool = pool;
    return true;
  }

  /** Give the private link back (clean: Redis holds no MULTI/WATCH state for it). */
  private drop(clean: boolean): void {
    const { link, pool } = this;
    this.link = null;
    this.pool = null;
    if (!link || !pool) return;
    link.onIdle = null;
    pool.release(link, clean && link.inFlight === 0);
  }

  /** Called when the last reply on the private link is in, and after every state change. */
  private releaseIfIdle(): void {
    if (this.link && !this.bound && this.link.inFlight === 0) this.drop(true);
  }

  private send(frame: RespFrame): void {
    const e = new ForwardEntry(this.c);
    this.c.replies.push(e);
    this.link!.send(frame.buf, frame.start, frame.end, e);
  }

  /** Replay MULTI and the locally queued commands on the bound link. */
  private replay(): void {
    const link = this.link!;
    link.send(MULTI, 0, MULTI.length, DISCARD_REPLY);
    for (const f of this.localQueue) link.send(f.buf, f.start, f.end, DISCARD_REPLY);
    this.sentCount += this.localQueue.length;
    this.localQueue = [];
    this.onLink = true;
  }

  /** No MULTI and no WATCH any more. */
  private clear(): void {
    this.inMulti = false;
    this.onLink = false;
    this.watching = false;
    this.dirty = false;
    this.slot = -1;
    this.localQueue = [];
    this.sentCount = 0;
  }

  /** EXEC or DISCARD dispatched (Redis unwatches on both). */
  private ended(): void {
    this.clear();
    this.releaseIfIdle();
  }

  /**
   * WATCH or MULTI inside MULTI: Redis answers it with an error without aborting the
   * transaction; the shard does once MULTI is on the link, else the proxy (`error`).
   */
  private insideMulti(frame: RespFrame, error: string): boolean {
    if (this.onLink) this.send(frame);
    else this.c.replyError(error);
    return true;
  }

  watch(frame: RespFrame): boolean {
    const c = this.c;
    if (this.inMulti) return this.insideMulti(frame, 'ERR WATCH inside MULTI is not allowed');
    const info = c.endpoint.commands?.lookup(c.view);
    if (info && !info.arityOk(c.view.argc)) {
      c.replyError("ERR wrong number of arguments for 'watch' command");
      return true;
    }
    const slot = this.slot;
    let t = this.target();
    if (t === -1) return true;
    if (t === KEYLESS) t = 0;
    if (!this.bind(t)) {
      this.slot = slot;
      return false;
    }
    this.watching = true;
    this.send(frame);
    return true;
  }

  unwatch(_frame: RespFrame): boolean {
    // (Inside MULTI, UNWATCH is queued like any command.)
    if (this.watching) {
      this.send(_frame);
      this.watching = false;
      this.slot = -1;
      this.releaseIfIdle();
    } else {
      this.c.replyBytes(OK);
    }
    return true;
  }

  multi(frame: RespFrame): boolean {
    const c = this.c;
    if (this.inMulti) return this.insideMulti(frame, 'ERR MULTI calls can not be nested');
    if (this.watching) {
      this.inMulti = true;
      this.onLink = true;
      this.send(frame);
      return true;
    }
    if (c.endpoint.pools.length === 1) {
      // One shard: it is the transaction's shard whatever the keys; let it answer everything.
      if (!this.bind(0)) return false;
      this.inMulti = true;
      this.onLink = true;
      this.send(frame);
      return true;
    }
    this.inMulti = true;
    c.replyBytes(OK);
    return true;
  }

  /** A command inside MULTI. */
  queue(frame: RespFrame): boolean {
    const c = this.c;
    const v = c.view;
    const refusal = this.refusal();
    if (refusal) {
      this.dirty = true;
      c.replyError(refusal);
      return true;
    }
    if (!this.onLink) {
      const info = c.endpoint.commands?.lookup(v);
      const err = !info
        ? unknownCommand(c)
        : !info.arityOk(v.argc)
          ? `ERR wrong number of arguments for '${info.name}' command`
          : info.has(CommandFlag.NoMulti)
            ? 'ERR Command not allowed inside a transaction'
            : null;
      if (err) {
        this.dirty = true;
        c.replyError(err);
        return true;
      }
    }
    const slot = this.slot;
    const t = this.target();
    if (t === -1) {
      this.dirty = true;
      return true;
    }
    if (!this.onLink) {
      if (t === KEYLESS) {
        this.localQueue.push(frame);
        c.replyBytes(QUEUED);
        return true;
      }
      if (!this.bind(t)) {
        this.slot = slot;
        return false;
      }
      this.replay();
    } else if (t !== KEYLESS && t !== this.boundIndex()) {
      // Same slot, other pool: the slot map changed under the transaction.
      this.dirty = true;
      c.replyError(CROSSSLOT_ERROR);
      return true;
    }
    this.sentCount++;
    this.send(frame);
    return true;
  }

  /** Why the current command cannot be queued on a shard (null: it can). */
  private refusal(): string | null {
    const v = this.c.view;
    const name = v.name;
    if (NOT_QUEUEABLE.has(name)) {
      return `ERR command '${name.toUpperCase()}' is not supported inside MULTI through a database endpoint`;
    }
    if (name === 'select' && v.argc === 2 && v.argString(1, 'latin1') !== '0')
      return 'ERR DB index is out of range';
    // CONFIG GET is filtered by the proxy (a shard's own CONFIG GET would show its internal password).
    if (name === 'config')
      return "ERR command 'CONFIG' is not supported inside MULTI through a database endpoint";
    return notAllowedMessage(name);
  }

  exec(frame: RespFrame): boolean {
    const c = this.c;
    if (!this.inMulti) {
      c.replyError('ERR EXEC without MULTI');
      return true;
    }
    if (this.dirty) {
      // The shard may hold MULTI and the commands before the refused one: drop them there.
      if (this.onLink) this.link!.send(DISCARD, 0, DISCARD.length, DISCARD_REPLY);
      c.replyError(EXECABORT);
      this.ended();
      return true;
    }
    if (!this.onLink) {
      if (c.endpoint.pools.length === 0) {
        c.replyError(NO_SHARDS_YET);
        this.ended();
        return true;
      }
      if (!this.bind(0)) return false;
      this.replay();
    }
    this.send(frame);
    this.ended();
    return true;
  }

  discard(frame: RespFrame): boolean {
    const c = this.c;
    if (!this.inMulti) {
      c.replyError('ERR DISCARD without MULTI');
      return true;
    }
    if (this.onLink) this.send(frame);
    else c.replyBytes(OK);
    this.ended();
    return true;
  }

  /** The client is gone or reset: the private link may hold MULTI/WATCH state, so it is closed. */
  abandon(): void {
    this.clear();
    this.drop(false);
  }
}

/** Redis 7's reply to a command it does not know (processCommand's wording, args included). */
function unknownCommand(c: Session): string {
  const v = c.view;
  let args = '';
  for (let i = 1; i < v.argc && args.length < 128; i++) {
    args += `'${v.argString(i, 'latin1').slice(0, 128 - args.length)}' `;
  }
  const name = v.argString(0, 'latin1').slice(0, 128);
  return `ERR unknown command '${name}', with args beginning with: ${args}`.replace(/[\r\n]/g, ' ');
}
