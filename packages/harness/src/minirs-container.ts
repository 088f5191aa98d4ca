import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterState, clusterPaths, ErrorCodes, freePort, MinirsError } from '@minirs/common';
import {
  ApiClient,
  type Bdb,
  type CreateDbOptions,
  type ReplicaStatusView,
  type SourceOptions,
  StartedMiniCluster,
} from '@minirs/local';
import {
  AbstractStartedContainer,
  GenericContainer,
  type StartedTestContainer,
  type StopOptions,
  type StoppedTestContainer,
  Wait,
} from 'testcontainers';
import { claimIndex, releaseIndex } from './index-claim.js';

/**
 * A minirs cluster in a container (docker/Dockerfile), in the style of testcontainers' Redis
 * module: a configured MinirsContainer starts into a StartedMinirsContainer.
 *
 *   const east = await new MinirsContainer('minirs:dev').withNodes(2).withDatabase({ name: 'orders' }).start();
 *   const { host, port } = await east.getEndpoint('orders');
 *   await east.stop();
 *
 * The container uses the host's network (tests stay on loopback) and keeps its own 127.0.C.N
 * addresses: the index C is claimed on the host, where host clusters claim theirs. Its state
 * folder is a host folder (default: a fresh temp folder, removed at stop); `withStateDir` keeps
 * one across containers, so a new container starts the same cluster with its databases.
 */

const STATE_IN_CONTAINER = '/var/lib/minirs';
const SECRET_IN_CONTAINER = '/run/secrets/minirs_admin_password';
/** The image's `node` user: who owns the state when the tests run as root. */
const IMAGE_USER = { uid: 1000, gid: 1000 };


function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

export interface MinirsCredentials {
  username: string;
  password: string;
  /** PEM of the cluster CA that signed the API and proxy certificates. */
  caCert: string;
}

export interface MinirsEndpoint {
  host: string;
  port: number;
  password?: string;
  /** redis://[:password@]host:port */
  url: string;
}

export class MinirsContainer extends GenericContainer {
  private clusterName = 'minirs';
  private nodes = 1;
  private readonly databases: CreateDbOptions[] = [];
  private username?: string;
  private adminPassword?: string;
  private apiPort?: number;
  private dbPortBase?: number;
  private stateDir?: string;

  constructor(image = process.env.MINIRS_IMAGE ?? 'minirs:latest') {
    super(image);
    this.withNetworkMode('host').withStartupTimeout(120_000);
  }

  withClusterName(name: string): this {
    this.clusterName = name;
    return this;
  }
  withNodes(n: number): this {
    this.nodes = n;
    return this;
  }
  /** A database the container creates before it reports ready (kept when it exists already). */
  withDatabase(db: CreateDbOptions | string): this {
    this.databases.push(typeof db === 'string' ? { name: db } : db);
    return this;
  }
  /** REST credentials; the password reaches the container as a mounted secret file. */
  withCredentials(username: string, password: string): this {
    this.username = username;
    this.adminPassword = password;
    return this;
  }
  /** Default: a port the OS reports free. Ignored when the state folder holds a cluster. */
  withApiPort(port: number): this {
    this.apiPort = port;
    return this;
  }
  withDbPortBase(port: number): this {
    this.dbPortBase = port;
    return this;
  }
  /**
   * The host folder mounted as the container's state volume. It is kept at stop; a container
   * started on it later starts the same cluster (same index, ports, databases).
   */
  withStateDir(dir: string): this {
    this.stateDir = dir;
    return this;
  }

  override async start(): Promise<StartedMinirsContainer> {
    const ownDir = this.stateDir === undefined;
    const stateDir = this.stateDir ?? mkdtempSync(join(tmpdir(), 'minirs-container-'));
    const paths = clusterPaths(this.clusterName, stateDir);
    let existing: ClusterState | undefined;
    if (existsSync(paths.state)) existing = JSON.parse(readFileSync(paths.state, 'utf8')) as ClusterState;

    const index = claimIndex(stateDir, existing?.cluster.index);
    try {
      const apiPort = existing?.cluster.api_port ?? this.apiPort ?? (await freePort());
      const dbPortBase = existing?.cluster.db_port_base ?? this.dbPortBase ?? (await freePort());
      const username = this.username ?? `admin@${this.clusterName}.minirs.local`;
      const password = this.adminPassword ?? randomBytes(18).toString('base64url');
      // Root runs the container as the image's user; anyone else as themselves, so the state
      // folder stays theirs.
      const uid = process.getuid?.() ?? 0;
      const user = uid === 0 ? IMAGE_USER : { uid, gid: process.getgid?.() ?? 0 };
      if (uid === 0) chownTree(stateDir, user.uid, user.gid);

      this.withEnvironment({
        MINIRS_CLUSTER_NAME: this.clusterName,
        MINIRS_NODES: String(this.nodes),
        MINIRS_API_PORT: String(apiPort),
        MINIRS_DB_PORT_BASE: String(dbPortBase),
        MINIRS_CLUSTER_INDEX: String(index),
        MINIRS_ADMIN_USERNAME: username,
        MINIRS_ADMIN_PASSWORD_FILE: SECRET_IN_CONTAINER,
        MINIRS_DATABASES: JSON.stringify(this.databases),
        // Host network: publishing on the host's own interfaces would leave loopback.
        MINIRS_PUBLISH: 'off',
      })
        .withUser(`${user.uid}:${user.gid}`)
        .withBindMounts([{ source: stateDir, target: STATE_IN_CONTAINER, mode: 'rw' }])
        .withCopyContentToContainer([{ content: `${password}\n`, target: SECRET_IN_CONTAINER, mode: 0o444 }])
        .withWaitStrategy(Wait.forLogMessage(/"msg":"minirs container ready"/));

      // The container's last lines go into a start error: they say why it did not come up.
      const tail: string[] = [];
      this.withLogConsumer((stream) => {
        stream.on('data', (chunk: Buffer | string) => {
          for (const line of String(chunk).split('\n')) if (line.trim()) tail.push(line.trimEnd());
          tail.splice(0, Math.max(0, tail.length - 25));
        });
      });
      let started: StartedTestContainer;
      try {
        started = await super.start();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new MinirsError(
          ErrorCodes.MANAGER_DOWN,
          `the minirs container (cluster "${this.clusterName}") did not come up: ${why}${tail.length ? `\n--- its last lines ---\n${tail.join('\n')}` : ''}`,
          { op: 'start container', cause: err },
        );
      }
      const caCert = readFileSync(paths.caCert, 'utf8');
      const creds = JSON.parse(readFileSync(paths.credentials, 'utf8')) as { api_url: string };
      const api = new ApiClient({ apiUrl: creds.api_url, username, password, ca: caCert });
      const cluster = new StartedMiniCluster(
        this.clusterName,
        paths,
        api,
        { home: stateDir, env: process.env },
        false,
      );
      return new StartedMinirsContainer(
        started,
        cluster,
        { username, password, caCert },
        index,
        stateDir,
        ownDir,
      );
    } catch (err) {
      releaseIndex(index, stateDir);
      if (ownDir) rmSync(stateDir, { recursive: true, force: true });
      throw err;
    }
  }
}

export class StartedMinirsContainer extends AbstractStartedContainer {
  constructor(
    startedTestContainer: StartedTestContainer,
    /** REST helpers of the cluster (createDb, replicaOf, replicaStatus...); its processes are the container's. */
    private readonly cluster: StartedMiniCluster,
    private readonly credentials: MinirsCredentials,
    /** The cluster index: nodes are 127.0.C.N. */
    readonly clusterIndex: number,
    /** The host folder mounted as the state volume. */
    readonly stateDir: string,
    private readonly ownStateDir: boolean,
  ) {
    super(startedTestContainer);
  }

  get clusterName(): string {
    return this.cluster.name;
  }

  /** Typed REST client of the cluster (HTTPS with its CA, basic auth). */
  get api(): ApiClient {
    return this.cluster.api;
  }

  getApiUrl(): string {
    return this.cluster.api.apiUrl;
  }

  getCredentials(): MinirsCredentials {
    return { ...this.credentials };
  }

  /** Where a Redis client reaches database `db` (through the cluster's proxy). */
  async getEndpoint(db: string): Promise<MinirsEndpoint> {
    const ep = await this.cluster.endpoint(db);
    const auth = ep.password ? `:${encodeURIComponent(ep.password)}@` : '';
    return { ...ep, url: `redis://${auth}${ep.host}:${ep.port}` };
  }

  createDb(o: CreateDbOptions): Promise<Bdb> {
    return this.cluster.createDb(o);
  }

  /** `redis://admin:<admin pass>@host:port` of `db`, the URI another cluster replicates from. */
  getSourceUrl(db: string): Promise<string> {
    return this.cluster.sourceUrl(db);
  }

  /** Sets the Replica Of sources of `db` (URIs, or names of databases of this cluster). */
  replicaOf(db: string, sources: string[], o: SourceOptions = {}): Promise<Bdb> {
    return this.cluster.replicaOf(db, sources, o);
  }

  replicaStatus(db: string): Promise<ReplicaStatusView> {
    return this.cluster.replicaStatus(db);
  }

  protected override async containerStopping(): Promise<void> {
    this.cluster.api.close();
  }

  /** SIGTERM with 10 s to stop every process (testcontainers' own default is an immediate kill). */
  override async stop(options?: Partial<StopOptions>): Promise<StoppedTestContainer> {
    try {
      return await super.stop({ timeout: 10_000, ...options });
    } finally {
      if (this.ownStateDir) {
        releaseIndex(this.clusterIndex, this.stateDir);
        rmSync(this.stateDir, { recursive: true, force: true });
      }
    }
  }
}
