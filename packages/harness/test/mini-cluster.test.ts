import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiError, MiniCluster, pidAlive, type StartedMiniCluster } from '@minirs/local';
import { processesUnder, tmpHome } from '../src/test-home.js';

const MANAGER_MAIN = fileURLToPath(new URL('../../cluster-manager/dist/main.js', import.meta.url));
const HAVE_MANAGER = existsSync(MANAGER_MAIN);

if (!HAVE_MANAGER) {
  console.warn(
    `harness-e2e skipped: the cluster-manager is not built (${MANAGER_MAIN} is missing); run pnpm build`,
  );
}

/** The programmatic harness against real managers: two clusters in one MINIRS_HOME. */
describe.skipIf(!HAVE_MANAGER)('MiniCluster harness (real cluster-managers)', () => {
  const home = tmpHome('hx');
  const started: StartedMiniCluster[] = [];
  afterAll(async () => {
    for (const c of started) await c.delete().catch(() => {});
    rmSync(home, { recursive: true, force: true });
  });

  it('starts two clusters side by side, creates dbs, resolves Replica Of sources, deletes everything', async () => {
    const east = await new MiniCluster('east').withNodes(1).withHome(home).start();
    started.push(east);
    const west = await new MiniCluster('west').withNodes(1).withHome(home).start();
    started.push(west);
    expect(east.api.apiUrl).not.toBe(west.api.apiUrl);

    const src = await east.createDb({ name: 'src', shards: 2, memory: '32mb' });
    expect(src).toMatchObject({ status: 'active', shards_count: 2, memory_size: 32 * 1024 * 1024 });
    const shards = (await east.api.listShards()).filter((s) => s.bdb_uid === src.uid);
    expect(shards).toHaveLength(2);
    const local = await east.createDb({ name: 'local' });
    const dest = await west.createDb({ name: 'dest', shards: 3 });
    expect((await west.endpoint('dest')).port).toBe(dest.endpoints[0]!.port);

    // Another cluster's db: its plain source URL; a db of the same cluster: with the "<db>:" prefix.
    const remote = await west.replicaOf('dest', ['east/src']);
    expect(remote.replica_sources.map((s) => s.uri)).toEqual([await east.sourceUrl('src')]);
    const same = await east.replicaOf('local', ['src']);
    expect(same.replica_sources.map((s) => s.uri)).toEqual([`src:${await east.sourceUrl('src')}`]);
    const status = await west.replicaStatus('dest');
    expect(status).toMatchObject({ bdb_uid: dest.uid, replica_sync: 'enabled' });
    expect(status.sources[0]!.uri).toMatch(/^redis:\/\/admin:\*\*\*@/);
    expect(local.uid).toBeGreaterThan(0);

    // API errors arrive typed, with the manager's code and message.
    const err = await east.api.getBdb(9999).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);

    // Stop keeps the state; restartManager brings the cluster back with its databases.
    const procs = east.processes();
    expect(procs.has('manager')).toBe(true);
    await east.stop();
    expect([...procs.values()].filter(pidAlive)).toEqual([]);
    expect(east.managerPid()).toBeUndefined();
    const again = await east.restartManager();
    expect(again.started).toBe(true);
    expect((await east.db('src')).uid).toBe(src.uid);

    for (const c of started.splice(0)) {
      await c.delete();
      expect(existsSync(c.paths.dir)).toBe(false);
    }
    expect(processesUnder(home)).toEqual([]);
  });
});
