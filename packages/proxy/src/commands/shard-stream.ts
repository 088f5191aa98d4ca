import type { RespFrame } from '@minirs/resp';
import { StreamEntry } from '../reply-entry.js';
import type { Session, SessionMode } from '../session.js';
import type { ShardLink } from '../shard-link.js';
import type { ShardPool } from '../shard-pool.js';

const OK = Buffer.from('+OK\r\n');

/**
 * What pub/sub and MONITOR share: a dedicated link to every shard of the database, whose frames
 * go to the subclass, and one never-complete entry in the client's reply queue that streams what
 * the client gets. A shard that goes away, or a change of the database's shards, closes the
 * client (it reconnects, as from a Redis server going down). QUIT and RESET end the mode.
 */
export abstract class ShardStream implements SessionMode {
  protected readonly pools: readonly ShardPool[];
  protected readonly links: ShardLink[];
  private readonly uids: number[];
  protected readonly entry: StreamEntry;
  protected closed = false;

  constructor(
    protected readonly c: Session,
    /** Logged when a link is lost: what closes ('pub/sub link lost; closing the subscriber'). */
    private readonly lostMessage: string,
    /** Sent first on every link (MONITOR). */
    first?: Buffer,
  ) {
    this.pools = c.endpoint.pools;
    this.uids = this.pools.map((p) => p.uid);
    this.links = this.pools.map((pool, i) => {
      const link = pool.dedicated(c.proto, (reason) => this.lost(reason));
      link.pipe = (f) => this.onFrame(i, f);
      if (first) link.sendRaw(first, 0, first.length);
      return link;
    });
    this.entry = new StreamEntry(c, c.out);
    c.replies.push(this.entry);
    if (c.replies.peek() === this.entry) this.entry.atHead(c.out);
  }

  abstract dispatch(frame: RespFrame): boolean;

  /** A frame from link i. */
  protected abstract onFrame(i: number, f: RespFrame): void;

  /** A reply the proxy makes, in its place among the others. */
  protected abstract local(bytes: Buffer): void;

  /** QUIT and RESET: the reply to the command, or null for any other command. */
  protected ending(name: string): boolean | null {
    if (name === 'quit') {
      this.local(OK);
      this.close();
      this.c.endWhenFlushed();
      return true;
    }
    if (name === 'reset') {
      this.close();
      return this.c.reset();
    }
    return null;
  }

  /** The shards of the database changed: the links cannot follow, so the client is closed. */
  shardsChanged(uids: number[]): void {
    if (uids.length === this.uids.length && uids.every((u, i) => u === this.uids[i])) return;
    this.lost('the shards of the database changed');
  }

  protected lost(reason: string): void {
    if (this.closed) return;
    this.c.endpoint.log.warn({ client: this.c.id, reason }, this.lostMessage);
    this.close();
    this.c.destroy();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.links.forEach((link, i) => {
      link.pipe = null;
      this.pools[i]!.release(link, false);
    });
    this.c.leaveMode(this);
    this.c.releaseBarrier();
    this.entry.finish();
  }
}
