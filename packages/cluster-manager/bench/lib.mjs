// Building blocks of the create benchmark (create.mjs and the repository's bench table): time
// from `minirs cluster create` (3 nodes) to a 4-shard database whose shards and endpoint answer
// PING, against a baseline measured in the same run: 4 bare redis-servers started in
// parallel until each answers PING. Bounded: RUNS iterations, each with its own MINIRS_HOME.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '../../cli/dist/main.js');
const redisBin = process.env.MINIRS_REDIS_SERVER || 'redis-server';

function ping(host, port, password) {
  return new Promise((res) => {
    const s = createConnection({ host, port });
    let buf = '';
    s.on('connect', () => s.write(`${password ? `AUTH ${password}\r\n` : ''}PING\r\n`));
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('+PONG')) {
        s.destroy();
        res(true);
      }
    });
    s.on('error', () => res(false));
    setTimeout(() => {
      s.destroy();
      res(false);
    }, 500);
  });
}

async function waitPing(host, port, password) {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    if (await ping(host, port, password)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${host}:${port} never answered PING`);
}

function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

export async function baseline() {
  const ports = await Promise.all([1, 2, 3, 4].map(freePort));
  const dir = mkdtempSync('/tmp/mrs-bench-');
  const t0 = performance.now();
  const procs = ports.map((p) =>
    spawn(
      redisBin,
      ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--dbfilename', `d${p}.rdb`],
      { stdio: 'ignore' },
    ),
  );
  await Promise.all(ports.map((p) => waitPing('127.0.0.1', p)));
  const ms = performance.now() - t0;
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

export async function minirs(i) {
  const home = mkdtempSync('/tmp/mrs-bench-');
  const env = { ...process.env, MINIRS_HOME: home };
  const run = (...args) => {
    const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`minirs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const name = `bench${process.pid}x${i}`;
  const apiPort = await freePort();
  try {
    const t0 = performance.now();
    run('cluster', 'create', name, '--nodes', '3', '--api-port', String(apiPort), '--json');
    const tCreated = performance.now();
    const bdb = JSON.parse(run('db', 'create', name, 'db', '--shards', '4', '--json'));
    const tDb = performance.now();
    const state = JSON.parse(readFileSync(join(home, name, 'state.json'), 'utf8'));
    await Promise.all(state.shards.map((s) => waitPing(s.addr, s.port, state.internal_password)));
    // "Until it answers": the database endpoint (the proxy of node 1) answers PING.
    const ep = bdb.endpoints?.[0];
    await waitPing(ep?.addr?.[0] ?? '127.0.0.1', ep?.port ?? bdb.port, bdb.authentication_redis_pass || undefined);
    const total = performance.now() - t0;
    return { total, create: tCreated - t0, db: tDb - tCreated, home, name };
  } finally {
    spawnSync(process.execPath, [cli, 'cluster', 'delete', name], { env, encoding: 'utf8' });
    rmSync(home, { recursive: true, force: true });
  }
}
