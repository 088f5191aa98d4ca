import { Agent, request } from 'node:https';
import {
  type BdbCreateRequest,
  type BdbState,
  type ErrorCode,
  ErrorCodes,
  type FaultRequest,
  MinirsError,
  type NodeState,
  type ReplicaSourceRequest,
  type ReplicaSync,
  type ShardState,
  type ShardStats,
  type TlsMode,
} from '@minirs/common';

/** GET /v1/cluster. */
export interface ClusterView {
  name: string;
  api_port?: number;
  nodes?: NodeState[];
  [field: string]: unknown;
}

/** The bdb object of the REST API: the persisted state, plus whatever the manager adds. */
export type Bdb = BdbState & Record<string, unknown>;

export type { BdbCreateRequest, ReplicaSourceRequest };

/**
 * RS's shard object as GET /v1/shards answers it (string uid and node_uid, assigned_slots,
 * status active | inactive), with minirs's fields: process_status (starting | active | down |
 * restarting), addr, port, slot_start, slot_end, restarts, last_event, stats.
 */
export interface ShardView {
  uid: string;
  bdb_uid: number;
  node_uid: string;
  role: 'master' | 'slave';
  assigned_slots: string;
  status: 'active' | 'inactive';
  detailed_status: string;
  loading: { status: string };
  redis_info: Record<string, number>;
  report_timestamp?: string;
  process_status: ShardState['status'];
  addr: string;
  port: number;
  slot_start: number;
  slot_end: number;
  restarts: number;
  last_event: string;
  last_event_time: string | null;
  stats?: ShardStats;
}

/** An RS state machine run: what GET /v1/actions/{uid} answers. */
export interface ActionView {
  action_uid: string;
  name: string;
  object_name: string;
  status: 'pending' | 'active' | 'completed' | 'failed';
  progress: number;
  creation_time: number;
  error_code?: string;
  error_message?: string;
}

export interface BdbUpdateRequest {
  replica_sources?: ReplicaSourceRequest[];
  replica_sync?: ReplicaSync;
  tls_mode?: TlsMode;
  enforce_client_authentication?: 'enabled' | 'disabled';
  authentication_ssl_client_certs?: { client_cert: string }[];
  authentication_redis_pass?: string;
  memory_size?: number;
}

export type { FaultKind, FaultRequest } from '@minirs/common';

export interface Fault extends Omit<FaultRequest, 'mechanism'> {
  id: number | string;
  active?: boolean;
  since?: string;
  until?: string;
  healed_time?: string;
  mechanism?: string;
  path?: string;
  [field: string]: unknown;
}

export interface ApiClientOptions {
  /** https://host:port of the cluster's API. */
  apiUrl: string;
  username: string;
  password: string;
  /** PEM of the cluster CA that signed the API certificate. */
  ca: string | Buffer;
  timeoutMs?: number;
  /**
   * Called when the manager cannot be reached (refused, reset); resolves true when it brought
   * the manager back, and the request is then tried once more.
   */
  recover?: (err: MinirsError) => Promise<boolean>;
}

/** An error answer of the API: `{"error_code","message"}` with its HTTP status. */
export class ApiError extends MinirsError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly method: string,
    readonly path: string,
    field?: string,
  ) {
    // The manager's codes are ours (MINIRS_ERR_*); anything else is kept verbatim for the reader.
    super(code as ErrorCode, message, { op: `${method} ${path}`, field });
    this.name = 'ApiError';
  }
}

/** Connection-level failures that mean "no manager behind this port", as opposed to an answer. */
export function isManagerUnreachable(err: unknown): boolean {
  if (!(err instanceof MinirsError) || err.code !== ErrorCodes.MANAGER_DOWN) return false;
  return true;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'EPIPE']);

/** Typed client of a cluster's REST API (HTTPS with the cluster CA, HTTP basic auth). */
export class ApiClient {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly auth: string;

  constructor(private readonly opts: ApiClientOptions) {
    this.base = new URL(opts.apiUrl);
    this.auth = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    // keepAlive for `status --watch` polling; close() releases the sockets so the process can exit.
    this.agent = new Agent({ ca: opts.ca, keepAlive: true, maxSockets: 4 });
  }

  get apiUrl(): string {
    return this.opts.apiUrl;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.once<T>(method, path, body);
    } catch (err) {
      if (this.opts.recover && isManagerUnreachable(err) && (await this.opts.recover(err as MinirsError))) {
        return this.once<T>(method, path, body);
      }
      throw err;
    }
  }

  private once<T>(method: string, path: string, body?: unknown, retriedStale = false): Promise<T> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const timeoutMs = this.opts.timeoutMs ?? 15_000;
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: this.auth,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(this.transportError(err, method, path)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text.length ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) {
              if (text.length && parsed === undefined) {
                reject(
                  new MinirsError(
                    ErrorCodes.PROTOCOL,
                    `${method} ${path} answered ${status} with non-JSON text`,
                    {
                      op: `${method} ${path}`,
                    },
                  ),
                );
              } else resolve(parsed as T);
              return;
            }
            const e = (parsed ?? {}) as {
              error_code?: string;
              minirs_error_code?: string;
              message?: string;
              field?: string;
            };
            reject(
              new ApiError(
                status,
                // error_code is RS's where RS documents one (uid_exists, ...); ours is minirs_error_code.
                e.minirs_error_code ??
                  e.error_code ??
                  (status === 401 ? ErrorCodes.UNAUTHORIZED : ErrorCodes.INTERNAL),
                e.message ??
                  `${method} ${path} failed with HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
                method,
                path,
                e.field,
              ),
            );
          });
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(
          new MinirsError(
            ErrorCodes.TIMEOUT,
            `${method} ${path} got no answer from ${this.base.host} within ${timeoutMs} ms`,
            { op: `${method} ${path}`, peer: this.base.host },
          ),
        ),
      );
      req.on('error', (err) => {
        // A kept-alive socket the server closed just as it was reused: the request never reached
        // the manager, so sending it once more on a fresh socket is safe (Node's documented remedy).
        const code = (err as NodeJS.ErrnoException).code;
        if (req.reusedSocket && !retriedStale && (code === 'ECONNRESET' || code === 'EPIPE')) {
          resolve(this.once<T>(method, path, body, true));
          return;
        }
        reject(this.transportError(err, method, path));
      });
      req.end(payload);
    });
  }

  private transportError(err: Error, method: string, path: string): MinirsError {
    if (err instanceof MinirsError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const op = `${method} ${path}`;
    if (UNREACHABLE.has(code)) {
      return new MinirsError(
        ErrorCodes.MANAGER_DOWN,
        `the cluster API at ${this.base.host} is unreachable (${code})`,
        { op, peer: this.base.host, cause: err },
      );
    }
    return new MinirsError(ErrorCodes.CONNECTION, `${op} to ${this.base.host} failed: ${err.message}`, {
      op,
      peer: this.base.host,
      cause: err,
    });
  }

  close(): void {
    this.agent.destroy();
  }

  // ---- endpoints of CONTRACT.md ----

  getCluster(): Promise<ClusterView> {
    return this.request('GET', '/v1/cluster');
  }
  getCertificates(): Promise<{ proxy_cert: string; syncer_cert: string }> {
    return this.request('GET', '/v1/cluster/certificates');
  }
  listNodes(): Promise<NodeState[]> {
    return this.request('GET', '/v1/nodes');
  }
  listShards(): Promise<ShardView[]> {
    return this.request('GET', '/v1/shards');
  }
  bdbShards(uid: number): Promise<ShardView[]> {
    return this.request('GET', `/v1/bdbs/${uid}/shards`);
  }
  getAction(actionUid: string): Promise<ActionView> {
    return this.request('GET', `/v1/actions/${encodeURIComponent(actionUid)}`);
  }
  listBdbs(): Promise<Bdb[]> {
    return this.request('GET', '/v1/bdbs');
  }
  getBdb(uid: number): Promise<Bdb> {
    return this.request('GET', `/v1/bdbs/${uid}`);
  }
  createBdb(body: BdbCreateRequest): Promise<Bdb> {
    return this.request('POST', '/v1/bdbs', body);
  }
  updateBdb(uid: number, body: BdbUpdateRequest): Promise<Bdb> {
    return this.request('PUT', `/v1/bdbs/${uid}`, body);
  }
  deleteBdb(uid: number): Promise<unknown> {
    return this.request('DELETE', `/v1/bdbs/${uid}`);
  }
  flushBdb(uid: number): Promise<Bdb> {
    return this.request('PUT', `/v1/bdbs/${uid}/flush`);
  }
  resetAdminPass(uid: number): Promise<Bdb | undefined> {
    return this.request('PUT', `/v1/bdbs/${uid}/reset_admin_pass`);
  }
  /** RS's interval (1sec ... 1week), stime and etime (ISO 8601) pass through as query parameters. */
  syncSourceStats(
    uid: number,
    q: { interval?: string; stime?: string; etime?: string } = {},
  ): Promise<unknown> {
    const qs = new URLSearchParams(
      Object.entries(q).filter(([, v]) => v !== undefined) as [string, string][],
    );
    return this.request('GET', `/v1/bdbs/${uid}/sync_source_stats${qs.size ? `?${qs}` : ''}`);
  }
  listFaults(): Promise<Fault[]> {
    return this.request('GET', '/v1/faults');
  }
  createFault(body: FaultRequest): Promise<Fault> {
    return this.request('POST', '/v1/faults', body);
  }
  deleteFault(id: number | string): Promise<unknown> {
    return this.request('DELETE', `/v1/faults/${encodeURIComponent(String(id))}`);
  }

  /** The bdb called `name`; 404-style error naming the cluster's databases otherwise. */
  async bdbByName(name: string, cluster?: string): Promise<Bdb> {
    const all = await this.listBdbs();
    const found = all.find((b) => b.name === name);
    if (!found) {
      const where = cluster ? ` in cluster "${cluster}"` : '';
      const known = all.length ? `; its databases: ${all.map((b) => b.name).join(', ')}` : '; it has none';
      throw new MinirsError(ErrorCodes.NOT_FOUND, `no database "${name}"${where}${known}`, { field: 'db' });
    }
    return found;
  }

  /** Polls GET /v1/bdbs/{uid} until `done` holds; the manager answers POST at once (pending). */
  async waitForBdb(uid: number, done: (b: Bdb) => boolean, what: string, timeoutMs = 30_000): Promise<Bdb> {
    const deadline = Date.now() + timeoutMs;
    let last: Bdb | undefined;
    for (;;) {
      last = await this.getBdb(uid);
      if (done(last)) return last;
      if (Date.now() > deadline) {
        throw new MinirsError(
          ErrorCodes.TIMEOUT,
          `database ${last.name} (uid ${uid}) is still ${last.status} after ${timeoutMs / 1000} s waiting for ${what}; see \`minirs logs\``,
        );
      }
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  /** After DELETE: polls until the bdb is gone (404). */
  async waitForBdbGone(uid: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.getBdb(uid);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return;
        throw err;
      }
      if (Date.now() > deadline) {
        throw new MinirsError(
          ErrorCodes.TIMEOUT,
          `database uid ${uid} still exists ${timeoutMs / 1000} s after DELETE`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
