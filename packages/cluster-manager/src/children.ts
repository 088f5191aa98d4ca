import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ChildControl,
  inNodeNet,
  NETNS_ROUTE,
  netnsHostAddr,
  netnsName,
  type ProcessRole,
  type ProxyEvents,
  type ProxyProcessConfig,
  type ProxyStats,
  type ProxyUpMessage,
  parseSourceUri,
  pidAlive,
  pidCmdline,
  redisServerBinary,
  type ShardProcessConfig,
  type ShardState,
  type ShardStats,
  type ShardUpMessage,
} from '@minirs/common';
import { DEFAULT_MEMORY } from './bdb-validate.js';
import { persistenceOf } from './bdbs.js';
import type { ClusterManager } from './manager.js';
import { Child, type ChildHooks, childOf, readPid } from './supervisor.js';

/**
 * The children of the manager and their supervision: every shard, proxy and syncer process
 * (placed on its node, adopted or spawned, restarted by supervisor.ts), what shards and proxies
 * report (stats, events, ready endpoints), who waits for a shard or an endpoint. The syncers'
 * own messages are Replica Of's (replica-of.ts); this file starts them. A node's crash and start
 * are nodes.ts.
 */

const here = dirname(fileURLToPath(import.meta.url));
export const SCRIPTS = {
  shard: resolve(here, '../../shard/dist/main.js'),
  proxy: resolve(here, '../../proxy/dist/main.js'),
  syncer: resolve(here, '../../syncer/dist/main.js'),
};

/** Redis 7's old names of settings in RS's CONFIG table, and the names redis-server uses now. */
const CONFIG_ALIASES: Record<string, string> = {
  'lua-time-limit': 'busy-reply-threshold',
  'hash-max-ziplist-entries': 'hash-max-listpack-entries',
  'hash-max-ziplist-value': 'hash-max-listpack-value',
  'zset-max-ziplist-entries': 'zset-max-listpack-entries',
  'zset-max-ziplist-value': 'zset-max-listpack-value',
  'list-max-ziplist-size': 'list-max-listpack-size',
};

export class Children {
  readonly children = new Map<string, Child>();
  private readonly shardStats = new Map<number, ShardStats>();
  /** When each shard last reported its stats (RS's shard report_timestamp). */
  private readonly shardStatsTime = new Map<number, number>();
  private readonly proxyStats = new Map<number, ProxyStats>();
  private readonly shardWaiters = new Map<number, (() => void)[]>();
  /**
   * `node:bdb:port` of every endpoint a proxy reported ready (listening, with a ready link to
   * every shard), and who waits for one.
   */
  private readonly endpointsUp = new Set<string>();
  private endpointWaiters: (() => void)[] = [];

  constructor(private readonly mgr: ClusterManager) {}

  /** Does the shard's redis-server run (its pid file names a live redis-server)? */
  redisAlive(shardUid: number): boolean {
    const pid = readPid(this.mgr.paths.pidFile(`redis-${shardUid}`));
    return !!pid && pidAlive(pid) && pidCmdline(pid).includes('redis-server');
  }

  killStrayRedis(shardUid: number): void {
    const file = this.mgr.paths.pidFile(`redis-${shardUid}`);
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
        this.mgr.ha.shardLost(
          id,
          `shard process exited (${info.signal ?? `code ${info.code ?? '?'}`})`,
          !this.redisAlive(id),
        );
        this.mgr.setShard(id, {
          status: 'restarting',
          restarts: (this.mgr.shard(id)?.restarts ?? 0) + 1,
          last_event: `shard process exited (${info.signal ?? `code ${info.code ?? '?'}`}); restarting`,
        });
        this.shardStats.delete(id);
      },
    };
  }

  private proxyHooks(id: number): ChildHooks<'proxy'> {
    return {
      onConnected: (child) => child.send({ type: 'config', config: this.mgr.proxyConfig() }),
      onMessage: (_child, msg) => this.onProxyMessage(id, msg),
      onExit: () => {},
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

  async ensureChild<R extends ProcessRole>(
    name: string,
    role: R,
    id: number,
    config: object,
    hooks: ChildHooks<R>,
  ): Promise<Child<R>> {
    const running = this.child(role, id);
    if (running) return running;
    if (this.mgr.stopping) throw new Error(`cluster is stopping; not starting ${name}`);
    const node = this.nodeOf(role, id);
    if (this.mgr.downNodes.has(node)) throw new Error(`node ${node} is down; not starting ${name}`);
    const child = new Child<R>(
      {
        name,
        role,
        id,
        script: SCRIPTS[role],
        config,
        socket: this.mgr.paths.socket(name),
        pidFile: this.mgr.paths.pidFile(name),
        outFile: join(this.mgr.paths.logs, `${name}.out`),
        // Outgoing connections leave from the node's address: packets say which node sent them.
        ...this.placement(role, id, node),
      },
      hooks,
      this.mgr.log,
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
    const c = this.mgr.state.cluster;
    if (c.net !== 'netns') return { env: { MINIRS_NODE_ADDR: this.nodeAddr(node) } };
    if (role === 'syncer' && this.syncerOnHost(id)) {
      return { env: { MINIRS_NODE_ADDR: netnsHostAddr(c.index, 1), MINIRS_NODE_NET: NETNS_ROUTE } };
    }
    return { env: { MINIRS_NODE_ADDR: this.nodeAddr(node) }, netns: netnsName(c.index, node) };
  }

  /** Netns mode: does bdb uid's syncer need the host (a source no namespace reaches)? */
  syncerOnHost(uid: number): boolean {
    const b = this.mgr.bdb(uid);
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
    if (role === 'shard') return this.mgr.shard(id)?.node_uid ?? this.mgr.state.cluster.nodes[0]!.uid;
    return this.mgr.state.cluster.nodes[0]!.uid;
  }

  private nodeAddr(uid: number): string {
    return (this.mgr.state.cluster.nodes.find((n) => n.uid === uid) ?? this.mgr.state.cluster.nodes[0]!).addr;
  }

  ensureProxy(nodeUid: number): Promise<Child> {
    const node = this.mgr.state.cluster.nodes.find((n) => n.uid === nodeUid)!;
    const cfg: ProxyProcessConfig = {
      cluster: this.mgr.state.cluster.name,
      node_uid: nodeUid,
      addr: node.addr,
      socket: this.mgr.paths.socket(`proxy-${nodeUid}`),
      log_file: this.mgr.paths.log(`proxy-${nodeUid}`),
      internal_password: this.mgr.state.internal_password,
      tls_cert: join(this.mgr.paths.certs, 'proxy.pem'),
      tls_key: join(this.mgr.paths.certs, 'proxy.key'),
      ca_cert: this.mgr.paths.caCert,
    };
    return this.ensureChild(`proxy-${nodeUid}`, 'proxy', nodeUid, cfg, this.proxyHooks(nodeUid));
  }

  private shardConfig(sh: ShardState): ShardProcessConfig {
    const bdb = this.mgr.bdb(sh.bdb_uid);
    return {
      cluster: this.mgr.state.cluster.name,
      uid: sh.uid,
      bdb_uid: sh.bdb_uid,
      addr: sh.addr,
      port: sh.port,
      password: this.mgr.state.internal_password,
      maxmemory: Math.floor((bdb?.memory_size ?? DEFAULT_MEMORY) / (bdb?.shards_count ?? 1)),
      data_dir: this.mgr.paths.shardData(sh.uid),
      socket: this.mgr.paths.socket(`shard-${sh.uid}`),
      log_file: this.mgr.paths.log(`shard-${sh.uid}`),
      redis_log_file: this.mgr.paths.log(`redis-${sh.uid}`),
      redis_pid_file: this.mgr.paths.pidFile(`redis-${sh.uid}`),
      redis_server: redisServerBinary(),
      persistence: bdb ? persistenceOf(bdb) : undefined,
      replication: this.mgr.ha.replicationOf(sh),
      redis_config: bdb?.redis_config,
    };
  }

  /** A restarted shard process must start with the bdb's current settings, not its first ones. */
  refreshShardSpec(uid: number): void {
    const sh = this.mgr.shard(uid);
    const child = this.children.get(`shard-${uid}`);
    if (sh && child) child.spec.config = this.shardConfig(sh);
  }

  ensureShard(uid: number): Promise<Child> {
    const sh = this.mgr.shard(uid)!;
    return this.ensureChild(`shard-${uid}`, 'shard', uid, this.shardConfig(sh), this.shardHooks(uid));
  }

  private async shardConnected(uid: number, child: Child<'shard'>, attempt = 0): Promise<void> {
    const conn = child.conn;
    try {
      await conn?.request('ping', undefined, 15_000);
      const sh = this.mgr.shard(uid);
      if (!sh) return;
      const what = child.adopted ? 'adopted by the manager' : sh.restarts > 0 ? 'restarted' : 'started';
      this.mgr.setShard(uid, {
        status: 'active',
        last_event: sh.status === 'active' ? sh.last_event : `shard ${what}; redis-server answers PING`,
      });
      this.mgr.log.info({ shard: uid }, 'shard active');
      this.mgr.pushProxyConfig();
      for (const w of this.shardWaiters.get(uid)?.splice(0) ?? []) w();
    } catch (err) {
      this.mgr.log.warn({ shard: uid, err }, 'shard did not answer ping');
      // A slave loading its master's RDB answers -LOADING: ask again (bounded) on the same connection.
      if (attempt < 60 && conn && child.conn === conn && !this.mgr.stopping) {
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
      this.mgr.ha.onStats(id);
      // A destination shard whose redis-server changed restarted empty: its syncer must know.
      if (before !== st.redis_pid) {
        const sh = this.mgr.shard(id);
        if (sh) this.mgr.replicaOf.pushSyncerConfig(sh.bdb_uid);
      }
      return;
    }
    if (msg.type === 'event') {
      this.mgr.log.info({ shard: id, event: msg.event, detail: msg.detail }, 'child event');
      if (msg.event === 'redis-exited') {
        const d = msg.detail;
        const how = d.signal ? `killed by ${String(d.signal)}` : `exited with code ${String(d.code)}`;
        this.mgr.ha.shardLost(id, `redis-server ${how}`, true);
        this.mgr.setShard(id, {
          status: 'restarting',
          last_event: `redis-server ${how}; restarting the shard`,
        });
      }
    }
  }

  private onProxyMessage(id: number, msg: ProxyUpMessage): void {
    if (msg.type === 'stats') {
      this.proxyStats.set(id, msg.stats);
      return;
    }
    if (msg.type === 'event') {
      this.mgr.log.info({ proxy: id, event: msg.event, detail: msg.detail }, 'child event');
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
    if (!this.mgr.bdb(uid) || typeof settings !== 'object' || settings === null) return;
    const kept: Record<string, string> = { ...(this.mgr.bdb(uid)!.redis_config ?? {}) };
    for (const [name, value] of Object.entries(settings as Record<string, unknown>)) {
      if (typeof value !== 'string' || !/^[a-z][a-z-]{0,63}$/.test(name)) continue;
      const canonical = CONFIG_ALIASES[name] ?? name;
      delete kept[canonical];
      kept[canonical] = value;
    }
    this.mgr.store.update((s) => {
      s.bdbs.find((b) => b.uid === uid)!.redis_config = kept;
    });
    for (const su of this.mgr.bdb(uid)!.shard_list) this.refreshShardSpec(su);
  }

  waitShardActive(uid: number, timeoutMs: number): Promise<boolean> {
    if (this.mgr.shard(uid)?.status === 'active') return Promise.resolve(true);
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

  waitEndpoints(bdbUid: number, port: number, timeoutMs: number): Promise<boolean> {
    const all = () =>
      this.mgr.state.cluster.nodes.every((n) => this.endpointsUp.has(`${n.uid}:${bdbUid}:${port}`));
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

  /**
   * Stops a shard for good (its bdb deleted, replication turned off): its process and any
   * redis-server it left, its stats, data dir and socket.
   */
  async discardShard(uid: number): Promise<void> {
    const child = this.children.get(`shard-${uid}`);
    this.children.delete(`shard-${uid}`);
    if (child) await child.stop();
    this.killStrayRedis(uid);
    this.shardStats.delete(uid);
    rmSync(this.mgr.paths.shardData(uid), { recursive: true, force: true });
    rmSync(this.mgr.paths.socket(`shard-${uid}`), { force: true });
  }

  /** Forget the endpoints a node's proxy reported ready (the node crashed). */
  forgetEndpointsOf(node: number): void {
    for (const k of [...this.endpointsUp]) if (k.startsWith(`${node}:`)) this.endpointsUp.delete(k);
  }

  /** Forget a shard's last stats (it is gone or restarting). */
  forgetStats(uid: number): void {
    this.shardStats.delete(uid);
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
}
