import type { BdbState, ClusterState } from '@minirs/common';
import { describe, expect, it } from 'vitest';
import { MAX_SOURCES, replicaPatch } from '../src/replica.js';

function bdb(uid: number, name: string, port: number, extra: Partial<BdbState> = {}): BdbState {
  return {
    uid,
    name,
    port,
    memory_size: 1 << 27,
    shards_count: 1,
    sharding: false,
    shard_key_regex: [],
    hash_slots_policy: '16k',
    authentication_redis_pass: '',
    authentication_admin_pass: `admin-${name}`,
    endpoints: [{ addr: ['127.0.1.1', '127.0.1.2'], port, dns_name: '' }],
    status: 'active',
    tls_mode: 'disabled',
    enforce_client_authentication: 'enabled',
    authentication_ssl_client_certs: [],
    replica_sync: 'disabled',
    replica_sources: [],
    sync_epoch: 0,
    created_time: '',
    shard_list: [],
    ...extra,
  };
}

function cluster(bdbs: BdbState[]): ClusterState {
  return {
    version: 1,
    cluster: {
      name: 'c',
      index: 1,
      api_port: 9443,
      db_port_base: 12000,
      created_time: '',
      loopback_fallback: false,
      nodes: [
        { uid: 1, addr: '127.0.1.1', status: 'active' },
        { uid: 2, addr: '127.0.1.2', status: 'active' },
      ],
    },
    internal_password: 'x',
    next_bdb_uid: 9,
    next_shard_uid: 9,
    bdbs,
    shards: [],
  };
}

const src = (b: BdbState, prefix = false) =>
  `${prefix ? `${b.name}:` : ''}redis://admin:${b.authentication_admin_pass}@127.0.1.1:${b.port}`;

describe('replicaPatch', () => {
  const a = bdb(1, 'a', 12000);
  const b = bdb(2, 'b', 12001);
  const s = cluster([a, b]);

  it('setting sources enables the sync and starts a new epoch', () => {
    const p = replicaPatch(s, b, {
      replica_sources: [{ uri: src(a, true) }, { uri: 'redis://:pw@127.0.0.1:6400' }],
    });
    expect(p.replica_sync).toBe('enabled');
    expect(p.sync_epoch).toBe(1);
    expect(p.replica_sources!.map((x) => x.uid)).toEqual([1, 2]);
    expect(p.replica_sources!.every((x) => x.status === 'syncing')).toBe(true);
  });

  it('refuses a 33rd source, itself, duplicates, a wrong admin pass and an unknown db name', () => {
    const many = Array.from({ length: MAX_SOURCES + 1 }, (_, i) => ({
      uri: `redis://127.0.0.1:${20000 + i}`,
    }));
    expect(() => replicaPatch(s, b, { replica_sources: many })).toThrow(/at most 32 sources/);
    expect(() => replicaPatch(s, b, { replica_sources: [{ uri: src(b) }] })).toThrow(/replica of itself/);
    expect(() => replicaPatch(s, b, { replica_sources: [{ uri: src(a) }, { uri: src(a) }] })).toThrow(
      /listed twice/,
    );
    expect(() =>
      replicaPatch(s, b, { replica_sources: [{ uri: 'redis://admin:wrong@127.0.1.1:12000' }] }),
    ).toThrow(/admin password .* is wrong/);
    expect(() =>
      replicaPatch(s, b, { replica_sources: [{ uri: 'nope:redis://admin:x@127.0.1.1:12999' }] }),
    ).toThrow(/no database named "nope"/);
  });

  it('refuses a cycle through databases of the cluster', () => {
    const c = bdb(3, 'c', 12002);
    const a2 = bdb(1, 'a', 12000, { replica_sources: [{ uri: src(c) } as never], replica_sync: 'enabled' });
    const c2 = bdb(3, 'c', 12002, { replica_sources: [{ uri: src(b) } as never], replica_sync: 'enabled' });
    const st = cluster([a2, b, c2]);
    // b <- a <- c <- b
    expect(() => replicaPatch(st, b, { replica_sources: [{ uri: src(a2) }] })).toThrow(/cycle/);
    void c;
  });

  it('follows RS transitions of replica_sync', () => {
    const on = bdb(2, 'b', 12001, {
      replica_sources: [{ uri: src(a) } as never],
      replica_sync: 'enabled',
      sync_epoch: 4,
    });
    expect(replicaPatch(s, on, { replica_sync: 'paused' })).toMatchObject({ replica_sync: 'paused' });
    const stopped = { ...on, replica_sync: 'stopped' as const };
    const restart = replicaPatch(s, stopped, { replica_sync: 'enabled' });
    expect(restart).toMatchObject({ replica_sync: 'enabled', sync_epoch: 5 });
    expect(() => replicaPatch(s, b, { replica_sync: 'paused' })).toThrow(/cannot go from disabled to paused/);
    expect(() => replicaPatch(s, b, { replica_sync: 'enabled' })).toThrow(/without replica_sources/);
  });
});
