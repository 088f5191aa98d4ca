import { maskUri, type ReplicaSourceState, type ReplicaSync, type SourceStatus } from '@minirs/common';
import type { Bdb } from './api-client.js';

/**
 * Replica Of status as people and scripts read it: per source, and the aggregate of CONTRACT.md
 * (replica_sync when it is disabled, stopped or paused, else the worst source status).
 */

export type AggregateStatus = 'disabled' | 'stopped' | 'paused' | SourceStatus;

export interface SourceStatusView {
  uid: number;
  /** Password masked. */
  uri: string;
  status: SourceStatus;
  /** 0-100: rdb_transferred / rdb_size during the full sync, 100 once in sync. */
  progress: number;
  lag: number;
  last_update: string | null;
  last_error: string;
}

export interface ReplicaStatusView {
  bdb_uid: number;
  replica_sync: ReplicaSync;
  status: AggregateStatus;
  sources: SourceStatusView[];
}

export function sourceProgress(
  s: Pick<ReplicaSourceState, 'status' | 'rdb_size' | 'rdb_transferred'>,
): number {
  if (s.status === 'in-sync') return 100;
  if (!s.rdb_size || s.rdb_size <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((100 * (s.rdb_transferred ?? 0)) / s.rdb_size)));
}

const SEVERITY: Record<SourceStatus, number> = { 'in-sync': 0, syncing: 1, 'out-of-sync': 2 };

export function aggregateStatus(
  replicaSync: ReplicaSync,
  sources: { status: SourceStatus }[],
): AggregateStatus {
  if (replicaSync === 'disabled' || replicaSync === 'stopped' || replicaSync === 'paused') return replicaSync;
  if (sources.length === 0) return 'disabled';
  let worst: SourceStatus = 'in-sync';
  for (const s of sources) if (SEVERITY[s.status] > SEVERITY[worst]) worst = s.status;
  return worst;
}

export function replicaStatus(bdb: Pick<Bdb, 'uid' | 'replica_sync' | 'replica_sources'>): ReplicaStatusView {
  const sources = (bdb.replica_sources ?? []).map(
    (s): SourceStatusView => ({
      uid: s.uid,
      uri: maskUri(s.uri),
      status: s.status,
      progress: sourceProgress(s),
      lag: s.lag ?? 0,
      last_update: s.last_update ?? null,
      last_error: s.last_error ?? '',
    }),
  );
  const replicaSync = bdb.replica_sync ?? 'disabled';
  return {
    bdb_uid: bdb.uid,
    replica_sync: replicaSync,
    status: aggregateStatus(replicaSync, sources),
    sources,
  };
}

export function formatLag(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** One source's line: "Syncing 42%", "Synced (lag 3 ms)", "Sync stopped: <error>". */
export function describeSource(s: SourceStatusView, replicaSync: ReplicaSync): string {
  switch (replicaSync) {
    case 'stopped':
      return s.last_error ? `Sync stopped: ${s.last_error}` : 'Sync stopped';
    case 'paused':
      return 'Sync paused';
    case 'disabled':
      return 'Replica Of disabled';
  }
  switch (s.status) {
    case 'syncing':
      return `Syncing ${s.progress}%`;
    case 'in-sync':
      return `Synced (lag ${formatLag(s.lag)})`;
    case 'out-of-sync':
      return s.last_error ? `Out of sync: ${s.last_error}` : 'Out of sync (reconnecting)';
  }
}

/** The destination's line, from the aggregate. */
export function describeAggregate(v: ReplicaStatusView): string {
  const n = v.sources.length;
  switch (v.status) {
    case 'disabled':
      return n === 0 ? 'Not a replica (no sources)' : 'Replica Of disabled';
    case 'stopped': {
      const err = v.sources.find((s) => s.last_error)?.last_error;
      return err ? `Sync stopped: ${err}` : 'Sync stopped';
    }
    case 'paused':
      return 'Sync paused';
    case 'syncing': {
      const pct = Math.floor(v.sources.reduce((a, s) => a + s.progress, 0) / n);
      return `Syncing ${pct}%`;
    }
    case 'in-sync':
      return `Synced (lag ${formatLag(Math.max(...v.sources.map((s) => s.lag)))})`;
    case 'out-of-sync': {
      const down = v.sources.filter((s) => s.status === 'out-of-sync').length;
      return `Out of sync (${down} of ${n} source${n === 1 ? '' : 's'} down)`;
    }
  }
}

/** Human text of one destination: its aggregate line, then one line per source. */
export function renderReplicaStatus(title: string, v: ReplicaStatusView): string {
  const lines = [`${title}: ${describeAggregate(v)}`];
  const width = Math.max(0, ...v.sources.map((s) => s.uri.length));
  for (const s of v.sources) {
    lines.push(`  source ${s.uid}  ${s.uri.padEnd(width)}  ${describeSource(s, v.replica_sync)}`);
  }
  return lines.join('\n');
}
