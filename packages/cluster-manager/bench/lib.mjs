// Building blocks of the create benchmark (create.mjs and the repository's bench table): time
// from `minirs cluster create` (3 nodes) to a 4-shard database whose shards and endpoint answer
// PING, against a baseline measured in the same run: 4 bare redis-servers started in
// parallel until each answers PING. Bounded: RUNS iterations, each with its own MINIRS_HOME.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@minirs/common';

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

/** The JSON lines of a pino log file (missing file: none). */
function logLines(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const j = JSON.parse(l);
      j.t = Date.parse(j.time);
      out.push(j);
    } catch {
      // a torn last line
    }
  }
  return out;
}

/**
 * Where the time of one create went, from the logs of the manager and the shards (epoch ms; the
 * processes log when they started): the steps in order, each { step, ms }, summing to the total.
 */
function breakdown(dir, t) {
  const mgr = logLines(join(dir, 'logs', 'manager.log'));
  const ready = mgr.find((j) => j.msg === 'manager ready');
  if (!ready?.marks || !ready.process_start) return undefined;
  const m = ready.marks;
  const ps = ready.process_start;
  const requested = mgr.find((j) => j.msg === 'database create requested')?.t;
  const spawned = mgr.filter((j) => j.msg === 'spawned child' && /^shard-/.test(j.child)).map((j) => j.t);
  const active = mgr.filter((j) => j.msg === 'shard active').map((j) => j.t);
  const epReady = mgr
    .filter((j) => j.msg === 'child event' && j.event === 'ready' && j.proxy === 1)
    .map((j) => j.t);
  const shardStart = [];
  const shardUp = [];
  const shardReady = [];
  for (let n = 1; n <= spawned.length; n++) {
    const sl = logLines(join(dir, 'logs', `shard-${n}.log`));
    const up = sl.find((j) => j.msg === 'shard process up');
    const rd = sl.find((j) => j.msg === 'shard ready');
    if (up?.process_start) shardStart.push(up.process_start);
    if (up) shardUp.push(up.t);
    if (rd) shardReady.push(rd.t);
  }
  const max = (xs) => (xs.length ? Math.max(...xs) : undefined);
  const points = [
    ['cli create: node start + CLI load, manager spawned', ps],
    ['manager: node start + first modules', ps + m.main],
    ['manager: index claim + netns setup', ps + m.main + (m.netns_done ?? 0)],
    ['manager: keys + certificates (what is left of them)', ps + m.main + (m.certs_done ?? 0)],
    ['manager: rest of init (files, probes)', ps + m.init],
    ['manager: what is left of loading fastify + control plane', ps + (m.loaded ?? m.init)],
    ['manager: API built (fastify, routes)', ps + m.api_built],
    ['manager: API listen + exporter, ready line', ps + m.ready],
    ['cli create: prints and exits', t.created],
    ['cli db: node start + CLI load + request', requested],
    ['manager: plan, state, shards spawned', max(spawned)],
    ['shards: node process started', max(shardStart)],
    ['shards: module load', max(shardUp)],
    ['shards: redis-server start until PING, control socket', max(shardReady)],
    ['manager: shard control link, shards active', max(active)],
    ['proxy 1: links to the shards, endpoint ready', max(epReady)],
    ['bench: endpoint answers PING', t.end],
  ];
  const steps = [];
  let prev = t.start;
  for (const [step, at] of points) {
    if (at === undefined || !Number.isFinite(at)) continue;
    steps.push({ step, ms: at - prev });
    prev = Math.max(prev, at);
  }
  steps.push({ step: '(netns setup alone)', ms: m.netns_ms ?? 0, info: true });
  steps.push({ step: '(keys + certificates, from their start)', ms: m.certs_ms ?? 0, info: true });
  steps.push({ step: '(db create CLI returned at)', ms: t.db - t.start, info: true });
  return steps;
}

/**
 * One `cluster create` (3 nodes) + `db create --shards 4`, until the endpoint answers PING.
 * `net`: the --net of the create (default: the CLI's, MINIRS_NET or auto).
 */
export async function minirs(i, net, cliPath = cli) {
  const home = mkdtempSync('/tmp/mrs-bench-');
  const env = { ...process.env, MINIRS_HOME: home };
  const run = (...args) => {
    const r = spawnSync(process.execPath, [cliPath, ...args], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`minirs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const name = `bench${process.pid}x${i}`;
  const apiPort = await freePort();
  try {
    const e0 = Date.now();
    const t0 = performance.now();
    run(
      'cluster',
      'create',
      name,
      '--nodes',
      '3',
      '--api-port',
      String(apiPort),
      ...(net ? ['--net', net] : []),
      '--json',
    );
    const tCreated = performance.now();
    const bdb = JSON.parse(run('db', 'create', name, 'db', '--shards', '4', '--json'));
    const tDb = performance.now();
    const state = JSON.parse(readFileSync(join(home, name, 'state.json'), 'utf8'));
    await Promise.all(state.shards.map((s) => waitPing(s.addr, s.port, state.internal_password)));
    // "Until it answers": the database endpoint (the proxy of node 1) answers PING.
    const ep = bdb.endpoints?.[0];
    await waitPing(
      ep?.addr?.[0] ?? '127.0.0.1',
      ep?.port ?? bdb.port,
      bdb.authentication_redis_pass || undefined,
    );
    const total = performance.now() - t0;
    const at = (x) => e0 + (x - t0);
    const steps = breakdown(join(home, name), {
      start: e0,
      created: at(tCreated),
      db: at(tDb),
      end: e0 + total,
    });
    const network = state.cluster?.net;
    return { total, create: tCreated - t0, db: tDb - tCreated, home, name, steps, network };
  } finally {
    spawnSync(process.execPath, [cliPath, 'cluster', 'delete', name], { env, encoding: 'utf8' });
    rmSync(home, { recursive: true, force: true });
  }
}
