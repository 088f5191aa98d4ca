import { RedisServer, type StartedMiniCluster, waitFor } from '@minirs/harness';
import {
  dbClient,
  type Env,
  newEnv,
  redisUri,
  startClusters,
  teardown,
  waitInSync,
} from '@minirs/harness/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Regressions of divergences the randomized checker (`minirs check`) found, through a real
 * cluster: an external redis-server source into a 3-shard minirs database.
 */

const env: Env = newEnv('chk');
let west: StartedMiniCluster;

beforeAll(async () => {
  [west] = await startClusters(env, ['west'], 1);
});

afterAll(async () => {
  await teardown(env);
});

describe('checker seeds 1, 2, 7, 15 (CROSSSLOT on a cross-tag DEL/MSET)', () => {
  it('a cross-tag DEL that expired one of its keys (Redis wraps it in MULTI) applies on a sharded destination', async () => {
    const ext = await new RedisServer().withArgs('--enable-debug-command', 'yes').start();
    env.redis.push(ext);
    const src = ext.client();
    env.clients.push(src);
    await west.createDb({ name: 'xdel', shards: 3 });
    await west.replicaOf('xdel', [redisUri(ext)]);
    await waitInSync(west, 'xdel');
    // Keys expire only when touched, so the DEL itself expires {a}x: Redis 7.0 then replicates
    // MULTI, DEL {a}x, DEL {a}x {b}y {c}z, EXEC (and likewise for MSET).
    await src.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0');
    await src.set('{b}y', '1');
    await src.set('{c}z', '1');
    await src.set('{a}x', '1', 'PX', 1);
    await src.set('{d}v', '1', 'PX', 1);
    const setAt = Date.now();
    await waitFor(() => Date.now() > setAt + 20, 'the TTLs to run out');
    expect(await src.del('{a}x', '{b}y', '{c}z')).toBe(2);
    await src.mset('{d}v', '2', '{e}w', '3');
    await src.set('marker', 'done');
    const dst = await dbClient(env, west, 'xdel');
    // Before the fix the destination answered CROSSSLOT inside the MULTI and the sync stopped.
    await waitFor(async () => (await dst.get('marker')) === 'done', 'the marker on the destination', 30_000);
    const st = await waitInSync(west, 'xdel');
    expect(st.sources[0]!.last_error).toBe('');
    expect(await dst.exists('{a}x', '{b}y', '{c}z')).toBe(0);
    expect(await dst.mget('{d}v', '{e}w')).toEqual(['2', '3']);
  });
});
