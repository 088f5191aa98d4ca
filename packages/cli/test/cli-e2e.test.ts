import { existsSync, readFileSync, rmSync } from 'node:fs';
import { clusterPaths } from '@minirs/common';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteCluster, pidAlive, pidFiles, waitForExit } from '@minirs/harness';
import { freePort, HAVE_MANAGER, MANAGER_MAIN, minirs, processesOfHome } from './e2e-helpers.js';
import { shortTempDir } from './helpers.js';

if (!HAVE_MANAGER) {
  console.warn(
    `cli-e2e skipped: the cluster-manager is not built (${MANAGER_MAIN} is missing); run pnpm build`,
  );
}

/**
 * The built `minirs` against a real cluster-manager and its processes, in a private MINIRS_HOME.
 * One scenario, in order: each step builds on the cluster the previous ones left.
 */
describe.skipIf(!HAVE_MANAGER)('minirs end to end (real cluster-manager)', () => {
  const home = shortTempDir('e2e-');
  const name = 'e2e';
  const paths = clusterPaths(name, home);
  afterAll(async () => {
    // Even after a failure: no process and no file of the cluster remains.
    if (existsSync(paths.state)) await deleteCluster(name, { home }).catch(() => {});
    rmSync(home, { recursive: true, force: true });
  });

  let adminPass = '';
  let dbUid = 0;

  it('cluster create (2 nodes) prints the contract shape and writes the credentials', async () => {
    const [apiPort, dbPortBase] = [await freePort(), await freePort()];
    const r = await minirs(home, [
      'cluster',
      'create',
      name,
      '--nodes',
      '2',
      '--api-port',
      String(apiPort),
      '--db-port-base',
      String(dbPortBase),
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(Object.keys(info).sort()).toEqual(['api_url', 'ca_cert', 'name', 'nodes', 'password', 'username']);
    expect(info.name).toBe(name);
    // loopback mode: node 1 (127.0.C.1); netns mode: the host address of the cluster (198.19.C.254)
    expect(info.api_url).toMatch(
      new RegExp(`^https://(127\\.0\\.\\d+\\.\\d+|198\\.19\\.\\d+\\.254):${apiPort}$`),
    );
    expect(info.nodes).toHaveLength(2);
    expect(info.ca_cert).toBe(paths.caCert);
    expect(readFileSync(info.ca_cert, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(JSON.parse(readFileSync(paths.credentials, 'utf8'))).toEqual({
      username: info.username,
      password: info.password,
      api_url: info.api_url,
    });
    const again = await minirs(home, ['cluster', 'create', name]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^minirs: cluster "e2e" already exists/);
  });

  it('cluster status and list', async () => {
    const status = await minirs(home, ['cluster', 'status', name, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.name).toBe(name);
    expect(s.nodes.map((n: { uid: number }) => n.uid)).toEqual([1, 2]);
    const list = await minirs(home, ['cluster', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name, status: 'running', nodes: 2 }]);
  });

  it('db create (2 shards) waits until the database is active', async () => {
    const r = await minirs(home, [
      'db',
      'create',
      name,
      'db1',
      '--shards',
      '2',
      '--memory',
      '64mb',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bdb = JSON.parse(r.stdout);
    expect(bdb).toMatchObject({
      name: 'db1',
      status: 'active',
      shards_count: 2,
      sharding: true,
      memory_size: 64 * 1024 * 1024,
    });
    expect(bdb.authentication_admin_pass.length).toBeGreaterThanOrEqual(32);
    adminPass = bdb.authentication_admin_pass;
    dbUid = bdb.uid;
  });

  it('db list, info and source-url --json', async () => {
    const list = JSON.parse((await minirs(home, ['db', 'list', name, '--json'])).stdout);
    expect(list.map((b: { name: string }) => b.name)).toEqual(['db1']);
    const info = JSON.parse((await minirs(home, ['db', 'info', name, 'db1', '--json'])).stdout);
    expect(info.uid).toBe(dbUid);
    // 127.0.C.N (loopback mode) or 198.18.C.N (netns mode).
    expect(info.endpoints[0].addr[0]).toMatch(/^(127|198\.18)\./);
    const url = await minirs(home, ['db', 'source-url', name, 'db1', '--json']);
    const { uri } = JSON.parse(url.stdout);
    expect(uri).toBe(
      `redis://admin:${encodeURIComponent(adminPass)}@${info.endpoints[0].addr[0]}:${info.endpoints[0].port}`,
    );
    const human = await minirs(home, ['db', 'info', name, 'db1']);
    expect(human.stdout.match(/^\s+\d+\s+\d+\s+(127|198\.18)\.\S+\s+\d+-\d+\s+active/gm)).toHaveLength(2);
  });

  it('bad usage exits 2, a failed operation 1 with one line', async () => {
    const usage = await minirs(home, ['db', 'create', name, 'db2', '--shards', 'two']);
    expect(usage.code).toBe(2);
    const unknown = await minirs(home, ['db', 'list', 'no-such-cluster']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^minirs: unknown cluster "no-such-cluster"/);
    const rejected = await minirs(home, ['db', 'create', name, 'db2', '--shards', '513']);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/^minirs: .*shards_count 513/);
    const noDb = await minirs(home, ['db', 'info', name, 'nope']);
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toBe('minirs: no database "nope" in cluster "e2e"; its databases: db1\n');
    const unreachable = await minirs(home, ['compare', 'redis://127.0.0.1:1', 'redis://127.0.0.1:2']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^minirs: cannot connect to redis:\/\/127.0.0.1:1: .*; check its host/,
    );
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('replica-of, sync stop/start and status speak the contract', async () => {
    const dest = await minirs(home, ['db', 'create', name, 'dest', '--json']);
    expect(dest.code).toBe(0);
    const set = await minirs(home, ['replica-of', name, 'dest', '--source', 'db1', '--json']);
    expect(set.stderr).toBe('');
    const bdb = JSON.parse(set.stdout);
    expect(bdb.replica_sources.map((x: { uri: string }) => x.uri)).toEqual([
      `db1:${JSON.parse((await minirs(home, ['db', 'source-url', name, 'db1', '--json'])).stdout).uri}`,
    ]);
    const status = JSON.parse((await minirs(home, ['status', name, 'dest', '--json'])).stdout);
    expect(Object.keys(status).sort()).toEqual(['bdb_uid', 'replica_sync', 'sources', 'status']);
    expect(status.replica_sync).toBe('enabled');
    expect(['syncing', 'in-sync', 'out-of-sync']).toContain(status.status);
    // The contract's keys, plus the (minirs) additions: the error's stable code, whether the
    // progress is known (a diskless source gives no RDB size), and the writes the destination refused.
    const keys = Object.keys(status.sources[0]);
    expect(keys).toEqual(
      expect.arrayContaining([
        'last_error',
        'last_update',
        'lag',
        'progress',
        'status',
        'uid',
        'uri',
        'last_error_code',
        'progress_known',
        'rejected_writes',
      ]),
    );
    // How the syncer last (re)started this source (exact, partial or full: issue 15), once it said.
    expect(
      keys
        .filter(
          (k) =>
            !/^(last_error|last_update|lag|progress|status|uid|uri|last_error_code|progress_known|rejected_writes)$/.test(
              k,
            ),
        )
        .sort(),
    ).toEqual(keys.includes('resume_mode') ? ['resume_mode', 'resume_reason'] : []);
    expect(status.sources[0].uri).toMatch(/^db1:redis:\/\/admin:\*\*\*@/);

    const stopped = JSON.parse((await minirs(home, ['sync', 'stop', name, 'dest', '--json'])).stdout);
    expect(stopped).toMatchObject({ replica_sync: 'stopped', status: 'stopped' });
    const human = await minirs(home, ['status', name, 'dest']);
    expect(human.stdout.split('\n')[0]).toMatch(/^e2e\/dest \(bdb \d+\): Sync stopped/);
    const restarted = JSON.parse((await minirs(home, ['sync', 'start', name, 'dest', '--json'])).stdout);
    expect(restarted.replica_sync).toBe('enabled');
    const all = JSON.parse((await minirs(home, ['status', '--json'])).stdout);
    expect(all.map((e: { cluster: string; name: string }) => `${e.cluster}/${e.name}`)).toEqual(['e2e/dest']);

    const self = await minirs(home, ['replica-of', name, 'dest', '--source', 'dest']);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/^minirs: .*itself/);
    const del = await minirs(home, ['db', 'delete', name, 'dest', '--json']);
    expect(JSON.parse(del.stdout)).toMatchObject({ name: 'dest', deleted: true });
  });

  it('logs pretty-prints the manager log', async () => {
    const r = await minirs(home, ['logs', name, 'manager', '-n', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/(INFO|WARN|ERROR) \(manager\): /);
    expect(r.stdout).not.toContain('"level"');
  });

  it('a command that finds the manager killed says so and brings it back', async () => {
    const before = Number(readFileSync(paths.managerPid, 'utf8'));
    process.kill(before, 'SIGKILL');
    expect(await waitForExit([before], 5000)).toEqual([]);
    const r = await minirs(home, ['db', 'list', name, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`minirs: the manager of cluster ${name} is not running; starting it\n`);
    expect(JSON.parse(r.stdout).map((b: { name: string }) => b.name)).toEqual(['db1']);
    const after = Number(readFileSync(paths.managerPid, 'utf8'));
    expect(after).not.toBe(before);
    expect(pidAlive(after)).toBe(true);
  });

  it('a stopped cluster stays stopped until cluster start', async () => {
    const stop = await minirs(home, ['cluster', 'stop', name]);
    expect(stop).toMatchObject({ code: 0, stdout: `Cluster ${name} stopped.\n` });
    expect(JSON.parse((await minirs(home, ['cluster', 'list', '--json'])).stdout)[0].status).toBe('stopped');
    const refused = await minirs(home, ['db', 'list', name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `minirs: cluster "${name}" is stopped; start it with \`minirs cluster start ${name}\`\n`,
    );
    const start = await minirs(home, ['cluster', 'start', name, '--json']);
    expect(start.code).toBe(0);
    expect(JSON.parse(start.stdout)).toMatchObject({ name, started: true });
    const info = JSON.parse((await minirs(home, ['db', 'info', name, 'db1', '--json'])).stdout);
    expect(info).toMatchObject({ uid: dbUid, authentication_admin_pass: adminPass });
  });

  it('cluster delete leaves no process and no file of the cluster', async () => {
    const pids = [...pidFiles(paths.run).values()];
    expect(pids.length).toBeGreaterThanOrEqual(1 + 2 + 2); // manager, 2 shards, 2 redis-servers at least
    expect(processesOfHome(home).length).toBeGreaterThan(0);
    const r = await minirs(home, ['cluster', 'delete', name, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name, deleted: true });
    expect(existsSync(paths.dir)).toBe(false);
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(processesOfHome(home)).toEqual([]);
    const gone = await minirs(home, ['cluster', 'status', name]);
    expect(gone.code).toBe(1);
  });
});
