import type { ShardStats } from '@minirs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { parseReplication, replicationDirectives, roleCommands } from '../src/replication.js';
import { cleanup, connectShard, makeShardConfig, redisClient, spawnShard } from './harness.js';

afterEach(cleanup);

describe('replication role (units)', () => {
  it('renders a slave and a fenced master, validates set-role', () => {
    expect(replicationDirectives(undefined)).toEqual([]);
    expect(replicationDirectives({ role: 'slave', master_host: '127.0.0.2', master_port: 20001 })).toContainEqual([
      'replicaof',
      '127.0.0.2 20001',
    ]);
    expect(replicationDirectives({ role: 'master', min_replicas_to_write: 1 })).toContainEqual(['min-replicas-to-write', '1']);
    expect(roleCommands({ role: 'master' })[0]).toEqual(['REPLICAOF', 'NO', 'ONE']);
    expect(() => parseReplication({ role: 'boss' })).toThrow(/role master or slave/);
    expect(() => parseReplication({ role: 'slave', master_host: 'h' })).toThrow(/master_port/);
    expect(() => parseReplication({ role: 'master', min_replicas_to_write: -1 })).toThrow(/min_replicas_to_write/);
  });
});

describe('replication role (real redis-servers)', () => {
  it('a slave shard replicates its master; set-role promotes it and demotes the old master', async () => {
    const mcfg = await makeShardConfig({ uid: 11, replication: { role: 'master', min_replicas_to_write: 0 } });
    const m = await connectShard(spawnShard(mcfg));
    const scfg = await makeShardConfig({
      uid: 12,
      password: mcfg.password,
      replication: { role: 'slave', master_host: mcfg.addr, master_port: mcfg.port },
    });
    const s = await connectShard(spawnShard(scfg));
    const rm = redisClient(mcfg);
    const rs = redisClient(scfg);
    try {
      for (let i = 0; i < 50; i++) await rm.set(`k${i}`, String(i));
      const linked = await s.next('stats', (x) => (x.stats as ShardStats).master_link_status === 'up' && (x.stats as ShardStats).keys === 50);
      expect((linked.stats as ShardStats).role).toBe('slave');
      await expect(rs.set('x', '1')).rejects.toThrow(/READONLY/);
      // The fence: with min-replicas-to-write 1 and its slave in sync, the master takes writes.
      await m.conn.request('set-role', { role: 'master', min_replicas_to_write: 1 });
      expect(await rm.config('GET', 'min-replicas-to-write')).toEqual(['min-replicas-to-write', '1']);
      await rm.set('fenced-ok', '1');
      const oldReplid = ((await m.conn.request('stats')) as ShardStats).master_replid;

      // Failover: promote the slave, demote the old master to a slave of it.
      await s.conn.request('set-role', { role: 'master', min_replicas_to_write: 0 });
      await m.conn.request('set-role', { role: 'slave', master_host: scfg.addr, master_port: scfg.port });
      await rs.set('after', '1');
      const promoted = (await s.conn.request('stats')) as ShardStats;
      expect(promoted.role).toBe('master');
      // PSYNC2: the promoted slave continues the old master's history.
      expect(promoted.master_replid2).toBe(oldReplid);
      await m.next('stats', (x) => (x.stats as ShardStats).master_link_status === 'up' && (x.stats as ShardStats).keys === 52);
      expect(await rm.get('after')).toBe('1');
      await expect(m.conn.request('set-role', { role: 'slave' })).rejects.toMatchObject({ code: 'MINIRS_ERR_INVALID_ARGUMENT' });
    } finally {
      rm.disconnect();
      rs.disconnect();
    }
  });
});
