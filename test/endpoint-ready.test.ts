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
 * Issue 8 item 2, end to end: `active` means every node's endpoint serves a command on every
 * shard, and a shard's redis-server restarting under load gives clients success or a
 * retryable error (TRYAGAIN when the command was not sent), never a closed connection.
 */

const home = tmpHome('rdy');
let cluster: StartedMiniCluster;
const clients: Redis[] = [];

const TRYAGAIN = /^TRYAGAIN shard \d+ is unavailable \(.*\); the command was not sent to it, retry it$/;
const MAYBE = /^ERR shard \d+: connection (lost|closed)[^;]*; the command may or may not have been executed$/;

function client(host: string, port: number): Redis {
  const c = new Redis({ host, port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await new MiniCluster('rdy').withNodes(2).withHome(home).start();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.allSettled([cluster?.delete()]);
  killProcessesUnder(home);
  removeHome(home);
});

describe('a database is active only when its endpoints serve every shard', () => {
  it('serves 50 clients connecting the moment create reports active', async () => {
    // createDb resolves on the first poll that reads `active`; the clients go right then.
    const db = await cluster.createDb({ name: 'burst', shards: 3 });
    const hosts = db.endpoints[0]!.addr;
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client(hosts[i % hosts.length]!, db.port)
          .set(`burst:${i}`, String(i))
          .catch((e: Error) => e.message),
      ),
    );
    expect(replies).toEqual(replies.map(() => 'OK'));
  });

  it('gives clients success or a retryable error while a shard redis-server is killed and restarted', async () => {
    const db = await cluster.createDb({ name: 'restart', shards: 2 });
    const hosts = db.endpoints[0]!.addr;
    const cs = Array.from({ length: 10 }, (_, i) => client(hosts[i % hosts.length]!, db.port));
    let closes = 0;
    for (const c of cs) c.on('close', () => closes++);
    await Promise.all(cs.map((c) => c.ping()));
    const state = JSON.parse(readFileSync(cluster.paths.state, 'utf8')) as ClusterState;
    const shard = state.shards.find((s) => s.bdb_uid === db.uid)!;
    const pidFile = cluster.paths.pidFile(`redis-${shard.uid}`);
    const before = Number(readFileSync(pidFile, 'utf8'));
    let ok = 0;
    const errors: string[] = [];
    let stop = false;
    const load = Promise.all(
      cs.map(async (c, ci) => {
        for (let i = 0; i < 20_000 && !stop; i++) {
          try {
            await c.incr(`n:${(ci + i) % 16}`);
            ok++;
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
      }),
    );
    try {
      await waitFor(() => ok > 300, 'load to run');
      process.kill(before, 'SIGKILL');
      await waitFor(
        () => {
          const now = Number(readFileSync(pidFile, 'utf8'));
          return now !== before && now > 0;
        },
        'the shard to restart its redis-server',
        30_000,
      );
      const okAfter = ok;
      await waitFor(() => ok - okAfter > 300, 'load to run after the restart', 30_000);
    } finally {
      stop = true;
      await load;
    }
    expect(errors.filter((m) => !TRYAGAIN.test(m) && !MAYBE.test(m))).toEqual([]);
    expect(errors.filter((m) => MAYBE.test(m)).length).toBeLessThanOrEqual(cs.length);
    expect(closes).toBe(0);
  });
});
