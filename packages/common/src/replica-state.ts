import { type ErrorCode, ErrorCodes, MinirsError } from './errors.js';
import type { ReplicaSync, SourceStatus } from './types.js';

/**
 * The Replica Of state machine, in one pure module that the manager, the syncer and the CLI
 * import: the transitions of `replica_sync`, a source's status from the states of its links, the
 * destination's aggregate, the progress of a full sync, and the error table of ARCHITECTURE.md
 * as data (each error class with its MINIRS_ERR_ code and what it leads to).
 */

// ---- replica_sync ----

/**
 * CONTRACT.md: disabled->enabled, enabled->paused|stopped, paused->enabled|stopped,
 * stopped->enabled. Clearing the sources (or deleting the db) may disable from any state.
 */
export const REPLICA_SYNC_TRANSITIONS: Readonly<Record<ReplicaSync, readonly ReplicaSync[]>> = {
  disabled: ['enabled'],
  enabled: ['paused', 'stopped', 'disabled'],
  paused: ['enabled', 'stopped', 'disabled'],
  stopped: ['enabled', 'disabled'],
};

export function canTransition(from: ReplicaSync, to: ReplicaSync): boolean {
  return from === to || REPLICA_SYNC_TRANSITIONS[from].includes(to);
}

/** Throws a 400 (field replica_sync) naming the allowed targets when `from -> to` is not allowed. */
export function checkTransition(from: ReplicaSync, to: ReplicaSync): void {
  if (canTransition(from, to)) return;
  throw new MinirsError(
    ErrorCodes.INVALID_ARGUMENT,
    `replica_sync cannot go from ${from} to ${to}; allowed: ${REPLICA_SYNC_TRANSITIONS[from].join(', ')}`,
    { field: 'replica_sync' },
  );
}

/** Entering `enabled` from anything else flushes the destination and starts over (a new epoch). */
export function transitionRestartsSync(from: ReplicaSync, to: ReplicaSync): boolean {
  return to === 'enabled' && from !== 'enabled';
}

/** Whether the syncer runs links in this state (paused and stopped close them). */
export function syncRuns(replicaSync: ReplicaSync): boolean {
  return replicaSync === 'enabled';
}

// ---- a source's status from its links ----

/** The states of a replication link (syncer/src/replication/link.ts). */
export type LinkPhase =
  | 'idle'
  | 'connecting'
  | 'handshake'
  | 'full-sync'
  | 'streaming'
  | 'waiting-to-retry'
  | 'closed';

export interface LinkView {
  phase: LinkPhase;
  /** The link has loaded a full sync in this epoch (it was in sync once). */
  everSynced: boolean;
}

/**
 * One source (an external Redis: one link; a minirs db: one link per shard). in-sync when every
 * link streams; out-of-sync when a link waits to retry or lost the stream it had; syncing while
 * the first full sync of some link is under way; no links yet (shards not discovered) is
 * out-of-sync when the discovery failed, else syncing.
 */
export function sourceStatusFromLinks(links: readonly LinkView[], discoveryFailed = false): SourceStatus {
  if (links.length === 0) return discoveryFailed ? 'out-of-sync' : 'syncing';
  if (links.every((l) => l.phase === 'streaming')) return 'in-sync';
  if (links.some((l) => l.phase === 'waiting-to-retry' || (l.everSynced && l.phase !== 'streaming')))
    return 'out-of-sync';
  return 'syncing';
}

// ---- the destination's aggregate (CONTRACT.md `status`) ----

export type AggregateStatus = 'disabled' | 'stopped' | 'paused' | SourceStatus;

const SEVERITY: Record<SourceStatus, number> = { 'in-sync': 0, syncing: 1, 'out-of-sync': 2 };

/** replica_sync when it is disabled, stopped or paused, else the worst source status. */
export function aggregateStatus(
  replicaSync: ReplicaSync,
  sources: readonly { status: SourceStatus }[],
): AggregateStatus {
  if (replicaSync !== 'enabled') return replicaSync;
  if (sources.length === 0) return 'disabled';
  let worst: SourceStatus = 'in-sync';
  for (const s of sources) if (SEVERITY[s.status] > SEVERITY[worst]) worst = s.status;
  return worst;
}

/** Prometheus `bdb_replicaof_syncer_status` values (RS). */
export const SOURCE_STATUS_METRIC: Readonly<Record<SourceStatus, number>> = {
  'in-sync': 0,
  syncing: 1,
  'out-of-sync': 2,
};

// ---- progress of a full sync ----

export interface ProgressInput {
  status: SourceStatus;
  rdb_size: number;
  rdb_transferred: number;
  /** (minirs) keys loaded and the source's key count before the sync (diskless sources). */
  keys_loaded?: number;
  keys_total?: number;
}

/**
 * 0-100, or null when unknown. Bytes when the source announced the RDB's size; else (a diskless
 * source streams its RDB without a size) keys loaded against the source's key count before the
 * sync, capped at 99 until the load ends; else unknown.
 */
export function sourceProgress(s: ProgressInput): number | null {
  if (s.status === 'in-sync') return 100;
  if (s.rdb_size > 0) {
    return Math.max(0, Math.min(100, Math.floor((100 * (s.rdb_transferred ?? 0)) / s.rdb_size)));
  }
  if (s.keys_total !== undefined && s.keys_total > 0 && s.keys_loaded !== undefined) {
    return Math.max(0, Math.min(99, Math.floor((100 * s.keys_loaded) / s.keys_total)));
  }
  if (s.keys_total === 0) return 0;
  return null;
}

// ---- the error table ----

/** What an error leads to. */
export type ErrorOutcome =
  /** replica_sync: stopped; last_error says what a person must do. */
  | 'stop'
  /** Keep going: back off and retry the same step (the link reconnects). */
  | 'retry'
  /** Reconnect this link and continue where it was (PSYNC replid offset+1). */
  | 'partial-resync'
  /** Flush the destination and full-sync every source again. */
  | 'full-resync'
  /** The write is dropped, as a Redis replica does; counted, shown in status and last_error. */
  | 'count';

export type ErrorSide = 'source' | 'destination' | 'syncer';

export type ReplicaErrorClass =
  | 'auth'
  | 'tls-trust'
  | 'crossslot'
  | 'oom'
  | 'protocol'
  | 'rdb-corrupt'
  | 'incompatible'
  | 'full-sync-failing'
  | 'full-sync-failed'
  | 'source-not-ready'
  | 'source-connection'
  | 'partial-refused'
  | 'destination-not-ready'
  | 'destination-unknown-fate'
  | 'destination-restarted'
  | 'rejected-write'
  | 'syncer-unresponsive';

export interface ReplicaErrorRule {
  class: ReplicaErrorClass;
  code: ErrorCode;
  side: ErrorSide | 'either';
  outcome: ErrorOutcome;
  /** Error replies of that side that belong to this class (prefixes, tested in table order). */
  replies?: readonly string[];
  /** Other text that belongs to this class (e.g. the proxy's own messages). */
  patterns?: readonly RegExp[];
  /** What a person should do (stop) or what happens (others). */
  remedy: string;
}

/**
 * The error table of ARCHITECTURE.md, as data. Replies are matched in table order against the
 * side the error came from; the first rule whose side matches wins.
 */
export const REPLICA_ERROR_TABLE: readonly ReplicaErrorRule[] = [
  {
    class: 'auth',
    code: ErrorCodes.AUTH,
    side: 'either',
    outcome: 'stop',
    replies: [
      'NOAUTH',
      'WRONGPASS',
      'NOPERM',
      'ERR invalid password',
      'ERR invalid username-password pair',
      'ERR AUTH',
      'ERR Client sent AUTH',
      // A redis-server in protected mode (no password) refuses other addresses than loopback; the
      // syncer's message for it (errorFromReply) says what to change.
      'DENIED',
    ],
    remedy:
      'Check the user and password of the source URI (for a minirs source, the admin password may have been regenerated: get the current URI with `minirs db source-url`), then restart the sync.',
  },
  {
    class: 'tls-trust',
    code: ErrorCodes.AUTH,
    side: 'either',
    outcome: 'stop',
    remedy:
      "Check the source's server certificate (server_cert) and that the source lists the syncer's certificate, then restart the sync.",
  },
  {
    class: 'crossslot',
    code: ErrorCodes.CROSSSLOT,
    side: 'destination',
    outcome: 'stop',
    replies: ['CROSSSLOT'],
    remedy:
      'The destination is sharded: keep the keys of each source transaction, script or multi-key command in one hash slot ({hash tags}), or use a 1-shard destination; then restart the sync.',
  },
  {
    class: 'oom',
    code: ErrorCodes.OOM,
    side: 'either',
    outcome: 'stop',
    replies: ['OOM'],
    remedy:
      'Raise the memory limit (memory_size, or maxmemory of an external source) or free memory, then restart the sync.',
  },
  {
    class: 'protocol',
    code: ErrorCodes.PROTOCOL,
    side: 'source',
    outcome: 'stop',
    remedy: 'Check that the source URI points at a Redis >= 2.8 (or a minirs database) that allows replicas.',
  },
  {
    class: 'rdb-corrupt',
    code: ErrorCodes.RDB_CORRUPT,
    side: 'source',
    outcome: 'stop',
    remedy: "The source's RDB could not be read: check the source, then restart the sync.",
  },
  {
    class: 'incompatible',
    code: ErrorCodes.INCOMPATIBLE_SOURCE,
    side: 'source',
    outcome: 'stop',
    remedy:
      "Use a destination whose Redis version holds that data (at least the source's), or remove the feature's data from the source; then restart the sync.",
  },
  {
    class: 'full-sync-failing',
    code: ErrorCodes.FULL_SYNC_FAILING,
    side: 'source',
    outcome: 'stop',
    remedy:
      'Raise the source\'s `client-output-buffer-limit replica` (e.g. `CONFIG SET client-output-buffer-limit "replica 0 0 0"`) and make sure it can fork (free memory, vm.overcommit_memory=1), then restart the sync.',
  },
  {
    class: 'full-sync-failed',
    code: ErrorCodes.FULL_SYNC_FAILING,
    side: 'source',
    outcome: 'retry',
    replies: ['ERR BGSAVE failed'],
    remedy:
      'The source could not produce its RDB this time; the link retries (repeated failures stop the sync).',
  },
  {
    class: 'source-not-ready',
    code: ErrorCodes.CONNECTION,
    side: 'source',
    outcome: 'retry',
    replies: ['LOADING', 'NOMASTERLINK', 'BUSY', 'MASTERDOWN', 'TRYAGAIN'],
    remedy: 'The source cannot serve a replica yet; the link retries.',
  },
  {
    class: 'source-connection',
    code: ErrorCodes.CONNECTION,
    side: 'source',
    outcome: 'partial-resync',
    remedy: 'The link reconnects with backoff and resumes with a partial resync where the source allows it.',
  },
  {
    class: 'partial-refused',
    code: ErrorCodes.CONNECTION,
    side: 'source',
    outcome: 'full-resync',
    remedy: 'The source could not continue where the link was: every source is synced again from scratch.',
  },
  {
    class: 'destination-not-ready',
    code: ErrorCodes.DESTINATION_UNAVAILABLE,
    side: 'destination',
    outcome: 'full-resync',
    replies: ['LOADING', 'BUSY', 'TRYAGAIN', 'MASTERDOWN', 'CLUSTERDOWN'],
    patterns: [/shard .*(unavailable|down)/i],
    remedy: 'The destination could not take the write: the sync starts over once it recovers.',
  },
  {
    class: 'destination-unknown-fate',
    code: ErrorCodes.DESTINATION_UNAVAILABLE,
    side: 'destination',
    outcome: 'full-resync',
    // The proxy lost the shard with the write in flight, or has no shard for the slot yet:
    // skipping it could lose it or leave it half done; only a full resync is safe.
    patterns: [/may or may not have been executed|retry later/i],
    remedy: 'A write of unknown fate: the sync starts over from scratch.',
  },
  {
    class: 'destination-restarted',
    code: ErrorCodes.DESTINATION_UNAVAILABLE,
    side: 'destination',
    outcome: 'full-resync',
    remedy: 'A destination shard restarted empty: the sync starts over from scratch.',
  },
  {
    class: 'rejected-write',
    code: ErrorCodes.DEST_REJECTED_WRITE,
    side: 'destination',
    outcome: 'count',
    remedy:
      "The destination refused a replicated write (as a Redis replica, the sync goes on without it): check the destination for the key, or use a destination of the source's Redis version.",
  },
  {
    class: 'syncer-unresponsive',
    code: ErrorCodes.SYNCER_UNRESPONSIVE,
    side: 'syncer',
    outcome: 'retry',
    remedy:
      'The syncer process stopped reporting (stopped, frozen or overloaded); the manager waits for it and restarts it if it dies.',
  },
];

const BY_CLASS = new Map(REPLICA_ERROR_TABLE.map((r) => [r.class, r]));

export function errorRule(cls: ReplicaErrorClass): ReplicaErrorRule {
  return BY_CLASS.get(cls)!;
}

function sideMatches(rule: ReplicaErrorRule, side: ErrorSide): boolean {
  return rule.side === 'either' || rule.side === side;
}

function replyMatches(rule: ReplicaErrorRule, reply: string): boolean {
  if (rule.replies?.some((p) => reply === p || reply.startsWith(p.includes(' ') ? p : `${p} `))) return true;
  return rule.patterns?.some((re) => re.test(reply)) ?? false;
}

/**
 * The class of an error reply (`-ERR ...` without the dash) from `side`. A destination reply of
 * no other class is a rejected write; a source reply of no other class is a protocol error.
 */
export function classifyReply(reply: string, side: 'source' | 'destination'): ReplicaErrorRule {
  for (const rule of REPLICA_ERROR_TABLE) {
    if (sideMatches(rule, side) && replyMatches(rule, reply)) return rule;
  }
  return errorRule(side === 'destination' ? 'rejected-write' : 'protocol');
}

/** The first rule of an error code on a side (a MinirsError carried unchanged to a stop). */
export function ruleOfCode(code: ErrorCode, side: ErrorSide): ReplicaErrorRule | undefined {
  return REPLICA_ERROR_TABLE.find((r) => r.code === code && sideMatches(r, side));
}

/** The outcome an error code leads to when it ends a link (a MinirsError carried unchanged). */
export function outcomeOfCode(code: ErrorCode, side: ErrorSide): ErrorOutcome {
  for (const rule of REPLICA_ERROR_TABLE) {
    if (rule.code === code && sideMatches(rule, side)) return rule.outcome;
  }
  return code === ErrorCodes.CONNECTION || code === ErrorCodes.TIMEOUT ? 'retry' : 'stop';
}

// ---- features a destination may lack ----

/** Commands of a Redis feature newer than 7.0, and the version that introduced it. */
export interface RedisFeature {
  name: string;
  since: string;
  commands: readonly string[];
}

export const NEWER_FEATURES: readonly RedisFeature[] = [
  {
    name: 'hash field TTLs',
    since: '7.4',
    commands: ['HEXPIRE', 'HPEXPIRE', 'HEXPIREAT', 'HPEXPIREAT', 'HPERSIST', 'HSETEX', 'HGETEX', 'HGETDEL'],
  },
];

/** The feature of a command the destination answered "unknown command" to, if it is a known one. */
export function featureOfCommand(name: string): RedisFeature | undefined {
  const up = name.toUpperCase();
  return NEWER_FEATURES.find((f) => f.commands.includes(up));
}

export function isUnknownCommandReply(reply: string): boolean {
  return /^ERR unknown command/i.test(reply);
}

/** "7.4.1" >= "7.4"? (numeric, missing parts are 0) */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

// ---- a stop, as the syncer reports it and the manager records it ----

export interface StopReason {
  code: ErrorCode;
  class: ReplicaErrorClass;
  /** The whole message for last_error: which source, what happened, what to do. */
  error: string;
}

/** How long the manager waits for a syncer's report before it calls the sources out of sync. */
export const SYNCER_REPORT_STALE_MS = 3000;
