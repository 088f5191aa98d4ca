import { readFileSync } from 'node:fs';
import { type ShardView, type StartedMiniCluster, waitFor } from '@minirs/harness';
import { dbClient, type Env, newEnv, startClusters, teardown } from '@minirs/harness/vitest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * Node faults: kill node:N is a machine crash (every process of the node gone, none restarted
 * until the node is healed), restart node:N brings it straight back, pause node:N stops every
 * process of the node. Signals work without root.
 */

const env: Env = newEnv('fnod');
let c: StartedMiniCluster;

beforeAll(async () => {
  [c] = await startClusters(env, ['fnod'], 2);
  await c.createDb({ name: 'db', shards: 2 });
});

afterEach(async () => {
  if (c) await c.faults.healAll();
});

afterAll(async () => {
  await teardown(env);
});

function procState(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}

/** Pid-file names of node 2's processes (its proxy, its shards and their redis-servers). */
async function node2Names(): Promise<string[]> {
  const shards: ShardView[] = await c.api.listShards();
  return [
    'proxy-2',
    ...shards.filter((s) => s.node_uid === '2').flatMap((s) => [`shard-${s.uid}`, `redis-${s.uid}`]),
  ];
}

async function node2Shards(): Promise<ShardView[]> {
  // RS's shard object: string uids; `process_status` says what the processes do (down, active, ...).
  return (await c.api.listShards()).filter((s) => s.node_uid === '2');
}

describe('node faults', () => {
  it('kill node:N crashes the node until it is healed; its shards come back when it restarts', async () => {
    const names = await node2Names();
    expect(names.length).toBeGreaterThan(1);
    const before = c.processes();
    const pids = names.map((n) => before.get(n)!);
    expect(pids.every((p) => p > 0)).toBe(true);
    const crash = await c.faults.kill('node:2');
    expect(crash.record.active).toBe(true);
    expect(pids.map(procState).every((s) => s === 'gone' || s === 'Z')).toBe(true);
    const shards = await node2Shards();
    expect(shards.every((s) => s.process_status === 'down')).toBe(true);
    expect((await c.api.listNodes()).find((n) => n.uid === 2)!.status).toBe('down');
    // Nothing of node 2 is running (the supervisor did not restart it).
    const now = c.processes();
    expect(names.filter((n) => now.has(n))).toEqual([]);

    await crash.heal();
    await waitFor(
      async () => (await node2Shards()).every((s) => s.process_status === 'active'),
      'node 2 shards active',
      30_000,
    );
    const after = c.processes();
    expect(names.every((n) => after.has(n) && !pids.includes(after.get(n)!))).toBe(true);
    const r = await dbClient(env, c, 'db');
    for (let i = 0; i < 20; i++) await r.set(`k${i}`, 'v');
    expect(await r.dbsize()).toBe(20);
  });

  it('restart node:N crashes and starts the node at once', async () => {
    const names = await node2Names();
    const before = c.processes();
    const f = await c.faults.restart('node:2');
    expect(f.record.active).toBe(false);
    await waitFor(
      async () => (await node2Shards()).every((s) => s.process_status === 'active'),
      'node 2 shards active',
      30_000,
    );
    const after = c.processes();
    expect(names.every((n) => after.has(n) && after.get(n) !== before.get(n))).toBe(true);
  });

  it('a pause with duration_ms survives a manager crash and still heals by itself', async () => {
    const names = await node2Names();
    const pids = names.map((n) => c.processes().get(n)!);
    const f = await c.faults.pause('node:2', { durationMs: 8000 });
    expect(pids.map(procState)).toEqual(pids.map(() => 'T'));
    process.kill(c.managerPid()!, 'SIGKILL');
    await waitFor(() => c.managerPid() === undefined, 'the manager to die');
    await c.restartManager();
    // Adopted (resumed for adoption, paused again), still listed as active with its until.
    const again = (await c.faults.list()).find((x) => x.id === f.id)!;
    expect(again.active).toBe(true);
    expect(again.until).toBe(f.record.until);
    const now = names.map((n) => c.processes().get(n)!);
    expect(now.map(procState)).toEqual(now.map(() => 'T'));
    await waitFor(
      async () => (await c.faults.list()).find((x) => x.id === f.id)?.active === false,
      'the timed heal',
      20_000,
    );
    expect(now.map(procState).every((s) => s === 'S' || s === 'R')).toBe(true);
  });

  it('pause node:N stops every process of the node until healed', async () => {
    const names = await node2Names();
    const pids = names.map((n) => c.processes().get(n)!);
    const f = await c.faults.pause('node:2');
    expect(pids.map(procState)).toEqual(pids.map(() => 'T'));
    await f.heal();
    expect(pids.map(procState).every((s) => s === 'S' || s === 'R')).toBe(true);
  });
});
