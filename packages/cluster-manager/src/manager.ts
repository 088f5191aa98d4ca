import { readFileSync } from 'node:fs';
import {
  type BdbState,
  type ClusterPaths,
  ErrorCodes,
  type LinkFault,
  type Logger,
  MinirsError,
  type ProxyConfigMessage,
  type ProxyDbConfig,
  type ShardState,
  type ShardStats,
} from '@minirs/common';
import { Bdbs } from './bdbs.js';
import { Children } from './children.js';
import { HaController } from './failover.js';
import { ReplicaOf } from './replica-of.js';
import { aliasesOf } from './replication.js';
import type { StateStore } from './state-store.js';
import type { Child } from './supervisor.js';

export { slotRange } from './bdbs.js';

export type BdbView = BdbState & Record<string, unknown>;

/**
 * The cluster's control plane: owns the state, turns REST requests into state changes and
 * children, and keeps every child running. The concerns live in their own files, each holding
 * this manager: its children and their supervision (children.ts, `procs`; a node's crash and
 * start in nodes.ts), databases (bdbs.ts, `bdbs`; slave shards in slaves.ts), Replica Of's
 * syncers (replica-of.ts, `replicaOf`), failover (failover.ts, `ha`). Here: the state and what
 * every concern reads of it, the proxies' config, start and shutdown.
 */
export class ClusterManager {
  /** Link faults (partition, latency, ...) currently injected into syncers. */
  readonly linkFaults: { bdb_uid: number; fault: LinkFault }[] = [];
  /** Nodes crashed by a fault: none of their processes runs until the node is started again. */
  readonly downNodes = new Set<number>();
  /** Set by shutdown: no child is started any more, no shard state written. */
  stopping = false;
  /** (minirs) where the RS-style metrics exporter listens, once it does. */
  metricsExporterUrl?: string;
  /** Every shard, proxy and syncer process, and what they report (children.ts). */
  readonly procs = new Children(this);
  /** Database create, update, delete, flush (bdbs.ts). */
  readonly bdbs = new Bdbs(this);
  /** Replica Of: the syncers of destination databases (replica-of.ts). */
  readonly replicaOf = new ReplicaOf(this);
  /** Failover and write fences of replicated databases (failover.ts). */
  readonly ha = new HaController(this);

  constructor(
    readonly paths: ClusterPaths,
    readonly store: StateStore,
    readonly log: Logger,
  ) {}

  get state() {
    return this.store.get();
  }

  /** The running children by name (`shard-3`, `proxy-1`, `syncer-2`). */
  get children(): Map<string, Child> {
    return this.procs.children;
  }

  // ---- lifecycle ----

  /** Adopt or start every child the state calls for. */
  async start(): Promise<void> {
    // A master whose redis-server died while no manager ran would start again empty, for its
    // slave to copy: its slave (still running) is made the master first.
    this.ha.beforeStart();
    const s = this.state;
    const jobs: Promise<unknown>[] = [];
    for (const n of s.cluster.nodes) if (!this.downNodes.has(n.uid)) jobs.push(this.procs.ensureProxy(n.uid));
    for (const sh of s.shards)
      if (!this.downNodes.has(sh.node_uid)) jobs.push(this.procs.ensureShard(sh.uid));
    await Promise.all(jobs);
    for (const b of s.bdbs) void this.replicaOf.applyReplicaOf(b.uid);
    this.replicaOf.start();
    await this.ha.start();
    // Shards that were mid-creation when a previous manager died finish now.
    for (const b of s.bdbs) if (b.status === 'pending') void this.bdbs.activateWhenShardsUp(b.uid);
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    this.replicaOf.stop();
    this.ha.stop();
    await Promise.all([...this.children.values()].map((c) => c.stop()));
    // A shard process killed before it could stop its redis-server leaves it behind: reap it.
    for (const sh of this.state.shards) this.procs.killStrayRedis(sh.uid);
  }

  // ---- state helpers ----

  bdb(uid: number): BdbState | undefined {
    return this.state.bdbs.find((b) => b.uid === uid);
  }

  shard(uid: number): ShardState | undefined {
    return this.state.shards.find((s) => s.uid === uid);
  }

  requireBdb(uid: number): BdbState {
    const b = this.bdb(uid);
    if (!b)
      throw new MinirsError(
        ErrorCodes.NOT_FOUND,
        `database ${uid} does not exist; list them with GET /v1/bdbs`,
      );
    return b;
  }

  setShard(uid: number, patch: Partial<ShardState>): void {
    if (this.stopping) return;
    let statusOf: number | undefined;
    this.store.update((s) => {
      const sh = s.shards.find((x) => x.uid === uid);
      if (!sh) return;
      if (patch.status !== undefined && patch.status !== sh.status && sh.role === 'master')
        statusOf = sh.bdb_uid;
      Object.assign(sh, patch);
      if (patch.last_event) sh.last_event_time = new Date().toISOString();
    });
    // A destination's syncer waits for its shards to be active before it reads their checkpoints.
    if (statusOf !== undefined) this.replicaOf.pushSyncerConfig(statusOf);
  }

  shardView(sh: ShardState): ShardState & { stats?: ShardStats } {
    return { ...sh, stats: this.procs.shardStatsOf(sh.uid) };
  }

  proxyConfig(): ProxyConfigMessage {
    const s = this.state;
    const dbs: ProxyDbConfig[] = s.bdbs
      .filter((b) => b.status !== 'delete-pending')
      .map((b) => ({
        uid: b.uid,
        name: b.name,
        port: b.port,
        redis_pass: b.authentication_redis_pass,
        admin_pass: b.authentication_admin_pass,
        sharding: b.sharding,
        shard_key_regex: b.shard_key_regex,
        tls_mode: b.tls_mode,
        enforce_client_authentication: b.enforce_client_authentication,
        client_certs: b.authentication_ssl_client_certs.map((c) => c.client_cert),
        // Proxies route to masters only (a slave serves nothing until it is promoted).
        shards: s.shards
          .filter((sh) => sh.bdb_uid === b.uid && sh.role === 'master')
          .sort((a, c) => a.slot_start - c.slot_start)
          .map((sh) => ({
            uid: sh.uid,
            host: sh.addr,
            port: sh.port,
            slot_start: sh.slot_start,
            slot_end: sh.slot_end,
            status: sh.status,
            ...aliasesOf(s.shards, sh),
          })),
      }));
    return { dbs };
  }

  pushProxyConfig(): void {
    const config = this.proxyConfig();
    for (const n of this.state.cluster.nodes)
      this.procs.child('proxy', n.uid)?.send({ type: 'config', config });
  }

  readCaCert(): string {
    return readFileSync(this.paths.caCert, 'utf8');
  }
}
