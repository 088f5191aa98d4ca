import {
  type ChildControlServer,
  ControlServer,
  type EventMessage,
  type Logger,
  type ProxyConfigMessage,
  type ProxyDbConfig,
  type ProxyDownMessage,
  type ProxyEvents,
  type ProxyProcessConfig,
  type ProxyStats,
  type ProxyUpMessage,
} from '@minirs/common';
import { DbEndpoint } from './endpoint.js';
import { TlsAcceptor } from './tls.js';

/** The config and stats messages of the control channel (their types live in common). */
export type { ProxyConfigMessage, ProxyStats };

export const DEFAULT_SHARD_TIMEOUT_MS = 3000;
const DEFAULT_LINKS_PER_SHARD = 1;

/**
 * The proxy process of one node: every database endpoint on the node, driven by the
 * cluster-manager over the control socket. Each `config` message is the full list of
 * databases; applying it opens, updates and closes endpoints so the node serves exactly those.
 */
export class ProxyProcess {
  private readonly endpoints = new Map<number, DbEndpoint>();
  private readonly control: ChildControlServer<'proxy'>;
  private readonly tls: TlsAcceptor;
  private applying: Promise<void> = Promise.resolve();
  private statsTimer: NodeJS.Timeout | null = null;
  private nextClientId = 1;
  private shardTimeoutMs: number;
  private linksPerShard: number;
  private readonly startedAt = new Date().toISOString();
  private stopped = false;

  constructor(
    readonly cfg: ProxyProcessConfig,
    readonly log: Logger,
  ) {
    this.shardTimeoutMs = Number(process.env.MINIRS_PROXY_SHARD_TIMEOUT_MS) || DEFAULT_SHARD_TIMEOUT_MS;
    this.linksPerShard = Number(process.env.MINIRS_PROXY_LINKS_PER_SHARD) || DEFAULT_LINKS_PER_SHARD;
    this.tls = new TlsAcceptor({ cert: cfg.tls_cert, key: cfg.tls_key }, log);
    this.control = new ControlServer<ProxyDownMessage, ProxyUpMessage>(
      cfg.socket,
      () => ({
        type: 'hello',
        role: 'proxy',
        id: cfg.node_uid,
        pid: process.pid,
        started_at: this.startedAt,
        detail: { addr: cfg.addr },
      }),
      (op) => this.request(op),
    );
    this.control.onMessage((m) => this.onMessage(m));
    this.control.on('protocol-error', (err: Error) =>
      this.log.warn({ err: err.message }, 'bad control frame'),
    );
  }

  async start(): Promise<void> {
    await this.control.listen();
    this.statsTimer = setInterval(() => this.control.broadcast({ type: 'stats', stats: this.stats() }), 1000);
    this.statsTimer.unref();
    this.log.info(
      { node_uid: this.cfg.node_uid, addr: this.cfg.addr, socket: this.cfg.socket },
      'proxy started',
    );
  }

  private onMessage(m: ProxyDownMessage): void {
    if (m.type === 'config') {
      void this.applyConfig(m.config);
    } else if (m.type === 'shutdown') {
      this.log.info('shutdown requested by the manager');
      void this.shutdown().then(() => process.exit(0));
    }
  }

  private request(op: string): unknown {
    if (op === 'stats') return this.stats();
    if (op === 'ping') return 'pong';
    throw new Error(`unknown request ${op}`);
  }

  /** Apply a full config; configs apply one after the other, in arrival order. */
  applyConfig(config: ProxyConfigMessage): Promise<void> {
    this.applying = this.applying
      .then(() => this.apply(config))
      .catch((err: unknown) => {
        this.log.error({ err: (err as Error).message }, 'applying config failed');
      });
    return this.applying;
  }

  private async apply(config: ProxyConfigMessage): Promise<void> {
    if (this.stopped) return;
    this.lastConfig = config;
    if (config.shard_timeout_ms && config.shard_timeout_ms > 0) this.shardTimeoutMs = config.shard_timeout_ms;
    if (config.links_per_shard && config.links_per_shard > 0) this.linksPerShard = config.links_per_shard;
    const wanted = new Map<number, ProxyDbConfig>();
    for (const db of config.dbs ?? []) wanted.set(db.uid, db);
    for (const [uid, ep] of this.endpoints) {
      const next = wanted.get(uid);
      if (!next || next.port !== ep.config.port || !ep.listening) {
        this.endpoints.delete(uid);
        await ep.close();
        if (!next) this.log.info({ bdb_uid: uid }, 'endpoint closed');
      }
    }
    for (const db of wanted.values()) {
      const ep = this.endpoints.get(db.uid);
      if (ep) {
        try {
          ep.update(db);
        } catch (err) {
          this.report('config-error', { bdb_uid: db.uid, error: (err as Error).message });
        }
        continue;
      }
      await this.open(db);
    }
  }

  private async open(db: ProxyDbConfig): Promise<void> {
    let ep: DbEndpoint;
    try {
      ep = new DbEndpoint(
        {
          addr: this.cfg.addr,
          internalPassword: this.cfg.internal_password,
          log: this.log,
          timeoutMs: () => this.shardTimeoutMs,
          linksPerShard: this.linksPerShard,
          nextClientId: () => this.nextClientId++,
          tls: this.tls,
          onConfigSet: (e, settings) => this.report('config-set', { bdb_uid: e.uid, settings }),
          onReadiness: (e, ready, why) => {
            if (this.endpoints.get(e.uid) !== e && ready) return;
            this.log.info({ bdb_uid: e.uid, port: e.config.port, ready, why }, 'endpoint readiness');
            this.report(ready ? 'ready' : 'not-ready', {
              bdb_uid: e.uid,
              port: e.config.port,
              ...(ready ? {} : { reason: why }),
            });
          },
        },
        db,
      );
    } catch (err) {
      this.report('config-error', { bdb_uid: db.uid, error: (err as Error).message });
      return;
    }
    try {
      await ep.listen();
    } catch (err) {
      await ep.close();
      const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.log.error({ bdb_uid: db.uid, port: db.port, error }, 'endpoint cannot listen');
      this.report('listen-failed', { bdb_uid: db.uid, port: db.port, error });
      // A port taken for a moment (another process's short-lived socket) frees itself: try again
      // with the newest config rather than wait for the manager's next push.
      if (error === 'EADDRINUSE') this.retryListenSoon();
      return;
    }
    this.endpoints.set(db.uid, ep);
    this.listenRetries = 0;
    this.log.info(
      { bdb_uid: db.uid, addr: this.cfg.addr, port: db.port, shards: db.shards.length },
      'endpoint listening',
    );
    this.report('listening', { bdb_uid: db.uid, port: db.port });
    // Readiness may have been reached before the endpoint was registered: report it now.
    if (ep.ready) this.report('ready', { bdb_uid: db.uid, port: db.port });
  }

  private lastConfig?: ProxyConfigMessage;
  private listenRetry?: NodeJS.Timeout;

  private listenRetries = 0;

  /** Up to 20 tries, 500 ms apart; a port that stays taken is the manager's to resolve. */
  private retryListenSoon(): void {
    if (this.listenRetry || this.stopped || this.listenRetries >= 20) return;
    this.listenRetries++;
    this.listenRetry = setTimeout(() => {
      this.listenRetry = undefined;
      if (this.lastConfig && !this.stopped) void this.applyConfig(this.lastConfig);
    }, 500);
    this.listenRetry.unref();
  }

  private report<E extends keyof ProxyEvents & string>(event: E, detail: ProxyEvents[E]): void {
    // The signature pairs event and detail; TS cannot carry that pairing into the union itself.
    this.control.broadcast({ type: 'event', event, detail } as EventMessage<ProxyEvents>);
  }

  stats(): ProxyStats {
    const now = Date.now();
    return {
      node_uid: this.cfg.node_uid,
      pid: process.pid,
      dbs: [...this.endpoints.values()].map((e) => e.stats(now)),
    };
  }

  /** Close every endpoint and the control socket. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    await this.applying;
    await Promise.all([...this.endpoints.values()].map((e) => e.close()));
    this.endpoints.clear();
    await this.control.close();
    this.log.info('proxy stopped');
  }
}
