import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BdbCreateRequest,
  type BdbState,
  type ClusterPaths,
  type ShardPersistence,
  type ChildControl,
  canTransition,
  ErrorCodes,
  errorRule,
  inNodeNet,
  type Logger,
  MinirsError,
  NETNS_ROUTE,
  netnsHostAddr,
  netnsName,
  parseSourceUri,
  type ProxyDbConfig,
  type ProxyProcessConfig,
  type ProxyConfigMessage,
  type ProxyEvents,
  type ProxyStats,
  type ProxyUpMessage,
  type ProcessRole,
  type ShardUpMessage,
  type ReReplicationRecord,
  randomPassword,
  redisServerBinary,
  type ShardProcessConfig,
  type ShardState,
  type ShardStats,
  SYNCER_REPORT_STALE_MS,
  syncRuns,
  type LinkFault,
  type SyncerProcessConfig,
  type SyncerReport,
  type SyncerRuntimeConfig,
  type SyncerUpMessage,
} from '@minirs/common';
import { replicaPatch } from './replica.js';
import { HaController } from './failover.js';
import { aliasesOf, checkReplicationPossible, planSlaves, replicationField } from './replication.js';
import {
  DEFAULT_MEMORY,
  DEFAULT_SHARD_KEY_REGEX,
  validateName,
  validatePersistence,
  validateShardKeyRegex,
  validateShards,
  validateTls,
} from './bdb-validate.js';
import { canBind } from './net-util.js';

const SHARD_PORT_MIN = 20000;
const SHARD_PORT_MAX = 29999;
import { unsupportedField } from './rs-errors.js';
import type { StateStore } from './state-store.js';
import { Child, type ChildHooks, childOf, pidAlive, pidCmdline, readPid } from './supervisor.js';

const here = dirname(fileURLToPath(import.meta.url));
export const SCRIPTS = {
  shard: resolve(here, '../../shard/dist/main.js'),
  proxy: resolve(here, '../../proxy/dist/main.js'),
  syncer: resolve(here, '../../syncer/dist/main.js'),
};

const SLOTS = 16384;

export function slotRange(index: number, count: number): [number, number] {
  return [Math.floor((index * SLOTS) / count), Math.floor(((index + 1) * SLOTS) / count) - 1];
}

export type BdbView = BdbState & Record<string, unknown>;

/**
 * The cluster's control plane: owns the state, turns REST requests into state changes and
 * children, and keeps every child running.
 */
/** Redis 7's old names of settings in RS's CONFIG table, and the names redis-server uses now. */
const CONFIG_ALIASES: Record<string, string> = {
  'lua-time-limit': 'busy-reply-threshold',
  'hash-max-ziplist-entries': 'hash-max-listpack-entries',
  'hash-max-ziplist-value': 'hash-max-listpack-value',
  'zset-max-ziplist-entries': 'zset-max-listpack-entries',
  'zset-max-ziplist-value': 'zset-max-listpack-value',
  'list-max-ziplist-size': 'list-max-listpack-size',
};

export class ClusterManager {
  readonly children = new Map<string, Child>();
  private readonly shardStats = new Map<number, ShardStats>();
  /** When each shard last reported its stats (RS's shard report_timestamp). */
  private readonly shardStatsTime = new Map<number, number>();
  private readonly proxyStats = new Map<number, ProxyStats>();
  private readonly shardWaiters = new Map<number, (() => void)[]>();
  private readonly syncerReports = new Map<number, SyncerReport>();
  /** When each syncer last reported (ms): a syncer that stops reporting is noticed (watchSyncers). */
  private readonly syncerReportAt = new Map<number, number>();
  private syncerWatch?: NodeJS.Timeout;
  /**
   * `node:bdb:port` of every endpoint a proxy reported ready (listening, with a ready link to
   * every shard), and who waits for one.
   */
  private readonly endpointsUp = new Set<string>();
  private endpointWaiters: (() => void)[] = [];
  /** Link faults (partition, latency, ...) currently injected into syncers. */
  readonly linkFaults: { bdb_uid: number; fault: LinkFault }[] = [];
  /** Nodes crashed by a fault: none of their processes runs until the node is started again. */
  readonly downNodes = new Set<number>();
  private stopping = false;
  /** (minirs) where the RS-style metrics exporter listens, once it does. */
  metricsExporterUrl?: string;
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

  // ---- lifecycle ----

  /** Adopt or start every child the state calls for. */
  async start(): Promise<void> {
    // A master whose redis-server died while no manager ran would start again empty, for its
    // slave to copy: its slave (still running) is made the master first.
    this.ha.beforeStart();
    const s = this.state;
    const jobs: Promise<unknown>[] = [];
    for (const n of s.cluster.nodes) if (!this.downNodes.has(n.uid)) jobs.push(this.ensureProxy(n.uid));
    for (const sh of s.shards) if (!this.downNodes.has(sh.node_uid)) jobs.push(this.ensureShard(sh.uid));
    await Promise.all(jobs);
    for (const b of s.bdbs) void this.applyReplicaOf(b.uid);
    this.syncerWatch = setInterval(() => this.watchSyncers(), 500);
    this.syncerWatch.unref();
    await this.ha.start();
    // Shards that were mid-creation when a previous manager died finish now.
    for (const b of s.bdbs) if (b.status === 'pending') void this.activateWhenShardsUp(b.uid);
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.syncerWatch);
    this.ha.stop();
    await Promise.all([...this.children.values()].map((c) => c.stop()));
    // A shard process killed before it could stop its redis-server leaves it behind: reap it.
    for (const sh of this.state.shards) this.killStrayRedis(sh.uid);
  }

  /** Does the shard's redis-server run (its pid file names a live redis-server)? */
  redisAlive(shardUid: number): boolean {
    const pid = readPid(this.paths.pidFile(`redis-${shardUid}`));
    return !!pid && pidAlive(pid) && pidCmdline(pid).includes('redis-server');
  }

  private killStrayRedis(shardUid: number): void {
    const file = this.paths.pidFile(`redis-${shardUid}`);
    const pid = readPid(file);
    if (pid && pidAlive(pid) && pidCmdline(pid).includes('redis-server')) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(file, { force: true });
  }

  private shardHooks(id: number): ChildHooks<'shard'> {
    return {
      onConnected: (child) => void this.shardConnected(id, child),
      onMessage: (_child, msg) => this.onShardMessage(id, msg),
      onExit: (_child, info) => {
        // A shard process killed alone leaves its redis-server (and its data) for the next one.
        this.ha.shardLost(
          id,
          `shard process exited (${info.signal ?? `code ${info.code ?? '?'}`})`,
          !this.redisAlive(id),
        );
        this.setShard(id, {
          status: 'restarting',
          restarts: (this.shard(id)?.restarts ?? 0) + 1,
          last_event: `shard process exited (${info.signal ?? `code ${info.code ?? '?'}`}); restarting`,
        });
        this.shardStats.delete(id);
      },
    };
  }

  private proxyHooks(id: number): ChildHooks<'proxy'> {
    return {
      onConnected: (child) => child.send({ type: 'config', config: this.proxyConfig() }),
      onMessage: (_child, msg) => this.onProxyMessage(id, msg),
      onExit: () => {},
    };
  }

  private syncerHooks(id: number): ChildHooks<'syncer'> {
    return {
      onConnected: () => {
        this.syncerReportAt.set(id, Date.now());
        this.pushSyncerConfig(id);
      },
      onMessage: (_child, msg) => this.onSyncerMessage(id, msg),
      onExit: (_child, info) => {
        this.syncerReportAt.delete(id);
        // A restarted syncer starts over with a full sync: say so now, not when it reports.
        const b = this.bdb(id);
        if (b && b.replica_sync === 'enabled') {
          b.replica_sources = b.replica_sources.map((src) => ({
            ...src,
            status: 'syncing',
            lag: 0,
            rdb_transferred: 0,
            last_error: `syncer exited (${info.signal ?? `code ${info.code ?? '?'}`}); restarting`,
          }));
        }
      },
    };
  }

  /** The running child `${role}-${id}`. */
  child<R extends ProcessRole>(role: R, id: number): Child<R> | undefined {
    return childOf(this.children, role, id);
  }

  /** The control connection of a running shard. */
  shardConn(uid: number): ChildControl<'shard'> | undefined {
    return childOf(this.children, 'shard', uid)?.conn;
  }

  private async ensureChild<R extends ProcessRole>(
    name: string,
    role: R,
    id: number,
    config: object,
    hooks: ChildHooks<R>,
  ): Promise<Child<R>> {
    const running = this.child(role, id);
    if (running) return running;
    if (this.stopping) throw new Error(`cluster is stopping; not starting ${name}`);
    const node = this.nodeOf(role, id);
    if (this.downNodes.has(node)) throw new Error(`node ${node} is down; not starting ${name}`);
    const child = new Child<R>(
      {
        name,
        role,
        id,
        script: SCRIPTS[role],
        config,
        socket: this.paths.socket(name),
        pidFile: this.paths.pidFile(name),
        outFile: join(this.paths.logs, `${name}.out`),
        // Outgoing connections leave from the node's address: packets say which node sent them.
        ...this.placement(role, id, node),
      },
      hooks,
      this.log,
    );
    this.children.set(name, child as Child);
    await child.start();
    return child;
  }

  /**
   * Where a child runs and which address it sends from. Loopback mode: the host, from 127.0.C.N.
   * Netns mode: in its node's namespace (its only address is the node's), except a syncer with a
   * source outside the node network (the host's loopback, a container, another machine), which
   * no namespace reaches: it runs on the host, from node 1's host address 198.19.C.1, binding it
   * toward loopback peers and toward the node network (MINIRS_NODE_NET).
   */
  private placement(
    role: 'shard' | 'proxy' | 'syncer',
    id: number,
    node: number,
  ): { env: Record<string, string>; netns?: string } {
    const c = this.state.cluster;
    if (c.net !== 'netns') return { env: { MINIRS_NODE_ADDR: this.nodeAddr(node) } };
    if (role === 'syncer' && this.syncerOnHost(id)) {
      return { env: { MINIRS_NODE_ADDR: netnsHostAddr(c.index, 1), MINIRS_NODE_NET: NETNS_ROUTE } };
    }
    return { env: { MINIRS_NODE_ADDR: this.nodeAddr(node) }, netns: netnsName(c.index, node) };
  }

  /** Netns mode: does bdb uid's syncer need the host (a source no namespace reaches)? */
  private syncerOnHost(uid: number): boolean {
    const b = this.bdb(uid);
    return (b?.replica_sources ?? []).some((src) => {
      try {
        return !inNodeNet(parseSourceUri(src.uri).host);
      } catch {
        return true;
      }
    });
  }

  /** The node a child runs on: a proxy's own, a shard's, the first node for syncers. */
  nodeOf(role: 'shard' | 'proxy' | 'syncer', id: number): number {
    if (role === 'proxy') return id;
    if (role === 'shard') return this.shard(id)?.node_uid ?? this.state.cluster.nodes[0]!.uid;
    return this.state.cluster.nodes[0]!.uid;
  }

  private nodeAddr(uid: number): string {
    return (this.state.cluster.nodes.find((n) => n.uid === uid) ?? this.state.cluster.nodes[0]!).addr;
  }

  /** Pid-file names of every process of a node (redis-servers included). */
  nodeProcessNames(node: number): string[] {
    const names = [`proxy-${node}`];
    for (const sh of this.state.shards) if (sh.node_uid === node) names.push(`shard-${sh.uid}`, `redis-${sh.uid}`);
    if (this.nodeOf('syncer', 0) === node) for (const b of this.state.bdbs) names.push(`syncer-${b.uid}`);
    return names;
  }

  /** SIGKILLs what runs of a node by its pid files (before adoption; see main.ts). Returns the pids. */
  killNodeProcesses(node: number): number[] {
    const pids: number[] = [];
    for (const name of this.nodeProcessNames(node)) {
      const pid = readPid(this.paths.pidFile(name));
      if (!pid || !pidAlive(pid)) continue;
      try {
        process.kill(pid, 'SIGKILL');
        pids.push(pid);
      } catch {
        // gone
      }
    }
    return pids;
  }

  markNodeDown(node: number, why: string): void {
    if (!this.state.cluster.nodes.some((n) => n.uid === node)) {
      throw new MinirsError(ErrorCodes.NOT_FOUND, `node ${node} does not exist; list them with GET /v1/nodes`);
    }
    this.downNodes.add(node);
    this.store.update((s) => {
      const n = s.cluster.nodes.find((x) => x.uid === node);
      if (n) n.status = 'down';
      for (const sh of s.shards) {
        if (sh.node_uid !== node) continue;
        sh.status = 'down';
        sh.last_event = why;
        sh.last_event_time = new Date().toISOString();
      }
    });
  }

  /** A machine crash: every process of the node SIGKILLed, none restarted. Returns their pids. */
  async crashNode(node: number, why: string): Promise<number[]> {
    this.markNodeDown(node, why);
    const pids: number[] = [];
    for (const name of this.nodeProcessNames(node)) {
      const pid = readPid(this.paths.pidFile(name));
      if (pid && pidAlive(pid)) pids.push(pid);
    }
    await Promise.all(
      this.nodeProcessNames(node).map(async (name) => {
        const child = this.children.get(name);
        this.children.delete(name);
        if (child) await child.crash();
      }),
    );
    for (const sh of this.state.shards) {
      if (sh.node_uid !== node) continue;
      this.killStrayRedis(sh.uid);
      this.shardStats.delete(sh.uid);
    }
    this.ha.nodeLost(node, why);
    // A crash is over when nothing of the node runs any more (SIGKILL is not instant).
    const deadline = Date.now() + 5000;
    while (pids.some((p) => pidAlive(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const k of [...this.endpointsUp]) if (k.startsWith(`${node}:`)) this.endpointsUp.delete(k);
    this.pushProxyConfig();
    return pids;
  }

  /** Brings a crashed node back: its proxy, its shards, and the syncers when it is the first node. */
  async startNode(node: number): Promise<void> {
    this.downNodes.delete(node);
    this.store.update((s) => {
      const n = s.cluster.nodes.find((x) => x.uid === node);
      if (n) n.status = 'active';
    });
    const jobs: Promise<unknown>[] = [this.ensureProxy(node)];
    for (const sh of this.state.shards) {
      if (sh.node_uid !== node) continue;
      this.setShard(sh.uid, { status: 'starting', last_event: `node ${node} started again` });
      jobs.push(this.ensureShard(sh.uid));
    }
    await Promise.all(jobs);
    // Healed means back: the node's shards answer again (bounded; a shard that does not come
    // up says so in its status).
    await Promise.all(
      this.state.shards.filter((sh) => sh.node_uid === node).map((sh) => this.waitShardActive(sh.uid, 30_000)),
    );
    if (this.nodeOf('syncer', 0) === node) for (const b of this.state.bdbs) await this.applyReplicaOf(b.uid);
    this.pushProxyConfig();
  }

  private ensureProxy(nodeUid: number): Promise<Child> {
    const node = this.state.cluster.nodes.find((n) => n.uid === nodeUid)!;
    const cfg: ProxyProcessConfig = {
      cluster: this.state.cluster.name,
      node_uid: nodeUid,
      addr: node.addr,
      socket: this.paths.socket(`proxy-${nodeUid}`),
      log_file: this.paths.log(`proxy-${nodeUid}`),
      internal_password: this.state.internal_password,
      tls_cert: join(this.paths.certs, 'proxy.pem'),
      tls_key: join(this.paths.certs, 'proxy.key'),
      ca_cert: this.paths.caCert,
    };
    return this.ensureChild(`proxy-${nodeUid}`, 'proxy', nodeUid, cfg, this.proxyHooks(nodeUid));
  }

  private shardConfig(sh: ShardState): ShardProcessConfig {
    const bdb = this.bdb(sh.bdb_uid);
    return {
      cluster: this.state.cluster.name,
      uid: sh.uid,
      bdb_uid: sh.bdb_uid,
      addr: sh.addr,
      port: sh.port,
      password: this.state.internal_password,
      maxmemory: Math.floor((bdb?.memory_size ?? DEFAULT_MEMORY) / (bdb?.shards_count ?? 1)),
      data_dir: this.paths.shardData(sh.uid),
      socket: this.paths.socket(`shard-${sh.uid}`),
      log_file: this.paths.log(`shard-${sh.uid}`),
      redis_log_file: this.paths.log(`redis-${sh.uid}`),
      redis_pid_file: this.paths.pidFile(`redis-${sh.uid}`),
      redis_server: redisServerBinary(),
      persistence: bdb ? persistenceOf(bdb) : undefined,
      replication: this.ha.replicationOf(sh),
      redis_config: bdb?.redis_config,
    };
  }

  /** A restarted shard process must start with the bdb's current settings, not its first ones. */
  refreshShardSpec(uid: number): void {
    const sh = this.shard(uid);
    const child = this.children.get(`shard-${uid}`);
    if (sh && child) child.spec.config = this.shardConfig(sh);
  }

  private ensureShard(uid: number): Promise<Child> {
    const sh = this.shard(uid)!;
    return this.ensureChild(`shard-${uid}`, 'shard', uid, this.shardConfig(sh), this.shardHooks(uid));
  }

  private async shardConnected(uid: number, child: Child<'shard'>, attempt = 0): Promise<void> {
    const conn = child.conn;
    try {
      await conn?.request('ping', undefined, 15_000);
      const sh = this.shard(uid);
      if (!sh) return;
      const what = child.adopted ? 'adopted by the manager' : sh.restarts > 0 ? 'restarted' : 'started';
      this.setShard(uid, {
        status: 'active',
        last_event: sh.status === 'active' ? sh.last_event : `shard ${what}; redis-server answers PING`,
      });
      this.log.info({ shard: uid }, 'shard active');
      this.pushProxyConfig();
      for (const w of this.shardWaiters.get(uid)?.splice(0) ?? []) w();
    } catch (err) {
      this.log.warn({ shard: uid, err }, 'shard did not answer ping');
      // A slave loading its master's RDB answers -LOADING: ask again (bounded) on the same connection.
      if (attempt < 60 && conn && child.conn === conn && !this.stopping) {
        setTimeout(() => {
          if (child.conn === conn) void this.shardConnected(uid, child, attempt + 1);
        }, 500).unref();
      }
    }
  }

  private onShardMessage(id: number, msg: ShardUpMessage): void {
    if (msg.type === 'stats') {
      const st = msg.stats;
      const before = this.shardStats.get(id)?.redis_pid;
      this.shardStats.set(id, st);
      this.shardStatsTime.set(id, Date.now());
      this.ha.onStats(id);
      // A destination shard whose redis-server changed restarted empty: its syncer must know.
      if (before !== st.redis_pid) {
        const sh = this.shard(id);
        if (sh) this.pushSyncerConfig(sh.bdb_uid);
      }
      return;
    }
    if (msg.type === 'event') {
      this.log.info({ shard: id, event: msg.event, detail: msg.detail }, 'child event');
      if (msg.event === 'redis-exited') {
        const d = msg.detail;
        const how = d.signal ? `killed by ${String(d.signal)}` : `exited with code ${String(d.code)}`;
        this.ha.shardLost(id, `redis-server ${how}`, true);
        this.setShard(id, { status: 'restarting', last_event: `redis-server ${how}; restarting the shard` });
      }
    }
  }

  private onProxyMessage(id: number, msg: ProxyUpMessage): void {
    if (msg.type === 'stats') {
      this.proxyStats.set(id, msg.stats);
      return;
    }
    if (msg.type === 'event') {
      this.log.info({ proxy: id, event: msg.event, detail: msg.detail }, 'child event');
      if (msg.event === 'ready' || msg.event === 'not-ready') {
        const d = msg.detail;
        const key = `${id}:${d.bdb_uid}:${d.port}`;
        if (msg.event === 'ready') this.endpointsUp.add(key);
        else this.endpointsUp.delete(key);
        for (const w of this.endpointWaiters.splice(0)) w();
      }
      if (msg.event === 'config-set') this.keepConfigSet(msg.detail);
    }
  }

  /**
   * A proxy applied CONFIG SET on every shard of a bdb: keep the settings (under Redis's
   * canonical names, so an alias set later replaces them) for the shards' next starts.
   */
  private keepConfigSet(detail: ProxyEvents['config-set']): void {
    const uid = Number(detail.bdb_uid);
    const settings: unknown = detail.settings;
    if (!this.bdb(uid) || typeof settings !== 'object' || settings === null) return;
    const kept: Record<string, string> = { ...(this.bdb(uid)!.redis_config ?? {}) };
    for (const [name, value] of Object.entries(settings as Record<string, unknown>)) {
      if (typeof value !== 'string' || !/^[a-z][a-z-]{0,63}$/.test(name)) continue;
      const canonical = CONFIG_ALIASES[name] ?? name;
      delete kept[canonical];
      kept[canonical] = value;
    }
    this.store.update((s) => {
      s.bdbs.find((b) => b.uid === uid)!.redis_config = kept;
    });
    for (const su of this.bdb(uid)!.shard_list) this.refreshShardSpec(su);
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
      if (patch.status !== undefined && patch.status !== sh.status && sh.role === 'master') statusOf = sh.bdb_uid;
      Object.assign(sh, patch);
      if (patch.last_event) sh.last_event_time = new Date().toISOString();
    });
    // A destination's syncer waits for its shards to be active before it reads their checkpoints.
    if (statusOf !== undefined) this.pushSyncerConfig(statusOf);
  }

  shardView(sh: ShardState): ShardState & { stats?: ShardStats } {
    return { ...sh, stats: this.shardStats.get(sh.uid) };
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
    for (const n of this.state.cluster.nodes) this.child('proxy', n.uid)?.send({ type: 'config', config });
  }

  private waitShardActive(uid: number, timeoutMs: number): Promise<boolean> {
    if (this.shard(uid)?.status === 'active') return Promise.resolve(true);
    return new Promise((resolve) => {
      const list = this.shardWaiters.get(uid) ?? [];
      const timer = setTimeout(() => resolve(false), timeoutMs);
      list.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.shardWaiters.set(uid, list);
    });
  }

  private async activateWhenShardsUp(bdbUid: number): Promise<void> {
    const b = this.bdb(bdbUid);
    if (!b) return;
    const ok = await Promise.all(b.shard_list.map((u) => this.waitShardActive(u, 60_000)));
    // Active means clients are served: every node's proxy listens on the endpoint and has a
    // ready link to every shard (a proxy that is down does not hold the database back for
    // more than a few seconds).
    const up = await this.waitEndpoints(bdbUid, b.port, 5_000);
    if (!up) this.log.warn({ bdb: bdbUid, port: b.port }, 'not every proxy reported the endpoint ready');
    if (!this.bdb(bdbUid)) return;
    this.store.update((s) => {
      const x = s.bdbs.find((y) => y.uid === bdbUid);
      if (x) x.status = ok.every(Boolean) ? 'active' : 'creation-failed';
    });
    this.pushProxyConfig();
  }

  private waitEndpoints(bdbUid: number, port: number, timeoutMs: number): Promise<boolean> {
    const all = () =>
      this.state.cluster.nodes.every((n) => this.endpointsUp.has(`${n.uid}:${bdbUid}:${port}`));
    if (all()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const check = () => {
        if (all()) {
          clearTimeout(timer);
          resolve(true);
        } else this.endpointWaiters.push(check);
      };
      this.endpointWaiters.push(check);
    });
  }

  // ---- bdb operations ----

  private async pickPort(requested: number | undefined, ignoreBdb?: number): Promise<number> {
    const s = this.state;
    const taken = new Set(s.bdbs.filter((b) => b.uid !== ignoreBdb).map((b) => b.port));
    for (const sh of s.shards) taken.add(sh.port);
    const addrs = [...new Set(s.cluster.nodes.map((n) => n.addr))];
    const free = async (p: number) => {
      if (taken.has(p) || p === s.cluster.api_port) return false;
      for (const a of addrs) if (!(await this.canBindOnNode(a, p))) return false;
      return true;
    };
    if (requested !== undefined) {
      if (!(await free(requested))) {
        throw new MinirsError(
          ErrorCodes.PORT_IN_USE,
          `port ${requested} is already in use; choose another port or omit it`,
          {
            field: 'port',
          },
        );
      }
      return requested;
    }
    for (let p = s.cluster.db_port_base; p < Math.min(65536, s.cluster.db_port_base + 2000); p++) {
      if (await free(p)) return p;
    }
    throw new MinirsError(
      ErrorCodes.PORT_IN_USE,
      `no free database port from ${s.cluster.db_port_base}; pass --db-port-base`,
    );
  }

  /**
   * Is addr:port free on its node? Netns mode: a node's namespace holds only this cluster's own
   * processes, whose ports the state already excludes (and the host cannot bind inside it).
   */
  private canBindOnNode(addr: string, port: number): Promise<boolean> {
    return this.state.cluster.net === 'netns' ? Promise.resolve(true) : canBind(addr, port);
  }

  /**
   * A shard port on addr, from RS's internal shard range (20000-29999). Not an ephemeral port:
   * proxies and syncers bind their outbound connections to the node address, so a port the OS
   * called free a moment ago could be some connection's local port by the time redis-server
   * binds it (the shard then never starts).
   */
  async pickShardPort(addr: string, also: Set<number>): Promise<number> {
    const s = this.state;
    const taken = new Set<number>([...also, s.cluster.api_port, ...s.bdbs.map((b) => b.port)]);
    for (const sh of s.shards) if (sh.addr === addr) taken.add(sh.port);
    for (let p = SHARD_PORT_MIN; p <= SHARD_PORT_MAX; p++) {
      if (!taken.has(p) && (await this.canBindOnNode(addr, p))) return p;
    }
    throw new MinirsError(
      ErrorCodes.PORT_IN_USE,
      `no free shard port on ${addr} in ${SHARD_PORT_MIN}-${SHARD_PORT_MAX}; delete databases or stop what listens there`,
    );
  }

  /**
   * Validates a create request completely and builds the bdb and shards it would make, changing
   * nothing (dry_run answers from this); createBdb commits it.
   */
  async planBdb(body: BdbCreateRequest): Promise<{ bdb: BdbState; shards: ShardState[] }> {
    validateName(body.name);
    if (body.uid !== undefined && this.bdb(body.uid)) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `database uid ${body.uid} is already in use; omit uid or pick a free one`,
        {
          field: 'uid',
        },
      );
    }
    if (this.state.bdbs.some((b) => b.name === body.name)) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `a database named "${body.name}" already exists; pick another name`,
        {
          field: 'name',
        },
      );
    }
    const shards = body.shards_count ?? 1;
    const memory = body.memory_size ?? DEFAULT_MEMORY;
    validateShards(shards, memory, body.sharding);
    const rules = body.shard_key_regex ?? DEFAULT_SHARD_KEY_REGEX;
    validateShardKeyRegex(rules);
    validateTls(body);
    const persistence = validatePersistence(body, undefined);
    const port = await this.pickPort(body.port);
    const nodes = this.state.cluster.nodes;
    // Allocate shard ports before touching the state, so a failure leaves nothing behind.
    const uidBase = this.state.next_shard_uid;
    const bdbUid = body.uid ?? this.nextFreeBdbUid();
    const newShards: ShardState[] = [];
    for (let i = 0; i < shards; i++) {
      const node = nodes[(i + bdbUid - 1) % nodes.length]!;
      const [slot_start, slot_end] = slotRange(i, shards);
      newShards.push({
        uid: uidBase + i,
        bdb_uid: bdbUid,
        node_uid: node.uid,
        addr: node.addr,
        port: await this.pickShardPort(node.addr, new Set(newShards.map((x) => x.port))),
        slot_start,
        slot_end,
        role: 'master',
        status: 'starting',
        restarts: 0,
        last_event: 'created',
        last_event_time: new Date().toISOString(),
      });
    }
    const replication = replicationField(body as unknown as Record<string, unknown>) ?? false;
    if (replication) {
      checkReplicationPossible(nodes);
      newShards.push(
        ...(await planSlaves(newShards, nodes, uidBase + shards, (addr, taken) => this.pickShardPort(addr, taken))),
      );
    }
    const now = new Date().toISOString();
    const c = this.state.cluster;
    const bdb: BdbState = {
      uid: bdbUid,
      name: body.name,
      port,
      memory_size: memory,
      shards_count: shards,
      sharding: shards > 1 || body.sharding === true,
      shard_key_regex: rules,
      hash_slots_policy: '16k',
      authentication_redis_pass: body.authentication_redis_pass ?? '',
      authentication_admin_pass: randomPassword(40),
      endpoints: [
        {
          addr: [...new Set(nodes.map((n) => n.addr))],
          port,
          dns_name: `redis-${port}.${c.name}.minirs.local`,
        },
      ],
      status: 'pending',
      tls_mode: body.tls_mode ?? 'disabled',
      enforce_client_authentication: body.enforce_client_authentication ?? 'enabled',
      authentication_ssl_client_certs: body.authentication_ssl_client_certs ?? [],
      replica_sync: 'disabled',
      replica_sources: [],
      ...persistence,
      sync_epoch: 0,
      created_time: now,
      shard_list: newShards.map((s) => s.uid),
      ...(replication ? { replication: true } : {}),
    };
    // Replica Of settings are validated before anything exists, so a bad source creates nothing.
    if (body.replica_sources !== undefined || body.replica_sync !== undefined) {
      Object.assign(
        bdb,
        this.replicaPatch(bdb, { replica_sources: body.replica_sources, replica_sync: body.replica_sync }),
      );
    }
    return { bdb, shards: newShards };
  }

  private nextFreeBdbUid(): number {
    let uid = this.state.next_bdb_uid;
    while (this.bdb(uid)) uid++;
    return uid;
  }

  /** Creates run one at a time: a plan picks free ports and uids that a parallel one would pick too. */
  private createQueue: Promise<unknown> = Promise.resolve();

  createBdb(body: BdbCreateRequest): Promise<BdbState> {
    const run = this.createQueue.then(() => this.createBdbNow(body));
    this.createQueue = run.catch(() => {});
    return run;
  }

  private async createBdbNow(body: BdbCreateRequest): Promise<BdbState> {
    this.log.info({ name: body.name }, 'database create requested');
    const { bdb, shards: newShards } = await this.planBdb(body);
    const bdbUid = bdb.uid;
    if (this.bdb(bdbUid) || this.state.bdbs.some((b) => b.name === bdb.name)) {
      // Another create won the race while ports were probed.
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `database ${bdb.name} (uid ${bdbUid}) was just created by another request`,
      );
    }
    this.store.update((s) => {
      s.bdbs.push(bdb);
      s.shards.push(...newShards);
      s.next_bdb_uid = Math.max(s.next_bdb_uid, bdbUid + 1);
      s.next_shard_uid = newShards[newShards.length - 1]!.uid + 1;
    });
    this.pushProxyConfig();
    for (const sh of newShards) {
      this.ensureShard(sh.uid).catch((err) => this.log.error({ shard: sh.uid, err }, 'shard start failed'));
    }
    void this.activateWhenShardsUp(bdbUid);
    if (bdb.replica_sources.length > 0) this.afterReplicaChange(bdbUid);
    return this.bdb(bdbUid)!;
  }

  /** Resolves once the bdb is active (or rejects when its creation failed or it was deleted). */
  async whenActive(uid: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = this.bdb(uid);
      if (!b) throw new Error(`database ${uid} was deleted before it became active`);
      if (b.status === 'active') return;
      if (b.status === 'creation-failed')
        throw new Error(`database ${uid}: a shard did not start; see the shard logs`);
      if (Date.now() > deadline)
        throw new Error(`database ${uid} is still ${b.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Validates an update and returns the bdb fields it changes, changing nothing (dry_run answers
   * from this); updateBdb applies it.
   */
  planUpdate(uid: number, body: Record<string, unknown>): Partial<BdbState> {
    const b = this.requireBdb(uid);
    if (body.shards_count !== undefined && body.shards_count !== b.shards_count) {
      throw unsupportedField(
        'shards_count',
        `changing shards_count of an existing database (resharding, ${b.shards_count} -> ${String(body.shards_count)}) is not implemented by minirs; create a new database with the shard count you need`,
      );
    }
    const patch: Partial<BdbState> = {};
    if (typeof body.name === 'string' && body.name !== b.name) {
      validateName(body.name);
      if (this.state.bdbs.some((x) => x.name === body.name)) {
        throw new MinirsError(ErrorCodes.CONFLICT, `a database named "${body.name}" already exists`, {
          field: 'name',
        });
      }
      patch.name = body.name;
    }
    if (typeof body.memory_size === 'number') {
      validateShards(b.shards_count, body.memory_size, b.sharding);
      patch.memory_size = body.memory_size;
    }
    if (Array.isArray(body.shard_key_regex)) {
      validateShardKeyRegex(body.shard_key_regex as BdbState['shard_key_regex']);
      patch.shard_key_regex = body.shard_key_regex as BdbState['shard_key_regex'];
    }
    if (typeof body.authentication_redis_pass === 'string')
      patch.authentication_redis_pass = body.authentication_redis_pass;
    if (typeof body.tls_mode === 'string') patch.tls_mode = body.tls_mode as BdbState['tls_mode'];
    if (typeof body.enforce_client_authentication === 'string') {
      patch.enforce_client_authentication =
        body.enforce_client_authentication as BdbState['enforce_client_authentication'];
    }
    if (Array.isArray(body.authentication_ssl_client_certs)) {
      patch.authentication_ssl_client_certs =
        body.authentication_ssl_client_certs as BdbState['authentication_ssl_client_certs'];
      validateTls(patch);
    }
    if (
      body.data_persistence !== undefined ||
      body.aof_policy !== undefined ||
      body.snapshot_policy !== undefined
    ) {
      Object.assign(patch, validatePersistence(body, b));
    }
    if (body.replica_sources !== undefined || body.replica_sync !== undefined) {
      Object.assign(patch, this.replicaPatch(b, body));
    }
    const replication = replicationField(body);
    if (replication !== undefined && replication !== (b.replication ?? false)) {
      if (replication) checkReplicationPossible(this.state.cluster.nodes);
      patch.replication = replication;
    }
    return patch;
  }

  /**
   * Applies an update; `applied` settles once every running shard took the new memory limit and
   * persistence (what the update's action waits for).
   */
  async updateBdb(uid: number, body: Record<string, unknown>): Promise<BdbState> {
    return (await this.updateBdbTracked(uid, body)).bdb;
  }

  async updateBdbTracked(
    uid: number,
    body: Record<string, unknown>,
  ): Promise<{ bdb: BdbState; applied: Promise<unknown> }> {
    const b = this.requireBdb(uid);
    const patch = this.planUpdate(uid, body);
    this.store.update((s) => Object.assign(s.bdbs.find((x) => x.uid === uid)!, patch));
    const jobs: Promise<unknown>[] = [];
    const persistenceChanged =
      patch.data_persistence !== undefined ||
      patch.aof_policy !== undefined ||
      patch.snapshot_policy !== undefined;
    if (patch.memory_size !== undefined || persistenceChanged) {
      const per = Math.floor((patch.memory_size ?? b.memory_size) / b.shards_count);
      const persistence = persistenceOf(this.bdb(uid)!);
      for (const su of b.shard_list) {
        this.refreshShardSpec(su);
        const conn = this.shardConn(su);
        if (!conn) continue; // a shard that is down starts with the new config
        if (patch.memory_size !== undefined) jobs.push(conn.request('set-maxmemory', { bytes: per }));
        if (persistenceChanged) jobs.push(conn.request('set-persistence', persistence));
      }
    }
    if (patch.replication !== undefined) jobs.push(this.setReplication(uid, patch.replication));
    this.pushProxyConfig();
    this.afterReplicaChange(uid);
    const applied = Promise.all(jobs);
    applied.catch((err) => this.log.warn({ bdb: uid, err }, 'a shard did not take the updated settings'));
    return { bdb: this.bdb(uid)!, applied };
  }

  /**
   * Re-replication: the master's slave `lostUid` sits on a node that stayed down; a new slave of
   * the master is created on `nodeUid` (a live third node) and started, and the lost one is
   * discarded from the state (its data dir removed): when its node comes back nothing of it
   * runs, so a stale copy never returns, let alone as a second master. False when things
   * changed meanwhile (the node came back, a failover): nothing done.
   */
  async replaceSlave(masterUid: number, lostUid: number, nodeUid: number, reason: string): Promise<boolean> {
    const m = this.shard(masterUid);
    const lost = this.shard(lostUid);
    const node = this.state.cluster.nodes.find((n) => n.uid === nodeUid);
    if (!m || !lost || !node) return false;
    // planSlaves places a slave on the node after the master's in the list it gets: this one.
    const [ns] = await planSlaves([m], [node], this.state.next_shard_uid, (addr, taken) =>
      this.pickShardPort(addr, taken),
    );
    const still = () => {
      const mm = this.shard(masterUid);
      const ll = this.shard(lostUid);
      return (
        mm?.role === 'master' &&
        ll?.role === 'slave' &&
        ll.master_shard_uid === masterUid &&
        this.downNodes.has(ll.node_uid) &&
        !this.downNodes.has(nodeUid) &&
        !this.downNodes.has(mm.node_uid)
      );
    };
    if (!ns || !still()) return false;
    const now = new Date().toISOString();
    const slave: ShardState = {
      ...ns,
      former_uids: [...(lost.former_uids ?? []), lost.uid],
      last_event: `created as the slave of shard ${masterUid} in place of shard ${lostUid} (${reason})`,
      last_event_time: now,
    };
    const rec: ReReplicationRecord = {
      time: now,
      master_shard: masterUid,
      slots: `${m.slot_start}-${m.slot_end}`,
      old_slave_shard: lostUid,
      old_slave_node: lost.node_uid,
      new_slave_shard: slave.uid,
      new_slave_node: nodeUid,
      reason,
    };
    this.store.update((s) => {
      s.shards = s.shards.filter((x) => x.uid !== lostUid);
      s.shards.push(slave);
      s.next_shard_uid = Math.max(s.next_shard_uid, slave.uid + 1);
      const b = s.bdbs.find((x) => x.uid === m.bdb_uid)!;
      b.shard_list = [...b.shard_list.filter((su) => su !== lostUid), slave.uid];
      b.rereplications = [...(b.rereplications ?? []), rec].slice(-50);
    });
    this.log.warn({ bdb: m.bdb_uid, ...rec }, 're-replication: a new slave on another node; the lost one discarded');
    // Its node is down: none of its processes runs. Only its files are left (never kill by a
    // stale pid file: the pid may be someone else's process by now).
    this.shardStats.delete(lostUid);
    rmSync(this.paths.shardData(lostUid), { recursive: true, force: true });
    rmSync(this.paths.socket(`shard-${lostUid}`), { force: true });
    rmSync(this.paths.pidFile(`shard-${lostUid}`), { force: true });
    rmSync(this.paths.pidFile(`redis-${lostUid}`), { force: true });
    await this.ensureShard(slave.uid);
    this.pushProxyConfig();
    return true;
  }

  /** replication turned on (a slave per master, started) or off (the slaves stopped and removed). */
  private async setReplication(uid: number, on: boolean): Promise<void> {
    this.requireBdb(uid);
    const masters = this.state.shards.filter((sh) => sh.bdb_uid === uid && sh.role === 'master');
    if (on) {
      const slaves = await planSlaves(masters, this.state.cluster.nodes, this.state.next_shard_uid, (addr, taken) =>
        this.pickShardPort(addr, taken),
      );
      this.store.update((s) => {
        s.shards.push(...slaves);
        s.bdbs.find((x) => x.uid === uid)!.shard_list.push(...slaves.map((x) => x.uid));
        s.next_shard_uid = Math.max(s.next_shard_uid, slaves[slaves.length - 1]!.uid + 1);
      });
      await Promise.all(slaves.map((sh) => this.ensureShard(sh.uid)));
      return;
    }
    // The masters drop their write fence first: once their slaves stop, a fenced master would
    // answer NOREPLICAS (the bdb says replication false already, so the HA watch leaves them).
    await Promise.all(
      masters.map((m) => {
        this.refreshShardSpec(m.uid);
        return this.shardConn(m.uid)
          ?.request('set-role', { role: 'master', min_replicas_to_write: 0 }, 5000)
          .catch((err: Error) => this.log.warn({ shard: m.uid, err: err.message }, 'could not drop the write fence'));
      }),
    );
    const slaves = this.state.shards.filter((sh) => sh.bdb_uid === uid && sh.role === 'slave');
    await Promise.all(
      slaves.map(async (sh) => {
        const child = this.children.get(`shard-${sh.uid}`);
        this.children.delete(`shard-${sh.uid}`);
        if (child) await child.stop();
        this.killStrayRedis(sh.uid);
        this.shardStats.delete(sh.uid);
        rmSync(this.paths.shardData(sh.uid), { recursive: true, force: true });
        rmSync(this.paths.socket(`shard-${sh.uid}`), { force: true });
      }),
    );
    const gone = new Set(slaves.map((x) => x.uid));
    this.store.update((s) => {
      s.shards = s.shards.filter((x) => !gone.has(x.uid));
      const x = s.bdbs.find((y) => y.uid === uid)!;
      x.shard_list = x.shard_list.filter((su) => !gone.has(su));
    });
  }

  private replicaPatch(b: BdbState, body: Record<string, unknown>): Partial<BdbState> {
    return replicaPatch(this.state, b, body);
  }

  private afterReplicaChange(uid: number): void {
    void this.applyReplicaOf(uid);
  }

  // ---- Replica Of: one syncer per destination bdb with sources ----

  private syncerConfig(uid: number): SyncerRuntimeConfig | undefined {
    const b = this.bdb(uid);
    if (!b) return undefined;
    return {
      bdb_uid: uid,
      epoch: b.sync_epoch,
      replica_sync: b.replica_sync,
      destination: {
        host: this.state.cluster.nodes[0]!.addr,
        port: b.port,
        password: b.authentication_redis_pass,
        tls: b.tls_mode === 'enabled',
        admin_password: b.authentication_admin_pass,
        shard_key_regex: b.shard_key_regex,
        shards: this.state.shards
          .filter((sh) => sh.bdb_uid === uid && sh.role === 'master')
          .map((sh) => ({
            uid: sh.uid,
            slot_start: sh.slot_start,
            slot_end: sh.slot_end,
            redis_pid: this.shardStats.get(sh.uid)?.redis_pid ?? 0,
            status: sh.status,
          })),
      },
      sources: b.replica_sources.map((s) => ({
        uid: s.uid,
        uri: s.uri,
        compression: s.compression,
        encryption: s.encryption,
        server_cert: s.server_cert,
        client_cert: s.client_cert,
        client_key: s.client_key,
        replication_tls_sni: s.replication_tls_sni,
      })),
      faults: this.linkFaults.filter((f) => f.bdb_uid === uid).map((f) => f.fault),
    };
  }

  pushSyncerConfig(uid: number): void {
    const cfg = this.syncerConfig(uid);
    if (cfg) this.child('syncer', uid)?.send({ type: 'config', config: cfg });
  }

  /** Start, reconfigure or stop the bdb's syncer to match its Replica Of settings. */
  async applyReplicaOf(uid: number): Promise<void> {
    const b = this.bdb(uid);
    const name = `syncer-${uid}`;
    const wanted =
      b && b.replica_sources.length > 0 && b.replica_sync !== 'disabled' && b.status !== 'delete-pending';
    if (!wanted) {
      const child = this.children.get(name);
      this.children.delete(name);
      this.syncerReports.delete(uid);
      this.syncerReportAt.delete(uid);
      if (child) await child.stop();
      return;
    }
    const running = this.children.get(name);
    if (running && this.state.cluster.net === 'netns' && (running.spec.netns === undefined) !== this.syncerOnHost(uid)) {
      // The sources moved in or out of the node network: the syncer runs elsewhere now.
      this.children.delete(name);
      await running.stop();
    } else if (running) {
      this.pushSyncerConfig(uid);
      return;
    }
    if (this.downNodes.has(this.nodeOf('syncer', uid))) return; // started with its node
    const cfg: SyncerProcessConfig = {
      cluster: this.state.cluster.name,
      bdb_uid: uid,
      socket: this.paths.socket(name),
      log_file: this.paths.log(name),
      tls_cert: join(this.paths.certs, 'syncer.pem'),
      tls_key: join(this.paths.certs, 'syncer.key'),
      proxy_cert: join(this.paths.certs, 'proxy.pem'),
    };
    await this.ensureChild(name, 'syncer', uid, cfg, this.syncerHooks(uid));
  }

  private onSyncerMessage(uid: number, msg: SyncerUpMessage): void {
    const b = this.bdb(uid);
    if (!b) return;
    if (msg.type === 'stats') {
      this.syncerReportAt.set(uid, Date.now());
      const rep = msg.stats;
      if (rep.epoch !== b.sync_epoch) return; // a report about a sync that has been restarted since
      this.syncerReports.set(uid, rep);
      let statusChanged = false;
      const merged = b.replica_sources.map((s) => {
        const r = rep.sources.find((x) => x.uid === s.uid);
        if (!r) return s;
        if (r.status !== s.status || r.last_error !== s.last_error || r.resume_mode !== s.resume_mode)
          statusChanged = true;
        return {
          ...s,
          status: r.status,
          rdb_size: r.rdb_size,
          rdb_transferred: r.rdb_transferred,
          lag: r.lag,
          last_update: r.last_update,
          rejected_writes: r.rejected_writes ?? 0,
          keys_loaded: r.keys_loaded,
          keys_total: r.keys_total,
          resume_mode: r.resume_mode,
          resume_reason: r.resume_reason,
          // A stop keeps its error until the sync is restarted.
          ...(b.replica_sync === 'stopped' && s.last_error && !r.last_error
            ? { last_error: s.last_error, last_error_code: s.last_error_code ?? '' }
            : { last_error: r.last_error, last_error_code: r.last_error_code ?? '' }),
        };
      });
      if (statusChanged)
        this.store.update((st) => (st.bdbs.find((x) => x.uid === uid)!.replica_sources = merged));
      else (b as BdbState).replica_sources = merged; // progress and lag: in memory, not worth a disk write
      return;
    }
    if (msg.type === 'event' && msg.event === 'sync-stopped') {
      const d = msg.detail;
      if (d.epoch !== undefined && d.epoch !== b.sync_epoch) return;
      // Only a running sync stops (a paused or stopped one has nothing to stop).
      if (!syncRuns(b.replica_sync) || !canTransition(b.replica_sync, 'stopped')) return;
      this.log.warn({ bdb: uid, source: d.source_uid, error: d.error }, 'replica sync stopped by an error');
      this.store.update((st) => {
        const x = st.bdbs.find((y) => y.uid === uid)!;
        x.replica_sync = 'stopped';
        const src = x.replica_sources.find((y) => y.uid === d.source_uid);
        if (src) {
          src.last_error = d.error ?? 'stopped';
          src.last_error_code = d.code ?? '';
        }
      });
      this.pushSyncerConfig(uid);
    }
  }

  /**
   * A syncer that stops reporting (SIGSTOP, a hung event loop) leaves its last report in place:
   * "Synced (lag 0 ms)" while nothing moves. After SYNCER_REPORT_STALE_MS without a report its
   * sources are out-of-sync with a last_error that says so; the next report puts them right.
   */
  private watchSyncers(): void {
    const now = Date.now();
    for (const b of this.state.bdbs) {
      if (b.replica_sync !== 'enabled' || b.replica_sources.length === 0) continue;
      const at = this.syncerReportAt.get(b.uid);
      if (at === undefined || now - at < SYNCER_REPORT_STALE_MS) continue;
      const rule = errorRule('syncer-unresponsive');
      const secs = Math.round((now - at) / 1000);
      const error = `the syncer of database ${b.name} has not reported for ${secs} s (stopped, frozen or overloaded); its status is unknown. ${rule.remedy}`;
      const stale = b.replica_sources.some((s) => s.status !== 'out-of-sync' || s.last_error_code !== rule.code);
      const next = b.replica_sources.map((s) => ({
        ...s,
        status: 'out-of-sync' as const,
        lag: 0,
        last_error: error,
        last_error_code: rule.code,
      }));
      if (stale) this.store.update((st) => (st.bdbs.find((x) => x.uid === b.uid)!.replica_sources = next));
      else (b as BdbState).replica_sources = next;
    }
  }

  syncerReport(uid: number): SyncerReport | undefined {
    return this.syncerReports.get(uid);
  }

  async deleteBdb(uid: number): Promise<void> {
    const b = this.requireBdb(uid);
    this.store.update((s) => {
      s.bdbs.find((x) => x.uid === uid)!.status = 'delete-pending';
    });
    this.pushProxyConfig();
    await this.applyReplicaOf(uid);
    await Promise.all(
      b.shard_list.map(async (su) => {
        const child = this.children.get(`shard-${su}`);
        if (child) await child.stop();
        this.children.delete(`shard-${su}`);
        this.killStrayRedis(su);
        this.shardStats.delete(su);
        rmSync(this.paths.shardData(su), { recursive: true, force: true });
        rmSync(this.paths.socket(`shard-${su}`), { force: true });
      }),
    );
    this.store.update((s) => {
      s.bdbs = s.bdbs.filter((x) => x.uid !== uid);
      s.shards = s.shards.filter((x) => x.bdb_uid !== uid);
    });
    this.pushProxyConfig();
  }

  async flushBdb(uid: number): Promise<void> {
    const b = this.requireBdb(uid);
    const masters = b.shard_list.filter((su) => this.shard(su)?.role !== 'slave');
    await Promise.all(
      masters.map((su) => {
        const conn = this.shardConn(su);
        if (!conn)
          throw new MinirsError(
            ErrorCodes.CONFLICT,
            `shard ${su} of database ${uid} is not running; retry shortly`,
          );
        return conn.request('flush');
      }),
    );
  }

  resetAdminPass(uid: number): BdbState {
    this.requireBdb(uid);
    this.store.update((s) => {
      s.bdbs.find((x) => x.uid === uid)!.authentication_admin_pass = randomPassword(40);
    });
    this.pushProxyConfig();
    return this.bdb(uid)!;
  }

  shardStatsOf(uid: number): ShardStats | undefined {
    return this.shardStats.get(uid);
  }

  shardStatsTimeOf(uid: number): number | undefined {
    return this.shardStatsTime.get(uid);
  }

  proxyStatsOf(node: number): ProxyStats | undefined {
    return this.proxyStats.get(node);
  }

  readCaCert(): string {
    return readFileSync(this.paths.caCert, 'utf8');
  }
}

/** The persistence a bdb's shards run with (state written before the fields existed: none). */
export function persistenceOf(b: BdbState): ShardPersistence {
  return {
    data_persistence: b.data_persistence ?? 'disabled',
    aof_policy: b.aof_policy ?? 'appendfsync-every-sec',
    snapshot_policy: b.snapshot_policy ?? [],
  };
}
