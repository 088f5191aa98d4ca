import type { Logger, ProxyShardRoute } from '@minirs/common';
import type { RespFrame } from '@minirs/resp';
import { clock } from './clock.js';
import { ShardLink } from './shard-link.js';

export interface PoolContext {
  internalPassword: string;
  log: Logger;
  timeoutMs: () => number;
  /** Shared pipelined links per shard and protocol. */
  linksPerShard: number;
  onLinkReady(pool: ShardPool, link: ShardLink, hello: RespFrame): void;
  onLinkDown(pool: ShardPool, link: ShardLink, reason: string): void;
}

/** Idle private links kept per protocol, for the next MULTI or blocking command. */
const MAX_IDLE_PRIVATE = 4;
/**
 * While a script runs on the shard, its redis-server answers no connection until its
 * busy-reply-threshold (RS allows up to 60000 ms), then BUSY: links allow that much longer.
 */
const SCRIPT_GRACE_MS = 60_000;

/**
 * The connections of one endpoint to one shard: a few shared, pipelined links per protocol
 * (RESP2 and RESP3 clients need replies in their own protocol, so each gets links speaking
 * it), plus private links lent to one client at a time for MULTI/WATCH, blocking commands and
 * pub/sub. A client always uses the same shared link of a shard, so its commands to that
 * shard run in the order it sent them.
 */
export class ShardPool {
  private readonly shared: [ShardLink[], ShardLink[]] = [[], []];
  private readonly idle: [ShardLink[], ShardLink[]] = [[], []];
  private readonly lent = new Set<ShardLink>();
  /** Scripts and functions in flight on this shard's private links (ClientSession.runBlocking). */
  private running = 0;
  /** When the last script in flight answered: commands queued behind it get their timeout from then. */
  private scriptEndedAt = 0;
  private readonly grace = () => (this.running > 0 ? SCRIPT_GRACE_MS : 0);
  private readonly freeSince = () => this.scriptEndedAt;

  get scriptsRunning(): number {
    return this.running;
  }

  scriptStarted(): void {
    this.running++;
  }

  scriptEnded(): void {
    this.running--;
    this.scriptEndedAt = clock.now;
  }

  constructor(
    private readonly ctx: PoolContext,
    public route: ProxyShardRoute,
  ) {
    // Connect one link now: the shard's command table and health are known before clients come.
    this.link(2, 0);
  }

  get uid(): number {
    return this.route.uid;
  }

  get label(): string {
    return `shard ${this.route.uid}`;
  }

  /** The primary link's state: is the shard reachable. */
  get primary(): ShardLink {
    return this.link(2, 0);
  }

  /** The shared link of this shard for a client. */
  link(protocol: 2 | 3, clientId: number): ShardLink {
    const links = this.shared[protocol - 2]!;
    const i = clientId % this.ctx.linksPerShard;
    let l = links[i];
    if (!l || l.state === 'closed') {
      l = this.newLink(protocol, true);
      links[i] = l;
    }
    return l;
  }

  private newLink(protocol: 2 | 3, reconnect: boolean, onDown?: (reason: string) => void): ShardLink {
    return new ShardLink({
      host: this.route.host,
      port: this.route.port,
      password: this.ctx.internalPassword,
      protocol,
      label: this.label,
      log: this.ctx.log,
      reconnect,
      timeoutMs: this.ctx.timeoutMs,
      graceMs: this.grace,
      freeSince: this.freeSince,
      onReady: (link, hello) => this.ctx.onLinkReady(this, link, hello),
      onDown: (link, reason) => {
        onDown?.(reason);
        this.ctx.onLinkDown(this, link, reason);
      },
    });
  }

  /** A link for one client alone (MULTI/WATCH, blocking command); give it back with release(). */
  acquirePrivate(protocol: 2 | 3): ShardLink {
    const idle = this.idle[protocol - 2]!;
    let link = idle.pop();
    while (link && link.state !== 'ready' && link.state !== 'connecting') link = idle.pop();
    link ??= this.newLink(protocol, false);
    this.lent.add(link);
    return link;
  }

  /** A dedicated link that is never pooled again (pub/sub, replication pipe). */
  dedicated(protocol: 2 | 3, onDown: (reason: string) => void): ShardLink {
    const link = this.newLink(protocol, false, onDown);
    this.lent.add(link);
    return link;
  }

  /** Give back a private link; `clean` says its connection state is as new (no MULTI/WATCH/block). */
  release(link: ShardLink, clean: boolean): void {
    this.lent.delete(link);
    const idle = this.idle[link.opts.protocol - 2]!;
    if (clean && link.state === 'ready' && link.inFlight === 0 && idle.length < MAX_IDLE_PRIVATE)
      idle.push(link);
    else link.close('private link released');
  }

  /** Apply a new route; a moved shard gets fresh links (in-flight commands fail). */
  update(route: ProxyShardRoute): void {
    const moved = route.host !== this.route.host || route.port !== this.route.port;
    const activated = route.status === 'active' && this.route.status !== 'active';
    this.route = route;
    if (!moved) {
      // The manager says the shard answers now (a new database's shard was starting while
      // the links backed off): try again at once instead of at the end of the backoff.
      if (activated) for (const links of this.shared) for (const l of links) l?.retryNow();
      return;
    }
    this.closeLinks('shard moved');
    this.link(2, 0);
  }

  checkTimeouts(now: number): void {
    for (const links of this.shared) for (const l of links) l?.checkTimeout(now);
    for (const l of this.lent) l.checkTimeout(now);
  }

  private closeLinks(reason: string): void {
    for (const links of this.shared) {
      for (const l of links) l?.close(reason);
      links.length = 0;
    }
    for (const idle of this.idle) {
      for (const l of idle) l.close(reason);
      idle.length = 0;
    }
    for (const l of this.lent) l.close(reason);
    this.lent.clear();
  }

  close(): void {
    this.closeLinks('shard removed from the database');
  }
}
