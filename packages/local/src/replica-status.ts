import {
  type AggregateStatus,
  aggregateStatus,
  maskUri,
  type ReplicaSourceState,
  type ReplicaSync,
  type ResumeMode,
  type SourceStatus,
  sourceProgress as progressOf,
} from '@minirs/common';
import type { Bdb } from './api-client.js';

/**
 * Replica Of status as people and scripts read it: per source, and the aggregate of CONTRACT.md
 * (replica_sync when it is disabled, stopped or paused, else the worst source status).
 */

export type { AggregateStatus } from '@minirs/common';
export { aggregateStatus } from '@minirs/common';

export interface SourceStatusView {
  uid: number;
  /** Password masked. */
  uri: string;
  status: SourceStatus;
  /** 0-100: rdb_transferred / rdb_size during the full sync (or keys loaded of keys), 100 once in sync. */
  progress: number;
  /** (minirs) false when the source streams its RDB without a size and no key count is known. */
  progress_known: boolean;
  lag: number;
  last_update: string | null;
  last_error: string;
  /** (minirs) MINIRS_ERR_ code of last_error ('' when none). */
  last_error_code: string;
  /** (minirs) replicated writes the destination refused. */
  rejected_writes: number;
  /** (minirs, issue 15) how the syncer last (re)started this source: exact, partial, full; and why. */
  resume_mode?: ResumeMode;
  resume_reason?: string;
}

export interface ReplicaStatusView {
  bdb_uid: number;
  replica_sync: ReplicaSync;
  status: AggregateStatus;
  sources: SourceStatusView[];
}

/** 0-100 (0 when unknown: see progress_known). The rules are @minirs/common's. */
export function sourceProgress(
  s: Pick<ReplicaSourceState, 'status' | 'rdb_size' | 'rdb_transferred' | 'keys_loaded' | 'keys_total'>,
): number {
  return progressOf({ ...s, rdb_size: s.rdb_size ?? 0, rdb_transferred: s.rdb_transferred ?? 0 }) ?? 0;
}

export function replicaStatus(bdb: Pick<Bdb, 'uid' | 'replica_sync' | 'replica_sources'>): ReplicaStatusView {
  const sources = (bdb.replica_sources ?? []).map(
    (s): SourceStatusView => ({
      uid: s.uid,
      uri: maskUri(s.uri),
      status: s.status,
      progress: sourceProgress(s),
      progress_known:
        progressOf({ ...s, rdb_size: s.rdb_size ?? 0, rdb_transferred: s.rdb_transferred ?? 0 }) !== null,
      lag: s.lag ?? 0,
      last_update: s.last_update ?? null,
      last_error: s.last_error ?? '',
      last_error_code: s.last_error_code ?? '',
      rejected_writes: s.rejected_writes ?? 0,
      ...(s.resume_mode ? { resume_mode: s.resume_mode, resume_reason: s.resume_reason ?? '' } : {}),
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
      return s.progress_known ? `Syncing ${s.progress}%` : 'Syncing (progress unknown)';
    case 'in-sync':
      return `Synced (lag ${formatLag(s.lag)})${rejectedNote(s)}`;
    case 'out-of-sync':
      return s.last_error ? `Out of sync: ${s.last_error}` : 'Out of sync (reconnecting)';
  }
}

/** ", 3 writes refused by the destination: <last>" when the destination refused some. */
function rejectedNote(s: SourceStatusView): string {
  if (!s.rejected_writes) return '';
  const n = s.rejected_writes;
  return `, ${n} write${n === 1 ? '' : 's'} refused by the destination${s.last_error ? `: ${s.last_error}` : ''}`;
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
      if (v.sources.some((s) => s.status === 'syncing' && !s.progress_known))
        return 'Syncing (progress unknown)';
      const pct = Math.floor(v.sources.reduce((a, s) => a + s.progress, 0) / n);
      return `Syncing ${pct}%`;
    }
    case 'in-sync': {
      const refused = v.sources.reduce((a, s) => a + s.rejected_writes, 0);
      const note = refused ? `, ${refused} write${refused === 1 ? '' : 's'} refused by the destination` : '';
      return `Synced (lag ${formatLag(Math.max(...v.sources.map((s) => s.lag)))})${note}`;
    }
    case 'out-of-sync': {
      const down = v.sources.filter((s) => s.status === 'out-of-sync').length;
      return `Out of sync (${down} of ${n} source${n === 1 ? '' : 's'} down)`;
    }
  }
}

function describeResume(m: ResumeMode): string {
  if (m === 'exact') return 'exact resume from the destination checkpoints';
  if (m === 'partial') return 'partial resync of a dropped source connection';
  return 'full sync';
}

/** Human text of one destination: its aggregate line, then one line per source. */
export function renderReplicaStatus(title: string, v: ReplicaStatusView): string {
  const lines = [`${title}: ${describeAggregate(v)}`];
  const width = Math.max(0, ...v.sources.map((s) => s.uri.length));
  for (const s of v.sources) {
    lines.push(`  source ${s.uid}  ${s.uri.padEnd(width)}  ${describeSource(s, v.replica_sync)}`);
    if (s.resume_mode && v.replica_sync !== 'disabled')
      lines.push(
        `    last (re)start: ${describeResume(s.resume_mode)}${s.resume_reason ? ` (${s.resume_reason})` : ''}`,
      );
  }
  return lines.join('\n');
}
