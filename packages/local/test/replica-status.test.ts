import { maskUri, type ReplicaSourceState, type ReplicaSync } from '@minirs/common';
import { describe, expect, it } from 'vitest';
import {
  aggregateStatus,
  describeAggregate,
  describeSource,
  formatLag,
  renderReplicaStatus,
  replicaStatus,
  sourceProgress,
} from '../src/replica-status.js';

function source(over: Partial<ReplicaSourceState>): ReplicaSourceState {
  return {
    uid: 1,
    uri: 'redis://admin:topsecret@127.0.1.1:12000',
    compression: 0,
    encryption: false,
    status: 'in-sync',
    rdb_size: 0,
    rdb_transferred: 0,
    lag: 0,
    last_update: null,
    last_error: '',
    ...over,
  };
}

function bdb(replica_sync: ReplicaSync, sources: ReplicaSourceState[]) {
  return { uid: 7, replica_sync, replica_sources: sources };
}

describe('aggregate status (CONTRACT.md)', () => {
  it('is replica_sync when it is disabled, stopped or paused, whatever the sources say', () => {
    const down = [{ status: 'out-of-sync' as const }];
    expect(aggregateStatus('disabled', down)).toBe('disabled');
    expect(aggregateStatus('stopped', down)).toBe('stopped');
    expect(aggregateStatus('paused', down)).toBe('paused');
  });

  it('is otherwise the worst source: out-of-sync > syncing > in-sync', () => {
    expect(aggregateStatus('enabled', [{ status: 'in-sync' }, { status: 'in-sync' }])).toBe('in-sync');
    expect(aggregateStatus('enabled', [{ status: 'in-sync' }, { status: 'syncing' }])).toBe('syncing');
    expect(
      aggregateStatus('enabled', [{ status: 'syncing' }, { status: 'out-of-sync' }, { status: 'in-sync' }]),
    ).toBe('out-of-sync');
    expect(aggregateStatus('enabled', [{ status: 'out-of-sync' }, { status: 'syncing' }])).toBe(
      'out-of-sync',
    );
  });
});

describe('per-source view', () => {
  it('progress is rdb_transferred / rdb_size, floored, 100 once in sync', () => {
    expect(sourceProgress({ status: 'syncing', rdb_size: 1000, rdb_transferred: 429 })).toBe(42);
    expect(sourceProgress({ status: 'syncing', rdb_size: 0, rdb_transferred: 0 })).toBe(0);
    expect(sourceProgress({ status: 'syncing', rdb_size: 10, rdb_transferred: 50 })).toBe(100);
    expect(sourceProgress({ status: 'in-sync', rdb_size: 10, rdb_transferred: 3 })).toBe(100);
  });

  it('the JSON shape masks the password, also behind a "<db>:" prefix', () => {
    const v = replicaStatus(
      bdb('enabled', [
        source({ uid: 1, status: 'syncing', rdb_size: 200, rdb_transferred: 84 }),
        source({
          uid: 2,
          uri: 'db1:redis://admin:hunter2@127.0.1.1:12001',
          lag: 3,
          last_update: '2026-01-01T00:00:00Z',
        }),
      ]),
    );
    expect(v).toEqual({
      bdb_uid: 7,
      replica_sync: 'enabled',
      status: 'syncing',
      sources: [
        {
          uid: 1,
          uri: 'redis://admin:***@127.0.1.1:12000',
          status: 'syncing',
          progress: 42,
          progress_known: true,
          lag: 0,
          last_update: null,
          last_error: '',
          last_error_code: '',
          rejected_writes: 0,
        },
        {
          uid: 2,
          uri: 'db1:redis://admin:***@127.0.1.1:12001',
          status: 'in-sync',
          progress: 100,
          progress_known: true,
          lag: 3,
          last_update: '2026-01-01T00:00:00Z',
          last_error: '',
          last_error_code: '',
          rejected_writes: 0,
        },
      ],
    });
    expect(JSON.stringify(v)).not.toMatch(/topsecret|hunter2/);
  });

  it('masks every URI form', () => {
    expect(maskUri('redis://:p%40ss@10.0.0.1:6380')).toBe('redis://:***@10.0.0.1:6380');
    expect(maskUri('redis://10.0.0.1:6380')).toBe('redis://10.0.0.1:6380');
    expect(maskUri('orders:redis://admin:x@h:1')).toBe('orders:redis://admin:***@h:1');
  });
});

describe('human lines', () => {
  it('say "Syncing 42%", "Synced (lag 3 ms)" and "Sync stopped: <error>"', () => {
    const syncing = replicaStatus(
      bdb('enabled', [source({ status: 'syncing', rdb_size: 100, rdb_transferred: 42 })]),
    );
    expect(describeSource(syncing.sources[0]!, 'enabled')).toBe('Syncing 42%');
    expect(describeAggregate(syncing)).toBe('Syncing 42%');

    const synced = replicaStatus(bdb('enabled', [source({ lag: 3 }), source({ uid: 2, lag: 11 })]));
    expect(describeSource(synced.sources[0]!, 'enabled')).toBe('Synced (lag 3 ms)');
    expect(describeAggregate(synced)).toBe('Synced (lag 11 ms)');

    const err = 'source 1 (redis://admin:***@127.0.1.1:12000): WRONGPASS; update the source URI';
    const stopped = replicaStatus(bdb('stopped', [source({ status: 'out-of-sync', last_error: err })]));
    expect(stopped.status).toBe('stopped');
    expect(describeSource(stopped.sources[0]!, 'stopped')).toBe(`Sync stopped: ${err}`);
    expect(describeAggregate(stopped)).toBe(`Sync stopped: ${err}`);
  });

  it('name paused, disabled, out-of-sync and no sources', () => {
    expect(describeAggregate(replicaStatus(bdb('paused', [source({})])))).toBe('Sync paused');
    expect(describeAggregate(replicaStatus(bdb('disabled', [])))).toBe('Not a replica (no sources)');
    const down = replicaStatus(
      bdb('enabled', [source({}), source({ uid: 2, status: 'out-of-sync', last_error: 'ECONNREFUSED' })]),
    );
    expect(describeAggregate(down)).toBe('Out of sync (1 of 2 sources down)');
    expect(describeSource(down.sources[1]!, 'enabled')).toBe('Out of sync: ECONNREFUSED');
  });

  it('say when a diskless full sync has no known progress, and use keys when they are known', () => {
    const unknown = replicaStatus(
      bdb('enabled', [source({ status: 'syncing', rdb_size: 0, rdb_transferred: 5_000_000 })]),
    );
    expect(unknown.sources[0]!.progress_known).toBe(false);
    expect(describeSource(unknown.sources[0]!, 'enabled')).toBe('Syncing (progress unknown)');
    expect(describeAggregate(unknown)).toBe('Syncing (progress unknown)');
    const byKeys = replicaStatus(
      bdb('enabled', [
        source({ status: 'syncing', rdb_size: 0, rdb_transferred: 9, keys_loaded: 300, keys_total: 1000 }),
      ]),
    );
    expect(describeSource(byKeys.sources[0]!, 'enabled')).toBe('Syncing 30%');
  });

  it('show writes the destination refused next to Synced, with the last one', () => {
    const last = 'destination refused INCR clash from source 1: WRONGTYPE Operation against a key.';
    const v = replicaStatus(
      bdb('enabled', [
        source({
          lag: 1,
          rejected_writes: 3,
          last_error: last,
          last_error_code: 'MINIRS_ERR_DEST_REJECTED_WRITE',
        }),
      ]),
    );
    expect(v.sources[0]!.rejected_writes).toBe(3);
    expect(v.sources[0]!.last_error_code).toBe('MINIRS_ERR_DEST_REJECTED_WRITE');
    expect(describeSource(v.sources[0]!, 'enabled')).toBe(
      `Synced (lag 1 ms), 3 writes refused by the destination: ${last}`,
    );
    expect(describeAggregate(v)).toBe('Synced (lag 1 ms), 3 writes refused by the destination');
  });

  it('format lags from ms to minutes', () => {
    expect(formatLag(0)).toBe('0 ms');
    expect(formatLag(999)).toBe('999 ms');
    expect(formatLag(1500)).toBe('1.5 s');
    expect(formatLag(125_000)).toBe('2 min 5 s');
  });

  it('render the destination line, then one aligned line per source', () => {
    const v = replicaStatus(
      bdb('enabled', [
        source({ uid: 1, lag: 2 }),
        source({ uid: 2, uri: 'redis://10.0.0.9:6380', status: 'syncing', rdb_size: 4, rdb_transferred: 1 }),
      ]),
    );
    expect(renderReplicaStatus('west/dest (bdb 7)', v).split('\n')).toEqual([
      'west/dest (bdb 7): Syncing 62%',
      '  source 1  redis://admin:***@127.0.1.1:12000  Synced (lag 2 ms)',
      '  source 2  redis://10.0.0.9:6380              Syncing 25%',
    ]);
  });

  it('say under each source how the syncer last (re)started it (issue 15)', () => {
    const v = replicaStatus(
      bdb('enabled', [
        source({ uid: 1, lag: 2, resume_mode: 'exact', resume_reason: 'the syncer started' }),
        source({
          uid: 2,
          uri: 'redis://10.0.0.9:6380',
          resume_mode: 'full',
          resume_reason: 'destination shard 3 has no checkpoint',
        }),
      ]),
    );
    expect(v.sources.map((s) => s.resume_mode)).toEqual(['exact', 'full']);
    const lines = renderReplicaStatus('west/dest (bdb 7)', v).split('\n');
    expect(lines[2]).toBe(
      '    last (re)start: exact resume from the destination checkpoints (the syncer started)',
    );
    expect(lines[4]).toBe('    last (re)start: full sync (destination shard 3 has no checkpoint)');
  });
});
