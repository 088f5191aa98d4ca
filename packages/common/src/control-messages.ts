import type { ErrorCode } from './errors.js';
import type { ReplicaErrorClass } from './replica-state.js';
import type {
  ProxyRuntimeConfig,
  ShardPersistence,
  ShardReplicationConfig,
  ShardStats,
  SyncerReport,
  SyncerRuntimeConfig,
} from './types.js';

/**
 * Every message of the control channel, per role (the way pg-protocol's messages.ts lists its
 * messages): what a child sends its manager (`up`), what the manager sends it (`down`), and the
 * requests it answers with their args and results. Types only: the wire stays msgpackr frames
 * (control.ts), and a receiver of requests still validates their args (they come off a socket).
 */

export type ProcessRole = 'shard' | 'proxy' | 'syncer';

export interface HelloMessage<R extends ProcessRole = ProcessRole, D = unknown> {
  type: 'hello';
  role: R;
  id: number;
  pid: number;
  started_at: string;
  detail?: D;
}

export interface ShutdownMessage {
  type: 'shutdown';
}

export interface ConfigMessage<C> {
  type: 'config';
  config: C;
}

export interface StatsMessage<S> {
  type: 'stats';
  stats: S;
}

/** `{ event: detail }` of a role turned into its event messages (K: some of them). */
export type EventMessage<M, K extends keyof M & string = keyof M & string> = {
  [P in K]: { type: 'event'; event: P; detail: M[P] };
}[K];

export interface RequestMessage {
  type: 'request';
  id: number;
  op: string;
  args?: unknown;
}

export interface ResponseMessage {
  type: 'response';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Request op -> its args (`undefined`: none) and result. */
export type RequestMap = Record<string, { args: unknown; result: unknown }>;

// ---- shard ----

export interface ShardHelloDetail {
  redis_pid: number;
  adopted: boolean;
  /** True when the adopted redis-server was found stopped (a pause fault outlived the old shard). */
  paused: boolean;
}

export type ShardEvents = {
  /** Its redis-server died: the shard process exits after this, for the manager to restart it. */
  'redis-exited': { code: number | null; signal: string | null; pid: number };
};

export type ShardRequests = {
  /** PING on redis-server (not the stats client), answered once it accepts commands. */
  ping: { args: undefined; result: string };
  stats: { args: undefined; result: ShardStats };
  /** bytes >= 1 (Redis reads 0 as "no limit"). */
  'set-maxmemory': { args: { bytes: number }; result: { maxmemory: number } };
  'set-persistence': { args: ShardPersistence; result: ShardPersistence };
  'pause-redis': { args: undefined; result: { redis_pid: number; paused: boolean } };
  'resume-redis': { args: undefined; result: { redis_pid: number; paused: boolean } };
  flush: { args: undefined; result: 'OK' };
  /**
   * REPLICAOF and the write fence. The manager's failover sends what its state says, which for a
   * shard it calls unreplicated is undefined: the shard refuses that (INVALID_ARGUMENT).
   */
  'set-role': { args: ShardReplicationConfig | undefined; result: ShardReplicationConfig };
};

export type ShardUpMessage = HelloMessage<'shard', ShardHelloDetail> | StatsMessage<ShardStats> | EventMessage<ShardEvents>;
/** A shard takes its config at spawn (MINIRS_PROC_CONFIG) and changes by request. */
export type ShardDownMessage = ShutdownMessage;

// ---- proxy ----

/** The runtime config, with the optional proxy-wide settings minirs adds. */
export interface ProxyConfigMessage extends ProxyRuntimeConfig {
  /** (minirs) How long a command may wait for a shard before it fails with -ERR. */
  shard_timeout_ms?: number;
  /** (minirs) Shared pipelined links per shard and protocol. */
  links_per_shard?: number;
}

export interface EndpointStats {
  bdb_uid: number;
  port: number;
  listening: boolean;
  conns: number;
  total_conns: number;
  total_ops: number;
  ops_per_sec: number;
  shards: { uid: number; state: string; error: string }[];
}

/** What the proxy reports every second in a `stats` control message. */
export interface ProxyStats {
  node_uid: number;
  pid: number;
  dbs: EndpointStats[];
}

export interface ProxyHelloDetail {
  addr: string;
}

export type ProxyEvents = {
  /** The endpoint listens and has a ready link to every shard. */
  ready: { bdb_uid: number; port: number };
  'not-ready': { bdb_uid: number; port: number; reason?: string };
  listening: { bdb_uid: number; port: number };
  'listen-failed': { bdb_uid: number; port: number; error: string };
  'config-error': { bdb_uid: number; error: string };
  /** CONFIG SET applied on every shard of the bdb (settings as the client named them). */
  'config-set': { bdb_uid: number; settings: Record<string, string> };
};

export type ProxyRequests = {
  ping: { args: undefined; result: 'pong' };
  stats: { args: undefined; result: ProxyStats };
};

export type ProxyUpMessage = HelloMessage<'proxy', ProxyHelloDetail> | StatsMessage<ProxyStats> | EventMessage<ProxyEvents>;
/** Each config is the node's full list of databases. */
export type ProxyDownMessage = ConfigMessage<ProxyConfigMessage> | ShutdownMessage;

// ---- syncer ----

export type SyncerEvents = {
  /** A source hit an error that needs a person: the manager sets replica_sync to stopped. */
  'sync-stopped': { source_uid: number; error: string; code: ErrorCode; class: ReplicaErrorClass; epoch: number };
};

export type SyncerRequests = {
  report: { args: undefined; result: SyncerReport };
};

export type SyncerUpMessage = HelloMessage<'syncer', never> | StatsMessage<SyncerReport> | EventMessage<SyncerEvents>;
export type SyncerDownMessage = ConfigMessage<SyncerRuntimeConfig> | ShutdownMessage;

// ---- per role ----

export interface ControlProtocols {
  shard: { up: ShardUpMessage; down: ShardDownMessage; requests: ShardRequests };
  proxy: { up: ProxyUpMessage; down: ProxyDownMessage; requests: ProxyRequests };
  syncer: { up: SyncerUpMessage; down: SyncerDownMessage; requests: SyncerRequests };
}

export type UpMessage<R extends ProcessRole> = ControlProtocols[R]['up'];
export type DownMessage<R extends ProcessRole> = ControlProtocols[R]['down'];
export type RequestsOf<R extends ProcessRole> = ControlProtocols[R]['requests'];

/** Any message on any control connection. */
export type ControlMessage =
  | UpMessage<ProcessRole>
  | DownMessage<ProcessRole>
  | RequestMessage
  | ResponseMessage;
