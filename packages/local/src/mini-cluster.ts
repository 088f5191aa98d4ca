import { resolve } from 'node:path';
import { type ClusterPaths, type Credentials, freePort, minirsHome } from '@minirs/common';
import type { ApiClient, Bdb } from './api-client.js';
import { managerPid, ownerOf, readCredentials } from './cluster-files.js';
import { connectCluster } from './cluster-connection.js';
import {
  type DeleteResult,
  deleteCluster,
  type LifecycleOptions,
  type StartResult,
  type StopResult,
  startCluster,
  stopCluster,
} from './cluster-lifecycle.js';
import { ClusterFaults } from './faults.js';
import { launchManager } from './manager-launcher.js';
import { parseMemorySize } from './usage-error.js';
import { isClusterProcess, pidFiles } from './processes.js';
import { type ReplicaStatusView, replicaStatus } from './replica-status.js';
import { resolveSources, type SourceOptions, sourceUrl } from './source-uri.js';

/**
 * A programmatic harness for multi-process tests, in the style of testcontainers: a configured
 * MiniCluster starts into a StartedMiniCluster that owns real processes until delete().
 *
 *   const east = await new MiniCluster('east').withNodes(3).withHome(dir).start();
 *   const db = await east.createDb({ name: 'db1', shards: 2, memory: '100mb' });
 *   ...
 *   await east.delete();
 */


export class MiniCluster {
  private nodes = 3;
  private home?: string;
  private apiPort?: number;
  private dbPortBase?: number;
  private env: NodeJS.ProcessEnv = process.env;
  private autoStart = false;
  private startTimeoutMs = 30_000;
  private net?: 'auto' | 'netns' | 'loopback';

  constructor(readonly name: string) {}

  withNodes(n: number): this {
    this.nodes = n;
    return this;
  }
  /** MINIRS_HOME of the cluster (default: $MINIRS_HOME or ~/.minirs). */
  withHome(dir: string): this {
    this.home = dir;
    return this;
  }
  /** Default: a port the OS reports free. */
  withApiPort(port: number): this {
    this.apiPort = port;
    return this;
  }
  /** Default: a port the OS reports free (the manager skips taken ones from there). */
  withDbPortBase(port: number): this {
    this.dbPortBase = port;
    return this;
  }
  /** Environment of the manager and, through it, of every process (MINIRS_REDIS_SERVER...). */
  withEnv(env: NodeJS.ProcessEnv): this {
    this.env = env;
    return this;
  }
  /**
   * Let `api` bring back a manager that died, as the CLI does. Off by default: tests that kill
   * the manager decide when it comes back (restartManager()).
   */
  withManagerAutoStart(on = true): this {
    this.autoStart = on;
    return this;
  }
  /** How nodes are hosts (`cluster create --net`); default MINIRS_NET or auto. */
  withNet(mode: 'auto' | 'netns' | 'loopback'): this {
    this.net = mode;
    return this;
  }
  withStartTimeout(ms: number): this {
    this.startTimeoutMs = ms;
    return this;
  }

  async start(): Promise<StartedMiniCluster> {
    const home = resolve(this.home ?? minirsHome());
    const env = { ...this.env, MINIRS_HOME: home };
    await launchManager({
      name: this.name,
      home,
      mode: 'create',
      nodes: this.nodes,
      apiPort: this.apiPort ?? (await freePort()),
      dbPortBase: this.dbPortBase ?? (await freePort()),
      net: this.net,
      env,
      timeoutMs: this.startTimeoutMs,
    });
    const lifecycle: LifecycleOptions = { home, env, startTimeoutMs: this.startTimeoutMs };
    const conn = await connectCluster(this.name, { ...lifecycle, autoStart: this.autoStart });
    return new StartedMiniCluster(this.name, conn.paths, conn.api, lifecycle, this.autoStart);
  }
}

export interface CreateDbOptions {
  name: string;
  shards?: number;
  /** Bytes, or a size such as "100mb". */
  memory?: number | string;
  password?: string;
  shardKeyRegex?: string[];
  tls?: 'enabled' | 'replica_ssl';
  clientAuth?: boolean;
  port?: number;
}

export class StartedMiniCluster {
  /** Fault injection: `await (await east.faults.partition('peer:west')).heal()`. */
  readonly faults: ClusterFaults;

  constructor(
    readonly name: string,
    readonly paths: ClusterPaths,
    /** Typed REST client of the cluster (HTTPS with its CA, basic auth). */
    readonly api: ApiClient,
    private readonly lifecycle: LifecycleOptions,
    private readonly autoStart: boolean,
  ) {
    this.faults = new ClusterFaults(api);
  }

  get home(): string {
    return this.lifecycle.home;
  }

  get credentials(): Credentials {
    return readCredentials(this.paths);
  }

  /** Creates a database and resolves once it is active. */
  async createDb(o: CreateDbOptions): Promise<Bdb> {
    const shards = o.shards ?? 1;
    const created = await this.api.createBdb({
      name: o.name,
      shards_count: shards,
      sharding: shards > 1,
      ...(o.memory !== undefined
        ? { memory_size: typeof o.memory === 'number' ? o.memory : parseMemorySize(o.memory) }
        : {}),
      ...(o.password !== undefined ? { authentication_redis_pass: o.password } : {}),
      ...(o.shardKeyRegex ? { shard_key_regex: o.shardKeyRegex.map((regex) => ({ regex })) } : {}),
      ...(o.tls ? { tls_mode: o.tls } : {}),
      ...(o.clientAuth === false ? { enforce_client_authentication: 'disabled' as const } : {}),
      ...(o.port !== undefined ? { port: o.port } : {}),
    });
    // As long as the cluster's start may take: on a loaded machine shards start slowly too.
    return this.api.waitForBdb(
      created.uid,
      (b) => b.status === 'active',
      'it to become active',
      Math.max(30_000, this.lifecycle.startTimeoutMs ?? 0),
    );
  }

  db(name: string): Promise<Bdb> {
    return this.api.bdbByName(name, this.name);
  }

  /** `redis://admin:<admin pass>@host:port` of a database of this cluster. */
  async sourceUrl(db: string): Promise<string> {
    return sourceUrl(await this.db(db));
  }

  /** host/port/password a client uses to reach a database through its proxy. */
  async endpoint(db: string): Promise<{ host: string; port: number; password?: string }> {
    const b = await this.db(db);
    const ep = b.endpoints[0]!;
    return {
      host: ep.addr[0]!,
      port: ep.port ?? b.port,
      ...(b.authentication_redis_pass ? { password: b.authentication_redis_pass } : {}),
    };
  }

  /**
   * Sets the Replica Of sources of `db`: URIs, db names of this cluster, or "<cluster>/<db>" of
   * a cluster in the same MINIRS_HOME.
   */
  async replicaOf(db: string, sources: string[], o: SourceOptions = {}): Promise<Bdb> {
    const dest = await this.db(db);
    const others: ApiClient[] = [];
    try {
      const replicaSources = await resolveSources(
        sources,
        {
          cluster: this.name,
          api: this.api,
          connect: async (other) => {
            const c = await connectCluster(other, { ...this.lifecycle, autoStart: this.autoStart });
            others.push(c.api);
            return c.api;
          },
        },
        o,
      );
      return (
        (await this.api.updateBdb(dest.uid, { replica_sources: replicaSources })) ?? this.api.getBdb(dest.uid)
      );
    } finally {
      for (const a of others) a.close();
    }
  }

  /** The Replica Of status of `db` as `minirs status <cluster> <db> --json` prints it. */
  async replicaStatus(db: string): Promise<ReplicaStatusView> {
    return replicaStatus(await this.db(db));
  }

  managerPid(): number | undefined {
    const pid = managerPid(this.paths);
    return pid !== undefined && isClusterProcess(pid, ownerOf(this.paths)) ? pid : undefined;
  }

  /** Live processes named by the cluster's pid files: name (manager, shard-1, redis-1...) -> pid. */
  processes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, pid] of pidFiles(this.paths.run)) {
      if (isClusterProcess(pid, ownerOf(this.paths))) out.set(name, pid);
    }
    return out;
  }

  /** `minirs cluster start`: brings back a stopped or dead manager; a no-op if it runs. */
  restartManager(): Promise<StartResult> {
    return startCluster(this.name, this.lifecycle);
  }

  /** `minirs cluster stop`: every process stops, the state stays. */
  stop(): Promise<StopResult> {
    return stopCluster(this.name, this.lifecycle);
  }

  /** `minirs cluster delete`: no process or file of the cluster remains. Safe to call twice. */
  async delete(): Promise<DeleteResult> {
    this.api.close();
    try {
      return await deleteCluster(this.name, this.lifecycle);
    } catch (err) {
      if ((err as { code?: string }).code === 'MINIRS_ERR_NOT_FOUND') return { name: this.name, killed: [] };
      throw err;
    }
  }
}
