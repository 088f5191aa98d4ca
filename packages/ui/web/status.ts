import type { BdbState, ReplicaSourceState } from '@minirs/common';

/**
 * Replica Of status in RS's words (replica-of.md): Syncing n% / Synced (lag) / Sync stopped, per
 * source and as the destination's aggregate (CONTRACT.md: replica_sync when it is disabled,
 * stopped or paused, else the worst source status). Mirrors the CLI's replica-status.ts.
 */

export type Tone = 'ok' | 'busy' | 'bad' | 'muted';

export interface StatusView {
  label: string;
  tone: Tone;
  /** 0-100 while syncing. */
  progress?: number;
  /** The error, verbatim (passwords masked). */
  error?: string;
  /** What a person can do about it. */
  hint?: string;
}

export function maskUri(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^@/\s]*)@/gi, (_m, scheme: string, cred: string) => {
    const colon = cred.indexOf(':');
    return colon < 0 ? `${scheme}***@` : `${scheme}${cred.slice(0, colon)}:***@`;
  });
}

export function progressOf(s: Pick<ReplicaSourceState, 'status' | 'rdb_size' | 'rdb_transferred'>): number {
  if (s.status === 'in-sync') return 100;
  if (!s.rdb_size || s.rdb_size <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((100 * s.rdb_transferred) / s.rdb_size)));
}

export function formatLag(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return 'never';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(undefined, { hour12: false });
}

/** What to do about an error that stopped the sync. */
export function stopHint(error: string): string {
  if (/auth|WRONGPASS|NOAUTH|password/i.test(error)) {
    return "The source's admin password changed or is wrong. On the source database's page click Get Replica Of source URL, then Change URL of this source here (that restarts the sync).";
  }
  if (/CROSSSLOT/i.test(error)) {
    return 'A command from the source touches keys of different slots of this sharded database. Give those keys a common hash tag (or use one shard), then Restart sync.';
  }
  if (/OOM|memory/i.test(error)) {
    return 'A database ran out of memory. Raise its memory limit or heal the oom fault, then Restart sync.';
  }
  if (/certificate|TLS|SSL/i.test(error)) {
    return "TLS trust failed. Paste the source cluster's proxy certificate (its Cluster page, Certificates) as this source's Source cluster certificate.";
  }
  return 'Fix the cause above, then Restart sync (it flushes this database and syncs again from scratch).';
}

export function sourceStatus(s: ReplicaSourceState, replicaSync: BdbState['replica_sync']): StatusView {
  const error = s.last_error ? maskUri(s.last_error) : undefined;
  switch (replicaSync) {
    case 'stopped':
      return error
        ? { label: 'Sync stopped', tone: 'bad', error, hint: stopHint(error) }
        : {
            label: 'Sync stopped',
            tone: 'bad',
            hint: 'Stopped by a user. Restart sync flushes this database and syncs from scratch.',
          };
    case 'paused':
      return {
        label: 'Sync paused',
        tone: 'muted',
        hint: 'Restart sync flushes this database and syncs again.',
      };
    case 'disabled':
      return { label: 'Replica Of disabled', tone: 'muted' };
  }
  switch (s.status) {
    case 'syncing': {
      const progress = progressOf(s);
      return { label: `Syncing ${progress}%`, tone: 'busy', progress, error };
    }
    case 'in-sync':
      return { label: `Synced (lag ${formatLag(s.lag)})`, tone: 'ok' };
    case 'out-of-sync':
      return {
        label: 'Out of sync',
        tone: 'bad',
        error: error ?? 'link down',
        hint: 'minirs reconnects on its own and resumes with a partial sync where it can; check that the source is reachable (an injected partition?).',
      };
  }
}

export type Aggregate = 'disabled' | 'stopped' | 'paused' | ReplicaSourceState['status'];

const SEVERITY = { 'in-sync': 0, syncing: 1, 'out-of-sync': 2 } as const;

export function aggregateOf(b: Pick<BdbState, 'replica_sync' | 'replica_sources'>): Aggregate {
  if (b.replica_sync !== 'enabled') return b.replica_sync;
  if (b.replica_sources.length === 0) return 'disabled';
  let worst: ReplicaSourceState['status'] = 'in-sync';
  for (const s of b.replica_sources) if (SEVERITY[s.status] > SEVERITY[worst]) worst = s.status;
  return worst;
}

/** The destination's line: the aggregate of its sources. */
export function bdbReplicaStatus(b: BdbState): StatusView {
  const n = b.replica_sources.length;
  const agg = aggregateOf(b);
  switch (agg) {
    case 'disabled':
      return { label: n === 0 ? 'Not a replica' : 'Replica Of disabled', tone: 'muted' };
    case 'stopped': {
      const by = b.replica_sources.find((s) => s.last_error);
      return {
        label: 'Sync stopped',
        tone: 'bad',
        hint: by ? `Stopped by an error of source ${by.uid}: see below.` : 'Stopped by a user.',
      };
    }
    case 'paused':
      return { label: 'Sync paused', tone: 'muted' };
    case 'syncing': {
      const progress = Math.floor(b.replica_sources.reduce((a, s) => a + progressOf(s), 0) / n);
      return { label: `Syncing ${progress}%`, tone: 'busy', progress };
    }
    case 'in-sync':
      return {
        label: `Synced (lag ${formatLag(Math.max(...b.replica_sources.map((s) => s.lag)))})`,
        tone: 'ok',
      };
    case 'out-of-sync': {
      const down = b.replica_sources.filter((s) => s.status === 'out-of-sync').length;
      return { label: `Out of sync (${down} of ${n} source${n === 1 ? '' : 's'} down)`, tone: 'bad' };
    }
  }
}

/** RS's "Get Replica of source URL": redis://admin:<admin pass>@host:port. */
export function sourceUrl(
  b: Pick<BdbState, 'authentication_admin_pass' | 'endpoints' | 'port'>,
): string | undefined {
  const host = b.endpoints[0]?.addr[0];
  if (!host) return undefined;
  return `redis://admin:${encodeURIComponent(b.authentication_admin_pass)}@${host}:${b.endpoints[0]?.port ?? b.port}`;
}
