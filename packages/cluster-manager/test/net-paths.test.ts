import type { ClusterState } from '@minirs/common';
import { describe, expect, it } from 'vitest';
import { filterRules, resolveNetPath } from '../src/net-paths.js';

/**
 * Fault paths in netns mode: node 1's side also carries 198.19.C.1, the host address its syncers
 * use when a source is outside the node network, so a fault on node 1 or on a syncer cuts that
 * syncer as well; nothing else changes from loopback mode.
 */

function state(net: 'netns' | 'loopback'): ClusterState {
  const addr = (n: number) => (net === 'netns' ? `198.18.7.${n}` : `127.0.7.${n}`);
  return {
    version: 1,
    cluster: {
      name: 'p',
      index: 7,
      api_port: 9443,
      db_port_base: 12000,
      created_time: '',
      nodes: [1, 2].map((uid) => ({ uid, addr: addr(uid), status: 'active' as const })),
      loopback_fallback: false,
      net,
    },
    internal_password: 'x',
    next_bdb_uid: 2,
    next_shard_uid: 1,
    bdbs: [
      {
        uid: 1,
        port: 12000,
        replica_sources: [{ uid: 1, uri: 'redis://127.0.0.1:7000' }],
      },
    ],
    shards: [],
  } as unknown as ClusterState;
}

const ctx = (net: 'netns' | 'loopback') => ({ state: state(net), peerState: () => undefined });

describe('network fault paths by network mode', () => {
  it('node 1 in netns mode is its namespace address and its host address', () => {
    const p = resolveNetPath('node:1', ctx('netns'));
    expect(p.pairs[0]!.a.addrs).toEqual(['198.18.7.1', '198.19.7.1']);
    expect(filterRules(p, 'out', 'drop', 't')).toEqual([
      'ip saddr { 198.18.7.1, 198.19.7.1 } ip daddr != { 198.18.7.1, 198.19.7.1 } drop comment "t"',
    ]);
    // Node 2 has no host-side processes.
    expect(resolveNetPath('node:2', ctx('netns')).pairs[0]!.a.addrs).toEqual(['198.18.7.2']);
  });

  it('a syncer target in netns mode covers the host-side syncer; loopback mode is unchanged', () => {
    const ns = resolveNetPath('source:1/1', ctx('netns'));
    expect(ns.pairs).toEqual([
      { a: { addrs: ['198.18.7.1', '198.19.7.1'] }, b: { addrs: ['127.0.0.1'], port: 7000 } },
    ]);
    const lo = resolveNetPath('source:1/1', ctx('loopback'));
    expect(lo.pairs).toEqual([{ a: { addrs: ['127.0.7.1'] }, b: { addrs: ['127.0.0.1'], port: 7000 } }]);
    expect(resolveNetPath('node:1', ctx('loopback')).pairs[0]!.a.addrs).toEqual(['127.0.7.1']);
  });
});
