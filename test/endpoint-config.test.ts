import { readFileSync } from 'node:fs';
import {
  killProcessesUnder,
  MiniCluster,
  removeHome,
  type StartedMiniCluster,
  tmpHome,
  waitFor,
} from '@minirs/harness';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 9: settings of RS's CONFIG table set through the endpoint stay set when a shard's
 * redis-server restarts (RS keeps a database's configuration; a plain redis-server would
 * forget it). Aliases (hash-max-ziplist-entries) and later changes replace earlier values.
 */

const home = tmpHome('cfg');
let cluster: StartedMiniCluster;
const clients: Redis[] = [];

function client(host: string, port: number, password?: string): Redis {
  const c = new Redis({ host, port, password, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await new MiniCluster('cfg').withNodes(1).withHome(home).start();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.allSettled([cluster?.delete()]);
  killProcessesUnder(home);
  removeHome(home);
});

describe('CONFIG SET through the endpoint survives a shard restart', () => {
  it('re-applies the settings to a restarted redis-server of every shard', async () => {
    const db = await cluster.createDb({ name: 'conf', shards: 2 });
    const ep = client(db.endpoints[0]!.addr[0]!, db.port);
    expect(await ep.config('SET', 'slowlog-max-len', '300', 'hash-max-ziplist-entries', '7')).toBe('OK');
    expect(await ep.config('SET', 'hash-max-listpack-entries', '9', 'notify-keyspace-events', 'KEA')).toBe(
      'OK',
    );
    const state = JSON.parse(readFileSync(cluster.paths.state, 'utf8')) as ClusterState;
    const shards = state.shards.filter((s) => s.bdb_uid === db.uid);
    expect(shards).toHaveLength(2);
    for (const sh of shards) {
      const pidFile = cluster.paths.pidFile(`redis-${sh.uid}`);
      const before = Number(readFileSync(pidFile, 'utf8'));
      process.kill(before, 'SIGKILL');
      await waitFor(
        () => {
          const now = Number(readFileSync(pidFile, 'utf8'));
          return now !== before && now > 0;
        },
        `shard ${sh.uid} to restart its redis-server`,
        30_000,
      );
      // A fresh connection per try: the redis-server may still be starting.
      const direct = await waitFor(
        async () => {
          const c = client(sh.addr, sh.port, state.internal_password);
          if ((await c.ping().catch(() => '')) === 'PONG') return c;
          c.disconnect();
          return undefined;
        },
        `shard ${sh.uid} to answer`,
        30_000,
        200,
      );
      expect(await direct.config('GET', 'slowlog-max-len')).toEqual(['slowlog-max-len', '300']);
      expect(await direct.config('GET', 'hash-max-listpack-entries')).toEqual([
        'hash-max-listpack-entries',
        '9',
      ]);
      const events = (await direct.config('GET', 'notify-keyspace-events')) as string[];
      expect(events[1]!.split('').sort().join('')).toBe('AEK'.split('').sort().join(''));
    }
    // Through the endpoint too, once it serves again.
    const ep2 = client(db.endpoints[0]!.addr[0]!, db.port);
    expect(await ep2.config('GET', 'slowlog-max-len')).toEqual(['slowlog-max-len', '300']);
  });
});
