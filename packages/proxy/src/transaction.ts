import type { RespFrame } from '@minirs/resp';
import { CROSSSLOT_ERROR, type ClientSession, KEYLESS } from './client-session.js';
import { ForwardEntry } from './reply-entry.js';
import { DISCARD_REPLY, type ShardLink } from './shard-link.js';
import type { ShardPool } from './shard-pool.js';

/** Commands that act on the transaction itself instead of being queued in it. */
export const TXN_CONTROL = new Set(['exec', 'discard', 'multi', 'watch', 'quit', 'reset']);

const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
const DISCARD = Buffer.from('*1\r\n$7\r\nDISCARD\r\n');
const EXECABORT = 'EXECABORT Transaction discarded because of previous errors.';

/**
 * WATCH / MULTI / EXEC of one client. A transaction runs on one private link to the shard of
 * its keys, and all its keys (watched ones included) must be in one slot.
 *
 * The shard is not known at MULTI: the proxy answers MULTI itself and queues keyless commands
 * (answering +QUEUED after checking them against the command table) until the first command
 * with keys picks the shard; then MULTI and the queued commands are replayed on a private link
 * and their replies discarded. A transaction that never names a key runs on the first shard.
 * A command that breaks the one-slot rule gets CROSSSLOT and dooms the transaction, as Redis
 * Cluster does: EXEC then answers EXECABORT.
 */
export class Transaction {
  inMulti = false;
  private link: ShardLink | null = null;
  private pool: ShardPool | null = null;
  private slot = -1;
  private dirty = false;
  private watching = false;
  /** Keyless commands answered +QUEUED before the shard was known. */
  private localQueue: RespFrame[] = [];
  private sentCount = 0;

  constructor(private readonly c: ClientSession) {}

  get queuedCount(): number {
    return this.localQueue.length + this.sentCount;
  }

  /** Route the current command; returns the pool index, or -1 after replying an error. */
  private target(): number {
    const c = this.c;
    const t = c.route(c.endpoint.commands?.lookup(c.view));
    if (t === KEYLESS) return this.pool ? c.endpoint.pools.indexOf(this.pool) : KEYLESS;
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

  /** Open the private link to pool `index` and replay MULTI and the locally queued commands. */
  private open(index: number, replayMulti: boolean): ShardLink {
    const pool = this.c.endpoint.pools[index]!;
    const link = pool.acquirePrivate(this.c.proto);
    this.pool = pool;
    this.link = link;
    if (replayMulti) link.send(MULTI, 0, MULTI.length, DISCARD_REPLY);
    for (const f of this.localQueue) link.send(f.buf, f.start, f.end, DISCARD_REPLY);
    this.sentCount += this.localQueue.length;
    this.localQueue = [];
    return link;
  }

  private send(frame: RespFrame, after?: (e: ForwardEntry) => void): void {
    const e = new ForwardEntry(this.c);
    if (after) e.after = () => after(e);
    this.c.replies.push(e);
    this.link!.send(frame.buf, frame.start, frame.end, e);
  }

  /** Back to no transaction: the link goes back to its pool (clean only if Redis says so). */
  private finish(clean: boolean): void {
    if (this.link && this.pool) this.pool.release(this.link, clean);
    this.link = null;
    this.pool = null;
    this.inMulti = false;
    this.watching = false;
    this.dirty = false;
    this.slot = -1;
    this.localQueue = [];
    this.sentCount = 0;
  }

  watch(frame: RespFrame): boolean {
    const c = this.c;
    if (this.inMulti) {
      c.replyError('ERR WATCH inside MULTI is not allowed');
      return true;
    }
    if (c.replies.length > 0 && !this.link) return false; // earlier writes first
    const t = this.target();
    if (t < 0 && t !== KEYLESS) return true;
    if (!this.link) this.open(t === KEYLESS ? 0 : t, false);
    this.watching = true;
    this.send(frame);
    return true;
  }

  unwatch(frame: RespFrame): boolean {
    if (!this.link) {
      this.c.replyBytes(Buffer.from('+OK\r\n'));
      return true;
    }
    this.send(frame, (e) => {
      if (!this.inMulti) this.finish(!e.failed);
    });
    return true;
  }

  multi(frame: RespFrame): boolean {
    const c = this.c;
    if (this.inMulti) {
      c.replyError('ERR MULTI calls can not be nested');
      return true;
    }
    if (c.replies.length > 0 && !this.link) return false; // earlier writes first
    this.inMulti = true;
    if (this.link) this.send(frame);
    else c.replyBytes(Buffer.from('+OK\r\n'));
    return true;
  }

  /** A command inside MULTI. */
  queue(frame: RespFrame): boolean {
    const c = this.c;
    const info = c.endpoint.commands?.lookup(c.view);
    if (!this.link) {
      if (!info) {
        this.dirty = true;
        c.replyError(`ERR unknown command '${c.view.argString(0).slice(0, 64)}'`);
        return true;
      }
      if (!info.arityOk(c.view.argc)) {
        this.dirty = true;
        c.replyError(`ERR wrong number of arguments for '${c.view.name}' command`);
        return true;
      }
    }
    const t = this.target();
    if (t < 0 && t !== KEYLESS) {
      this.dirty = true;
      return true;
    }
    if (!this.link) {
      if (t === KEYLESS) {
        this.localQueue.push(frame);
        c.replyBytes(Buffer.from('+QUEUED\r\n'));
        return true;
      }
      this.open(t, true);
    }
    this.sentCount++;
    this.send(frame, (e) => {
      if (e.failed) this.dirty = true;
    });
    return true;
  }

  exec(frame: RespFrame): boolean {
    const c = this.c;
    if (!this.inMulti) {
      c.replyError('ERR EXEC without MULTI');
      return true;
    }
    if (this.dirty) {
      const { link, pool } = this;
      if (link && pool) {
        // The shard still owes replies to the commands queued before the one that doomed the
        // transaction (a pipelined MULTI): let them and DISCARD's arrive, then drop the link.
        const release = () => pool.release(link, false);
        link.send(DISCARD, 0, DISCARD.length, { sentAt: 0, onReply: release, onError: release });
      }
      this.link = null;
      this.pool = null;
      this.finish(false);
      c.replyError(EXECABORT);
      return true;
    }
    if (!this.link) {
      if (c.endpoint.pools.length === 0) {
        this.finish(false);
        c.replyError('ERR this database has no shards yet; retry later');
        return true;
      }
      this.open(0, true);
    }
    this.send(frame, (e) => this.finish(!e.failed));
    return true;
  }

  discard(frame: RespFrame): boolean {
    const c = this.c;
    if (!this.inMulti) {
      c.replyError('ERR DISCARD without MULTI');
      return true;
    }
    if (!this.link) {
      this.finish(true);
      c.replyBytes(Buffer.from('+OK\r\n'));
      return true;
    }
    this.send(frame, (e) => this.finish(!e.failed));
    return true;
  }

  /** The client is gone or reset: the private link may hold MULTI/WATCH state, so it is closed. */
  abandon(): void {
    this.finish(false);
  }

  get active(): boolean {
    return this.inMulti || this.watching;
  }
}
