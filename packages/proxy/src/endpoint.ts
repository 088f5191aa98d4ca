import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { encodeCommand } from '@minirs/resp';
import type { EndpointStats, Logger, ProxyDbConfig } from '@minirs/common';
import { ClientSession } from './client-session.js';
import { onTick } from './clock.js';
import { CommandTable } from './command-table.js';
import { SLOTS } from './crc16.js';
import { ShardKeyRules } from './shard-key.js';
import type { Session, SessionHost, TableWaiter } from './session.js';
import type { ShardLink } from './shard-link.js';
import { type PoolContext, ShardPool } from './shard-pool.js';
import type { TlsAcceptor } from './tls.js';

/** Bound on the scripts remembered as loaded everywhere (past it, they are loaded again). */
const MAX_LOADED_SCRIPTS = 10_000;

export interface EndpointContext {
  /** Address every endpoint of this node binds. */
  addr: string;
  internalPassword: string;
  log: Logger;
  timeoutMs: () => number;
  linksPerShard: number;
  nextClientId(): number;
  tls: TlsAcceptor;
  /** The endpoint can (ready) or cannot serve a command on every shard any more. */
  onReadiness?(endpoint: DbEndpoint, ready: boolean, why: string): void;
  /** Every shard of the database took these CONFIG SET settings (names lowercase). */
  onConfigSet?(endpoint: DbEndpoint, settings: Record<string, string>): void;
}

/** What each endpoint reports in the proxy's stats (a control-channel message: common). */
export type { EndpointStats };

/**
 * One database's endpoint on this node: its listener, its clients, its hash policy and its
 * links to every shard. Config updates apply in place: clients stay connected while routes,
 * passwords and rules change under them.
 */
export class DbEndpoint implements SessionHost {
  config: ProxyDbConfig;
  rules: ShardKeyRules;
  pools: ShardPool[] = [];
  /** Pool index serving each slot, -1 where no shard does. */
  slotOwner = new Int16Array(SLOTS).fill(-1);
  /** Hash keys to slots and enforce the one-slot rule. */
  sharded = false;
  commands: CommandTable | null = null;
  readonly clients = new Set<ClientSession>();
  ops = 0;
  totalConnections = 0;
  listening = false;
  /** Listening, the command table known and every shard's primary link ready. */
  ready = false;

  private server: Server | null = null;
  private readonly tableWaiters = new Set<TableWaiter>();
  private readonly poolCtx: PoolContext;
  private readonly stopTick: () => void;
  private lastOps = 0;
  private lastOpsAt = Date.now();
  opsPerSec = 0;

  constructor(
    readonly ctx: EndpointContext,
    config: ProxyDbConfig,
  ) {
    this.config = config;
    this.rules = ShardKeyRules.compile(config.shard_key_regex);
    this.poolCtx = {
      internalPassword: ctx.internalPassword,
      log: ctx.log,
      timeoutMs: ctx.timeoutMs,
      linksPerShard: ctx.linksPerShard,
      onLinkReady: (pool, link) => this.linkReady(pool, link),
      onLinkDown: () => this.linkDown(),
    };
    this.applyShards(config);
    this.stopTick = onTick((now) => {
      for (const p of this.pools) p.checkTimeouts(now);
      this.expireTableWaits(now);
    });
  }

  get uid(): number {
    return this.config.uid;
  }

  get log(): Logger {
    return this.ctx.log;
  }

  /** Start listening on addr:port; rejects with the listen error (EADDRINUSE...). */
  async listen(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.ctx.addr, port: this.config.port, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ bdb_uid: this.uid, err }, 'endpoint listener error'));
    this.listening = true;
    this.checkReady();
  }

  /**
   * Report a change of readiness: every shard answers on its primary link and the command
   * table is known, so a client's command is served now (not after a reconnect).
   */
  checkReady(): void {
    const down = !this.listening
      ? 'not listening'
      : this.pools.length === 0
        ? 'no shards'
        : !this.commands
          ? 'command table not loaded yet'
          : (() => {
              const p = this.pools.find((x) => x.primary.state !== 'ready');
              return p
                ? `${p.label} link ${p.primary.state}${p.primary.lastError ? ` (${p.primary.lastError})` : ''}`
                : '';
            })();
    const ready = down === '';
    if (ready === this.ready) return;
    this.ready = ready;
    this.ctx.onReadiness?.(this, ready, down);
  }

  private accept(raw: Socket): void {
    raw.setNoDelay(true);
    this.ctx.tls.accept(raw, this.config, (socket, tlsInfo) => {
      if (!this.listening) {
        socket.destroy();
        return;
      }
      const client = new ClientSession(this, socket, this.ctx.nextClientId(), tlsInfo);
      this.clients.add(client);
      this.totalConnections++;
      socket.once('close', () => {
        this.clients.delete(client);
        this.tableWaiters.delete(client);
      });
    });
  }

  /** Apply a new config of the same database (same port). */
  update(config: ProxyDbConfig): void {
    if (JSON.stringify(config.shard_key_regex) !== JSON.stringify(this.config.shard_key_regex)) {
      this.rules = ShardKeyRules.compile(config.shard_key_regex);
    }
    this.config = config;
    this.applyShards(config);
    // Subscribers and monitors hold a link to every shard: they cannot follow a change of shards.
    const uids = this.pools.map((p) => p.uid);
    for (const c of this.clients) c.shardsChanged(uids);
    this.checkReady();
  }

  private applyShards(config: ProxyDbConfig): void {
    const routes = [...config.shards].sort((a, b) => a.slot_start - b.slot_start);
    const old = new Map(this.pools.map((p) => [p.uid, p]));
    const pools: ShardPool[] = [];
    for (const r of routes) {
      const existing = old.get(r.uid);
      if (existing) {
        existing.update(r);
        old.delete(r.uid);
        pools.push(existing);
      } else {
        pools.push(new ShardPool(this.poolCtx, r));
      }
    }
    for (const p of old.values()) p.close();
    this.pools = pools;
    const owner = new Int16Array(SLOTS).fill(-1);
    pools.forEach((p, i) => {
      const from = Math.max(0, p.route.slot_start);
      const to = Math.min(SLOTS - 1, p.route.slot_end);
      for (let s = from; s <= to; s++) owner[s] = i;
    });
    this.slotOwner = owner;
    this.sharded = config.sharding || pools.length > 1;
  }

  private linkReady(pool: ShardPool, link: ShardLink): void {
    this.checkReady();
    if (this.commands && this.commands.version === link.redisVersion) return;
    if (link.opts.protocol !== 2 || this.loadingTable) return;
    // Fetch the shard's command table once (again if a restarted shard runs another version).
    this.loadingTable = true;
    link.send(Buffer.from('*1\r\n$7\r\nCOMMAND\r\n'), 0, 17, {
      sentAt: 0,
      onReply: (frame) => {
        this.loadingTable = false;
        if (frame.isError) {
          this.log.error({ shard: pool.uid, error: frame.str() }, 'COMMAND failed on shard');
          return;
        }
        this.commands = CommandTable.fromReply(frame, link.redisVersion);
        this.log.info(
          { bdb_uid: this.uid, shard: pool.uid, commands: this.commands.size },
          'command table loaded',
        );
        const waiters = [...this.tableWaiters];
        this.tableWaiters.clear();
        for (const c of waiters) c.pump();
        this.checkReady();
      },
      onError: () => {
        this.loadingTable = false;
      },
    });
  }

  private loadingTable = false;

  /** SHA1s of the scripts EVAL sent to every shard (see loadEverywhere). */
  private readonly loadedScripts = new Set<string>();

  /**
   * A script run with EVAL is cached by the shard that runs it; on a sharded database the
   * others get it too (SCRIPT LOAD, sent on the client's links, so its next commands find it),
   * so SCRIPT EXISTS and EVALSHA answer for the database as they would after EVAL on one Redis.
   * Sent once per script until SCRIPT FLUSH or a shard link goes down (a restarted shard has
   * no scripts).
   */
  loadEverywhere(c: Session, body: Buffer): void {
    if (this.pools.length <= 1) return;
    if (!this.scriptLoaded(body)) return;
    const cmd = encodeCommand(['SCRIPT', 'LOAD', body]);
    for (let i = 0; i < this.pools.length; i++)
      c.linkFor(i).send(cmd, 0, cmd.length, { sentAt: 0, onReply() {}, onError() {} });
  }

  /** A script goes to every shard (SCRIPT LOAD, or EVAL): false when it did already. */
  scriptLoaded(body: Buffer): boolean {
    const sha = createHash('sha1').update(body).digest('hex');
    if (this.loadedScripts.has(sha)) return false;
    if (this.loadedScripts.size >= MAX_LOADED_SCRIPTS) this.loadedScripts.clear();
    this.loadedScripts.add(sha);
    return true;
  }

  configSet(settings: Record<string, string>): void {
    this.ctx.onConfigSet?.(this, settings);
  }

  /** SCRIPT FLUSH went to every shard. */
  scriptsFlushed(): void {
    this.loadedScripts.clear();
  }

  private linkDown(): void {
    this.loadedScripts.clear();
    this.checkReady();
  }

  /** Clients waiting for the command table longer than the shard timeout get TRYAGAIN. */
  private expireTableWaits(now: number): void {
    if (this.tableWaiters.size === 0) return;
    const limit = this.ctx.timeoutMs();
    for (const c of [...this.tableWaiters]) {
      if (now - c.tableWaitSince > limit) {
        this.tableWaiters.delete(c);
        c.pump();
      }
    }
  }

  /**
   * Is the command table known? If not, the client is woken when it is, or, once it has
   * waited the shard timeout for a shard to answer, told to retry (TRYAGAIN).
   */
  awaitCommands(client: TableWaiter): true | false | string {
    if (this.commands) {
      client.tableWaitSince = 0;
      return true;
    }
    if (this.pools.length === 0) return 'ERR this database has no shards yet; retry later';
    const now = Date.now();
    if (client.tableWaitSince === 0) client.tableWaitSince = now;
    else if (now - client.tableWaitSince > this.ctx.timeoutMs()) {
      client.tableWaitSince = 0;
      const p = this.pools[0]!.primary;
      return `TRYAGAIN no shard of this database answered within ${this.ctx.timeoutMs()} ms (${p.opts.label}: ${p.lastError || p.state}); the command was not sent, retry it`;
    }
    // A ready link that has not loaded a table yet (e.g. its COMMAND failed): ask again.
    if (!this.loadingTable) {
      const ready = this.pools.find((p) => p.primary.state === 'ready');
      if (ready) this.linkReady(ready, ready.primary);
    }
    this.tableWaiters.add(client);
    return false;
  }

  stats(now: number): EndpointStats {
    const dt = (now - this.lastOpsAt) / 1000;
    if (dt >= 0.5) {
      this.opsPerSec = Math.round((this.ops - this.lastOps) / dt);
      this.lastOps = this.ops;
      this.lastOpsAt = now;
    }
    return {
      bdb_uid: this.uid,
      port: this.config.port,
      listening: this.listening,
      conns: this.clients.size,
      total_conns: this.totalConnections,
      total_ops: this.ops,
      ops_per_sec: this.opsPerSec,
      shards: this.pools.map((p) => ({ uid: p.uid, state: p.primary.state, error: p.primary.lastError })),
    };
  }

  /** Stop listening, disconnect clients, close shard links. */
  async close(): Promise<void> {
    this.listening = false;
    this.ready = false;
    this.stopTick();
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    for (const p of this.pools) p.close();
    this.pools = [];
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
