import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultInjector } from '../src/faults.js';
import type { ClusterManager } from '../src/manager.js';

/**
 * The bookkeeping of an oom fault over several shards, with the manager reduced to what the
 * injector touches (shards, their control channels): the shards' own handling of
 * `set-maxmemory` is tested end to end in test/replica-of-stops.test.ts.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeManager(running: number[], failOn?: number) {
  const maxmemory = new Map<number, number>();
  const children = new Map<
    string,
    { conn: { request(kind: string, body: { bytes: number }): Promise<void> } }
  >();
  for (const uid of running) {
    children.set(`shard-${uid}`, {
      conn: {
        async request(_kind, body) {
          if (uid === failOn) throw new Error(`shard ${uid} did not answer`);
          maxmemory.set(uid, body.bytes);
        },
      },
    });
  }
  const bdb = { uid: 1, shard_list: [1, 2, 3], memory_size: 300, shards_count: 3, replica_sources: [] };
  const dir = mkdtempSync(join(tmpdir(), 'minirs-faults-'));
  dirs.push(dir);
  const mgr = {
    paths: { dir, pidFile: (n: string) => join(dir, `${n}.pid`) },
    state: { cluster: { index: 254, nodes: [] }, bdbs: [bdb], shards: [] },
    children,
    shard: (uid: number) => (uid >= 1 && uid <= 3 ? { uid, bdb_uid: 1 } : undefined),
    bdb: () => bdb,
    requireBdb: () => bdb,
    log: { warn() {}, info() {} },
  };
  return { mgr: mgr as unknown as ClusterManager, maxmemory };
}

describe('oom fault on a database', () => {
  it('lowers every shard and restores every shard on heal', async () => {
    const { mgr, maxmemory } = fakeManager([1, 2, 3]);
    const f = new FaultInjector(mgr);
    const rec = await f.add({ kind: 'oom', target: 'bdb:1', bytes: 1 });
    expect([...maxmemory.values()]).toEqual([1, 1, 1]);
    await f.heal(rec.id);
    expect([...maxmemory.values()]).toEqual([100, 100, 100]);
  });

  it('changes no shard when one of them is not running', async () => {
    const { mgr, maxmemory } = fakeManager([1, 2]);
    const f = new FaultInjector(mgr);
    await expect(f.add({ kind: 'oom', target: 'bdb:1', bytes: 1 })).rejects.toThrow(/shard 3 is not running/);
    expect(maxmemory.size).toBe(0);
    expect(f.faults.size).toBe(0);
  });

  it('puts back the shards already lowered when a later one fails', async () => {
    const { mgr, maxmemory } = fakeManager([1, 2, 3], 3);
    const f = new FaultInjector(mgr);
    await expect(f.add({ kind: 'oom', target: 'bdb:1', bytes: 1 })).rejects.toThrow(/did not answer/);
    expect(Object.fromEntries(maxmemory)).toEqual({ 1: 100, 2: 100 });
    expect(f.faults.size).toBe(0);
  });
});
