import { existsSync, readFileSync } from 'node:fs';
import {
  killProcessesUnder,
  MiniCluster,
  removeHome,
  rest,
  type StartedMiniCluster,
  tmpHome,
  waitFor,
} from '@minirs/harness';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The foundation end to end: two 3-node clusters side by side, a 4-shard database on each,
 * real processes. Children are healed after kill -9, the manager survives kill -9 without losing
 * a database, and deleting a cluster leaves no process behind.
 */

const home = tmpHome('fnd');
let east: StartedMiniCluster;
let west: StartedMiniCluster;
const clients: Redis[] = [];

function state(c: StartedMiniCluster): ClusterState {
  return JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
}

function shardClient(c: StartedMiniCluster, shardUid: number): Redis {
  const s = state(c);
  const sh = s.shards.find((x) => x.uid === shardUid)!;
  const r = new Redis({
    host: sh.addr,
    port: sh.port,
    password: s.internal_password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

async function endpointClient(c: StartedMiniCluster, db: string): Promise<Redis> {
  const ep = await c.endpoint(db);
  const r = new Redis({ host: ep.host, port: ep.port, password: ep.password, maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

beforeAll(async () => {
  [east, west] = await Promise.all([
    new MiniCluster('east').withNodes(3).withHome(home).start(),
    new MiniCluster('west').withNodes(3).withHome(home).start(),
  ]);
  await Promise.all([
    east.createDb({ name: 'orders', shards: 4 }),
    west.createDb({ name: 'orders', shards: 4 }),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.allSettled([east?.delete(), west?.delete()]);
  killProcessesUnder(home);
  removeHome(home);
});

describe('two clusters side by side', () => {
  it('give each node its own loopback address and every shard answers PING', async () => {
    const e = state(east);
    const w = state(west);
    expect(e.cluster.nodes.map((n) => n.addr)).toHaveLength(3);
    expect(new Set([...e.cluster.nodes, ...w.cluster.nodes].map((n) => n.addr)).size).toBe(
      e.cluster.loopback_fallback ? 1 : 6,
    );
    for (const c of [east, west]) {
      const s = state(c);
      expect(s.shards).toHaveLength(4);
      // round-robin placement over the 3 nodes
      expect(new Set(s.shards.map((sh) => sh.node_uid)).size).toBe(3);
      for (const sh of s.shards) {
        const r = shardClient(c, sh.uid);
        await r.connect();
        expect(await r.ping()).toBe('PONG');
        expect(await r.config('GET', 'maxmemory')).toEqual([
          'maxmemory',
          String(Math.floor((100 * 1024 * 1024) / 4)),
        ]);
      }
    }
  });

  it('serve each database through its endpoint', async () => {
    const r = await endpointClient(east, 'orders');
    for (let i = 0; i < 200; i++) await r.set(`k${i}`, `v${i}`);
    expect(await r.get('k7')).toBe('v7');
    expect(await r.dbsize()).toBe(200);
    const w = await endpointClient(west, 'orders');
    expect(await w.dbsize()).toBe(0);
  });
});

describe('supervision', () => {
  it('restarts a shard whose redis-server was killed, and says so', async () => {
    const before = (await east.api.listShards()).find((s) => s.uid === '1')!;
    const redisPid = Number(readFileSync(east.paths.pidFile('redis-1'), 'utf8'));
    const t0 = Date.now();
    process.kill(redisPid, 'SIGKILL');
    const after = await waitFor(async () => {
      const s = (await east.api.listShards()).find((x) => x.uid === '1')!;
      const pid = Number(readFileSync(east.paths.pidFile('redis-1'), 'utf8'));
      return s.status === 'active' && pid !== redisPid && s.restarts > before.restarts ? s : undefined;
    }, 'shard 1 to come back with a new redis-server');
    console.log(`redis-server kill -9 healed in ${Date.now() - t0} ms`);
    expect(after.last_event).toMatch(/restarted|started/);
    const r = shardClient(east, 1);
    await r.connect();
    expect(await r.ping()).toBe('PONG');
  });

  it('restarts a killed shard process, which takes back its redis-server with the data', async () => {
    const r = shardClient(east, 2);
    await r.connect();
    await r.set('survivor', 'yes');
    const shardPid = Number(readFileSync(east.paths.pidFile('shard-2'), 'utf8'));
    const redisPid = Number(readFileSync(east.paths.pidFile('redis-2'), 'utf8'));
    const t0 = Date.now();
    process.kill(shardPid, 'SIGKILL');
    await waitFor(async () => {
      const s = (await east.api.listShards()).find((x) => x.uid === '2')!;
      const pid = Number(readFileSync(east.paths.pidFile('shard-2'), 'utf8'));
      return s.status === 'active' && pid !== shardPid;
    }, 'shard process 2 to be replaced');
    console.log(`shard process kill -9 healed in ${Date.now() - t0} ms`);
    expect(Number(readFileSync(east.paths.pidFile('redis-2'), 'utf8'))).toBe(redisPid);
    expect(await r.get('survivor')).toBe('yes');
  });

  it('keeps every database and the data plane when the manager is killed, and takes its children back', async () => {
    const pidsBefore = east.processes();
    const managerPid = east.managerPid()!;
    const ep = await endpointClient(east, 'orders');
    await ep.set('during-outage', '1');
    process.kill(managerPid, 'SIGKILL');
    await waitFor(() => !east.processes().has('manager'), 'the manager to be gone');
    // The data plane keeps serving while the manager is down.
    expect(await ep.get('k7')).toBe('v7');
    expect(await ep.set('while-down', '1')).toBe('OK');
    await east.restartManager();
    const bdbs = await east.api.listBdbs();
    expect(bdbs.map((b) => [b.name, b.shards_count, b.status])).toEqual([['orders', 4, 'active']]);
    const pidsAfter = east.processes();
    for (const [name, pid] of pidsBefore) {
      if (name === 'manager') continue;
      expect(pidsAfter.get(name), `${name} adopted, not restarted`).toBe(pid);
    }
    expect(await ep.get('while-down')).toBe('1');
  });
});

describe('REST API', () => {
  it('rejects missing and wrong credentials with 401', async () => {
    const { api_url, username } = east.credentials;
    const ca = readFileSync(east.paths.caCert, 'utf8');
    expect((await rest(api_url, ca, 'GET', '/v1/bdbs')).status).toBe(401);
    const wrong = await rest(api_url, ca, 'GET', '/v1/bdbs', { auth: `${username}:nope` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error_code).toBe('MINIRS_ERR_UNAUTHORIZED');
  });

  it('rejects each bad field with 400 naming it, and creates nothing', async () => {
    const { api_url, username, password } = east.credentials;
    const ca = readFileSync(east.paths.caCert, 'utf8');
    const auth = `${username}:${password}`;
    const cases: [unknown, string][] = [
      [{ name: 'x1', shards_count: 0 }, 'shards_count'],
      [{ name: 'x2', shards_count: 513 }, 'shards_count'],
      [{ name: 'x3', shards_count: 4, memory_size: 1024 }, 'memory_size'],
      [{ name: 'bad name!' }, 'name'],
      [{ shards_count: 1 }, 'name'],
      [{ name: 'x4', shard_key_regex: [{ regex: '(' }] }, 'shard_key_regex'],
      [{ name: 'x5', shards_count: 'two' }, 'shards_count'],
    ];
    for (const [body, field] of cases) {
      const r = await rest(api_url, ca, 'POST', '/v1/bdbs', { auth, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.field).toBe(field);
      expect(String(r.body.message)).toMatch(new RegExp(field.replace('_', '.')));
    }
    const dup = await rest(api_url, ca, 'POST', '/v1/bdbs', { auth, body: { name: 'orders' } });
    expect(dup.status).toBe(409);
    expect((await east.api.listBdbs()).map((b) => b.name)).toEqual(['orders']);
  });
});

describe('delete', () => {
  it('leaves no process and no file of the cluster behind', async () => {
    const pids = [...west.processes().values()];
    expect(pids.length).toBeGreaterThan(8); // manager, 3 proxies, 4 shards, 4 redis-servers
    await west.delete();
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    expect(existsSync(west.paths.dir)).toBe(false);
  });
});
