/**
 * The cluster's state as the cluster-manager persists it, and the configs it hands its
 * children. Field names follow the RS REST API where it has one (bdb, shard, node).
 */

export type TlsMode = 'disabled' | 'enabled' | 'replica_ssl';
export type ReplicaSync = 'disabled' | 'enabled' | 'paused' | 'stopped';
export type SourceStatus = 'syncing' | 'in-sync' | 'out-of-sync';
export type ShardStatus = 'starting' | 'active' | 'down' | 'restarting';
export type BdbStatus = 'pending' | 'active' | 'active-change-pending' | 'delete-pending' | 'creation-failed';
/** RS's on-disk persistence of a database, applied to every shard's redis-server. */
export type DataPersistence = 'disabled' | 'aof' | 'snapshot';
export type AofPolicy = 'appendfsync-every-sec' | 'appendfsync-always';
/** A snapshot every `secs` seconds when at least `writes` keys changed (redis `save secs writes`). */
export interface SnapshotRule {
  secs: number;
  writes: number;
}
/** What a shard's redis-server persists; rendered into redis.conf and set live with CONFIG SET. */
export interface ShardPersistence {
  data_persistence: DataPersistence;
  aof_policy: AofPolicy;
  snapshot_policy: SnapshotRule[];
}

export interface NodeState {
  uid: number;
  addr: string;
  status: 'active' | 'down';
}

export interface ClusterInfo {
  name: string;
  /** C in 127.0.C.N: the cluster's slot among the clusters of this MINIRS_HOME. */
  index: number;
  api_port: number;
  db_port_base: number;
  created_time: string;
  nodes: NodeState[];
  /** True when 127.0.C.N could not be bound and every node shares 127.0.0.1. */
  loopback_fallback: boolean;
  /**
   * (minirs) How nodes are hosts: 'netns' = node N runs in the network namespace minirs-C-N with
   * 198.18.C.N (see netns.ts); 'loopback' (or absent: clusters made before) = 127.0.C.N on lo.
   */
  net?: 'netns' | 'loopback';
  /** Why a `--net auto` cluster is in loopback mode. */
  net_reason?: string;
}

export interface ShardKeyRule {
  regex: string;
}

export interface Endpoint {
  addr: string[];
  port: number;
  dns_name: string;
}

export interface ReplicaSourceState {
  uid: number;
  uri: string;
  compression: number;
  encryption: boolean;
  server_cert?: string;
  client_cert?: string;
  client_key?: string;
  /** TLS server name indication the syncer sends when it connects to this source (RS). */
  replication_tls_sni?: string;
  status: SourceStatus;
  rdb_size: number;
  rdb_transferred: number;
  lag: number;
  last_update: string | null;
  last_error: string;
  /** (minirs) MINIRS_ERR_ code of last_error ('' when none). */
  last_error_code?: string;
  /** (minirs) replicated writes the destination refused (counted, not retried) in this epoch. */
  rejected_writes?: number;
  /** (minirs) full sync progress by keys, for sources that stream their RDB without a size. */
  keys_loaded?: number;
  keys_total?: number;
  /** (minirs, issue 15) How the syncer last (re)started this source: exact, partial or full; and why. */
  resume_mode?: ResumeMode;
  resume_reason?: string;
}

export interface BdbState {
  uid: number;
  name: string;
  port: number;
  memory_size: number;
  shards_count: number;
  sharding: boolean;
  shard_key_regex: ShardKeyRule[];
  hash_slots_policy: '16k';
  authentication_redis_pass: string;
  authentication_admin_pass: string;
  endpoints: Endpoint[];
  status: BdbStatus;
  tls_mode: TlsMode;
  enforce_client_authentication: 'enabled' | 'disabled';
  authentication_ssl_client_certs: { client_cert: string }[];
  replica_sync: ReplicaSync;
  replica_sources: ReplicaSourceState[];
  /** RS's persistence fields; absent in a state written before they existed (= disabled). */
  data_persistence?: DataPersistence;
  aof_policy?: AofPolicy;
  snapshot_policy?: SnapshotRule[];
  /**
   * (minirs, internal) Settings of RS's CONFIG table set with CONFIG SET through the endpoint
   * (canonical names), applied to every shard of the database whenever it starts.
   */
  redis_config?: Record<string, string>;
  /** (minirs) bumped whenever the sync must start over from scratch (sources changed, restart). */
  sync_epoch: number;
  created_time: string;
  shard_list: number[];
  /** RS's in-memory replication: a slave shard per master on another node (absent = false). */
  replication?: boolean;
  /** (minirs) the failovers of this database, oldest first (the last 50). */
  failovers?: FailoverRecord[];
  /** (minirs) slaves re-created on another node after theirs stayed down, oldest first (the last 50). */
  rereplications?: ReReplicationRecord[];
}

export interface ShardState {
  uid: number;
  bdb_uid: number;
  node_uid: number;
  /** Address and port of the shard's redis-server (internal; clients use the endpoint). */
  addr: string;
  port: number;
  /** Inclusive hash-slot range served by this shard. */
  slot_start: number;
  slot_end: number;
  /** RS's shard role: a master serves the slot range; a slave (replication: true) replicates it. */
  role: 'master' | 'slave';
  /** (minirs) a slave's master shard (REPLICAOF its addr:port). */
  master_shard_uid?: number;
  status: ShardStatus;
  restarts: number;
  /** What last happened to the shard's processes, for people reading `GET /v1/shards`. */
  last_event: string;
  last_event_time: string | null;
  stats?: ShardStats;
  /**
   * (minirs) uids of the slot range's shards this one replaced (a slave re-created on another
   * node): a Replica Of link that names one of them (MINIRS.LINK <uid>) still reaches the range.
   */
  former_uids?: number[];
}

export interface ShardStats {
  used_memory: number;
  maxmemory: number;
  keys: number;
  ops_per_sec: number;
  total_commands: number;
  connected_clients: number;
  redis_pid: number;
  uptime_sec: number;
  /** INFO replication: master | slave (absent in stats of older shards). */
  role?: 'master' | 'slave';
  /** A slave's link to its master: up | down. */
  master_link_status?: 'up' | 'down';
  /** A slave that is loading its master's RDB (full sync under way). */
  master_sync_in_progress?: boolean;
  master_repl_offset?: number;
  /** A master's replicas that are online. */
  connected_slaves?: number;
  /** replid and replid2 of INFO replication (replid2 continues a promoted replica's history). */
  master_replid?: string;
  master_replid2?: string;
}

/** (minirs) One failover of a replicated database: the slave promoted when its master was lost. */
/**
 * (minirs) A master's slave re-created on another live node because the slave's node stayed
 * down; the old slave shard is discarded (it never runs again, so no stale copy comes back).
 */
export interface ReReplicationRecord {
  time: string;
  master_shard: number;
  slots: string;
  old_slave_shard: number;
  old_slave_node: number;
  new_slave_shard: number;
  new_slave_node: number;
  reason: string;
}

export interface FailoverRecord {
  time: string;
  /** The shard promoted (the new master) and the one it replaces (the old master). */
  new_master_shard: number;
  old_master_shard: number;
  new_master_node: number;
  old_master_node: number;
  slots: string;
  reason: string;
  /**
   * (minirs) false: the slave was not confirmed in sync at the loss (its link or probe not seen
   * recently) and was promoted because the master's data was gone (the only copy left).
   */
  slave_in_sync?: boolean;
}

/** How a shard's redis-server replicates (absent: a master without a fence). */
export interface ShardReplicationConfig {
  role: 'master' | 'slave';
  /** A slave's master. */
  master_host?: string;
  master_port?: number;
  /**
   * A master's min-replicas-to-write: 1 while its slave is in sync (a master cut off from its
   * slave stops taking writes: no split brain), 0 when the slave is known lost.
   */
  min_replicas_to_write?: number;
}

export interface ClusterState {
  version: 1;
  cluster: ClusterInfo;
  /** requirepass of every shard's redis-server; known to proxies, syncers and the manager only. */
  internal_password: string;
  next_bdb_uid: number;
  next_shard_uid: number;
  bdbs: BdbState[];
  shards: ShardState[];
}

export interface Credentials {
  username: string;
  password: string;
  api_url: string;
}

/** Handed to a shard process in MINIRS_PROC_CONFIG. */
export interface ShardProcessConfig {
  cluster: string;
  uid: number;
  bdb_uid: number;
  addr: string;
  port: number;
  password: string;
  maxmemory: number;
  data_dir: string;
  socket: string;
  log_file: string;
  redis_log_file: string;
  redis_pid_file: string;
  redis_server: string;
  /** Absent = no persistence (what shards did before the field existed). */
  persistence?: ShardPersistence;
  /** Absent = a master of a database without replication. */
  replication?: ShardReplicationConfig;
  /** The bdb's CONFIG SET settings (BdbState.redis_config), written into redis.conf. */
  redis_config?: Record<string, string>;
}

export interface ProxyShardRoute {
  uid: number;
  host: string;
  port: number;
  slot_start: number;
  slot_end: number;
  status: ShardStatus;
  /**
   * (replication) uids of the slot range's other shards (its slave, a master it replaced): a
   * replication link asked for one of them (MINIRS.LINK <uid> after a failover) reaches this master.
   */
  aliases?: number[];
}

export interface ProxyDbConfig {
  uid: number;
  name: string;
  port: number;
  redis_pass: string;
  admin_pass: string;
  sharding: boolean;
  shard_key_regex: ShardKeyRule[];
  tls_mode: TlsMode;
  enforce_client_authentication: 'enabled' | 'disabled';
  client_certs: string[];
  shards: ProxyShardRoute[];
}

/** Handed to a proxy process in MINIRS_PROC_CONFIG; databases arrive as `config` messages. */
export interface ProxyProcessConfig {
  cluster: string;
  node_uid: number;
  addr: string;
  socket: string;
  log_file: string;
  internal_password: string;
  /** PEM paths of the cluster's proxy certificate, for TLS endpoints. */
  tls_cert: string;
  tls_key: string;
  ca_cert: string;
}

export interface ProxyRuntimeConfig {
  dbs: ProxyDbConfig[];
}

/** Handed to a syncer process in MINIRS_PROC_CONFIG; sources arrive as `config` messages. */
export interface SyncerProcessConfig {
  cluster: string;
  bdb_uid: number;
  socket: string;
  log_file: string;
  /** The syncer's client certificate (PEM paths) for TLS sources that enforce client auth. */
  tls_cert: string;
  tls_key: string;
  /** The cluster's proxy certificate (PEM path): pinned when writing to a TLS destination. */
  proxy_cert?: string;
}

export interface SyncerRuntimeConfig {
  bdb_uid: number;
  /** Bumped whenever the sync must restart from scratch: flush the destination, full sync all sources. */
  epoch: number;
  replica_sync: ReplicaSync;
  destination: {
    host: string;
    port: number;
    password: string;
    /** The destination database requires TLS (tls_mode enabled): write over TLS with the syncer's certificate. */
    tls?: boolean;
    /**
     * (issue 15) The destination's admin password: the syncer writes its stream through
     * replication pipes (MINIRS.LINK) to each destination shard, with a checkpoint in the same
     * MULTI. Absent: the syncer writes through the endpoint and cannot resume exactly.
     */
    admin_password?: string;
    /** (issue 15) The destination's hash policy: the syncer routes its stream to the shards with it. */
    shard_key_regex?: ShardKeyRule[];
    /** Destination shards with the pid of their redis-server: a new pid means it restarted empty. */
    shards: { uid: number; slot_start: number; slot_end: number; redis_pid: number; status: ShardStatus }[];
  };
  sources: Pick<
    ReplicaSourceState,
    | 'uid'
    | 'uri'
    | 'compression'
    | 'encryption'
    | 'server_cert'
    | 'client_cert'
    | 'client_key'
    | 'replication_tls_sni'
  >[];
  /** Link faults injected through the fault API (minirs). */
  faults: LinkFault[];
}

export interface LinkFault {
  id: string;
  kind: 'partition' | 'latency' | 'bandwidth' | 'reset';
  /** Source uid of this bdb the fault applies to; undefined = every source. */
  source_uid?: number;
  ms?: number;
  jitter_ms?: number;
  kbps?: number;
}

/** What a syncer reports about one source (merged into the bdb's replica_sources by the manager). */
export interface SourceReport {
  uid: number;
  status: SourceStatus;
  rdb_size: number;
  rdb_transferred: number;
  lag: number;
  last_update: string | null;
  last_error: string;
  /** MINIRS_ERR_ code of last_error ('' when none). */
  last_error_code?: string;
  ingress_bytes: number;
  ingress_bytes_decompressed: number;
  /** Full syncs and partial resyncs so far in this epoch (minirs). */
  full_syncs: number;
  partial_syncs: number;
  lag_samples?: number[];
  /** (minirs) Only db 0 is replicated: keys (full sync) and commands (stream) of other dbs skipped. */
  other_db_keys?: number;
  other_db_commands?: number;
  /** (minirs) replicated writes the destination refused (counted, not retried). */
  rejected_writes?: number;
  /** (minirs) full sync progress by keys (see ReplicaSourceState). */
  keys_loaded?: number;
  keys_total?: number;
  /**
   * (minirs, issue 15) How the syncer last (re)started this source's links: `exact` from the
   * checkpoints on the destination (no write applied twice or skipped), `partial` a PSYNC of a
   * running syncer after a source connection drop, `full` a flush and full sync; and why.
   */
  resume_mode?: ResumeMode;
  resume_reason?: string;
}

export type ResumeMode = 'exact' | 'partial' | 'full';

export interface SyncerReport {
  epoch: number;
  sources: SourceReport[];
}

/** Body of POST /v1/bdbs: what the CLI sends and the manager validates. */
export interface BdbCreateRequest {
  name: string;
  memory_size?: number;
  shards_count?: number;
  sharding?: boolean;
  shard_key_regex?: ShardKeyRule[];
  port?: number;
  authentication_redis_pass?: string;
  tls_mode?: TlsMode;
  enforce_client_authentication?: 'enabled' | 'disabled';
  authentication_ssl_client_certs?: { client_cert: string }[];
  /** RS: the database id; assigned in sequence when absent. */
  uid?: number;
  type?: 'redis';
  data_persistence?: DataPersistence;
  aof_policy?: AofPolicy;
  snapshot_policy?: SnapshotRule[];
  replica_sources?: ReplicaSourceRequest[];
  replica_sync?: ReplicaSync;
  replication?: boolean;
}

/** One element of `replica_sources` in a PUT /v1/bdbs/{uid}. */
export interface ReplicaSourceRequest {
  uid?: number;
  uri: string;
  compression?: number;
  encryption?: boolean;
  server_cert?: string;
  client_cert?: string;
  client_key?: string;
  replication_tls_sni?: string;
}
