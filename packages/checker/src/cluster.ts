/**
 * What the checker needs of a running minirs cluster: the shape of the CLI harness's
 * StartedMiniCluster (packages/harness/src/mini-cluster.ts), declared here so that this library does not
 * import the CLI (the CLI's `minirs check` imports this library and hands it the harness).
 */

export interface CheckerFaultRequest {
  kind: 'kill' | 'pause' | 'partition' | 'latency' | 'bandwidth' | 'reset' | 'oom';
  target: string;
  ms?: number;
  jitter_ms?: number;
  kbps?: number;
  bytes?: number;
}

export interface CheckerReplicaStatus {
  replica_sync: string;
  status: string;
  sources: { uid: number; status: string; progress: number; lag: number; last_error: string }[];
}

export interface CheckerCluster {
  readonly name: string;
  readonly paths: { logs: string };
  readonly api: {
    createFault(body: CheckerFaultRequest): Promise<{ id: number | string }>;
    deleteFault(id: number | string): Promise<unknown>;
    listFaults(): Promise<{ id: number | string }[]>;
    listNodes(): Promise<{ uid: number }[]>;
    updateBdb(uid: number, body: { replica_sync?: 'enabled' | 'paused' | 'stopped' }): Promise<unknown>;
  };
  createDb(o: {
    name: string;
    shards?: number;
    memory?: string;
    shardKeyRegex?: string[];
  }): Promise<{ uid: number }>;
  db(name: string): Promise<{ uid: number; shard_list: number[] }>;
  endpoint(db: string): Promise<{ host: string; port: number; password?: string }>;
  replicaOf(db: string, sources: string[]): Promise<{ uid: number }>;
  replicaStatus(db: string): Promise<CheckerReplicaStatus>;
  delete(): Promise<unknown>;
}

/** Starts a cluster of `nodes` nodes called `name` in MINIRS_HOME `home`. */
export type StartCluster = (name: string, home: string, nodes: number) => Promise<CheckerCluster>;
