// One minirs cluster per container. Runs under tini (PID 1): creates the cluster on the first
// start (state in the MINIRS_HOME volume), starts it again from that state on later ones, makes
// the databases MINIRS_DATABASES names, publishes the endpoints on the container's network, and
// on SIGTERM stops every process of the cluster before it exits 0.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectCluster,
  isClusterProcess,
  launchManager,
  managerPid,
  ownerOf,
  StartedMiniCluster,
  stopCluster,
} from '../packages/local/dist/index.js';
import { initCluster, StateStore } from '../packages/cluster-manager/dist/index.js';
import { clusterPaths, createLogger, isMinirsError, writeFileAtomic } from '../packages/common/dist/index.js';
import { readConfig } from './container-config.mjs';
import { Publisher } from './publish.mjs';

const log = createLogger({ name: 'container' });

/**
 * The cluster index is 127.0.C.N. With --network host the host's claims are not visible here
 * (this /tmp is the container's), so whoever runs the container claims C on the host and passes
 * MINIRS_CLUSTER_INDEX; the smaller slots of this private claim folder are marked taken so that
 * the manager's own claim lands on C.
 * @param {number} index
 */
function reserveIndexesBelow(index) {
  const slots = join(tmpdir(), 'minirs-node-indexes');
  for (let c = 1; c < index; c++) {
    const dir = join(slots, String(c));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner'), '/\n');
  }
}

/** @param {import('./container-config.mjs').ContainerConfig} cfg @param {import('@minirs/common').ClusterPaths} paths */
function writeCredentials(cfg, paths) {
  if (cfg.password === undefined) return;
  const current = JSON.parse(readFileSync(paths.credentials, 'utf8'));
  if (current.username === cfg.username && current.password === cfg.password) return;
  writeFileAtomic(
    paths.credentials,
    `${JSON.stringify({ ...current, username: cfg.username, password: cfg.password }, null, 2)}\n`,
  );
}

/**
 * True when this process is the container's main process under tini (PID 1 is tini, our
 * parent): then every other process of this PID namespace belongs to the container. Run
 * anywhere else (a host, a debugger) the sweep below must not look past the cluster's own.
 */
function mainProcessOfContainer() {
  if (process.ppid !== 1) return false;
  try {
    return /(^|\/)(tini|docker-init)\0/.test(readFileSync('/proc/1/cmdline', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * What still runs after the stop: in the container every process but tini, this one, zombies
 * (tini reaps them) and what entered from outside; elsewhere the cluster's own processes (its pid files).
 * @param {import('../packages/local/dist/index.js').StartedMiniCluster | undefined} cluster
 */
function leftProcesses(cluster) {
  if (!mainProcessOfContainer()) {
    return [...(cluster?.processes() ?? new Map())].map(([name, pid]) => ({ pid, cmd: name }));
  }
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === 1 || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // `docker exec` and healthcheck processes enter from outside (parent 0): not ours to stop.
      if (state === 'Z' || ppid === '0') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid, cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function main() {
  const cfg = readConfig();
  const env = { ...process.env, MINIRS_HOME: cfg.home };
  const lifecycle = { home: cfg.home, env, startTimeoutMs: 60_000, stopTimeoutMs: 8_000 };
  const paths = clusterPaths(cfg.name, cfg.home);
  mkdirSync(cfg.home, { recursive: true });

  let fresh = false;
  try {
    readFileSync(paths.state);
  } catch {
    fresh = true;
  }
  if (fresh) {
    if (cfg.index !== undefined) reserveIndexesBelow(cfg.index);
    const init = await initCluster({
      name: cfg.name,
      nodes: cfg.nodes,
      apiPort: cfg.apiPort,
      dbPortBase: cfg.dbPortBase,
    });
    new StateStore(init.paths, init.state); // persists the initial state
    log.info({ cluster: cfg.name, index: init.state.cluster.index, nodes: cfg.nodes }, 'cluster created');
  } else {
    const state = JSON.parse(readFileSync(paths.state, 'utf8'));
    log.info(
      { cluster: cfg.name, index: state.cluster.index, databases: state.bdbs.length },
      'cluster found in the volume; starting it from its state (MINIRS_NODES and the ports of the first start apply)',
    );
  }
  writeCredentials(cfg, paths);

  /** @type {Publisher | undefined} */
  let publisher;
  /** @type {StartedMiniCluster | undefined} */
  let cluster;
  /** @type {Promise<unknown>} settles once the manager is up or has failed to come up */
  let launching = Promise.resolve();
  let stopping = false;
  const stop = async (/** @type {string} */ reason, failed = false) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping the cluster');
    publisher?.close();
    let code = failed ? 1 : 0;
    try {
      // A stop during the start waits for the manager to be up, so that it is stopped too.
      await launching.catch(() => {});
      await stopCluster(cfg.name, lifecycle);
    } catch (err) {
      log.error({ err }, 'the cluster did not stop cleanly');
      code = 1;
    }
    const left = leftProcesses(cluster);
    if (left.length) {
      log.error({ left }, 'processes were left after the stop; killing them');
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      code = 1;
    }
    log.info({ left: left.map((p) => p.pid) }, 'container stopped');
    log.flush();
    setTimeout(() => process.exit(code), 50);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  try {
    const launched = launchManager({
      name: cfg.name,
      home: cfg.home,
      mode: 'start',
      env,
      timeoutMs: lifecycle.startTimeoutMs,
    });
    launching = launched;
    const ready = await launched;
    if (stopping) return;
    const conn = await connectCluster(cfg.name, { ...lifecycle, autoStart: false });
    cluster = new StartedMiniCluster(cfg.name, conn.paths, conn.api, lifecycle, false);
    const existing = new Set((await conn.api.listBdbs()).map((b) => b.name));
    for (const d of cfg.databases) {
      if (stopping) return;
      if (existing.has(d.name)) continue;
      const b = await cluster.createDb(d);
      log.info({ db: d.name, uid: b.uid, port: b.port }, 'database created');
    }
    for (const b of await conn.api.listBdbs()) {
      if (stopping) return;
      await waitServing(b);
    }
    if (stopping) return;
    if (cfg.publish) {
      publisher = new Publisher(conn.api, ready.nodes[0].addr, Number(new URL(ready.api_url).port), log);
      await publisher.start();
    }
    const dbs = (await conn.api.listBdbs()).map((b) => ({
      name: b.name,
      uid: b.uid,
      addr: b.endpoints[0]?.addr[0],
      port: b.port,
    }));
    log.info(
      {
        cluster: cfg.name,
        api_url: ready.api_url,
        username: ready.username,
        databases: dbs,
        published: publisher?.addresses() ?? [],
      },
      'minirs container ready',
    );
  } catch (err) {
    if (stopping) return; // the stop's own outcome decides the exit code
    log.fatal({ err }, 'the container could not start');
    process.stderr.write(`minirs container: ${describe(err)}\n`);
    reportClusterErrors(paths);
    await stop('start failed', true);
    return;
  }

  // The container lives as long as its manager: a manager that dies is the container's failure.
  const owner = ownerOf(paths);
  const watch = setInterval(() => {
    if (stopping) return;
    const pid = managerPid(paths);
    if (pid === undefined || !isClusterProcess(pid, owner)) {
      clearInterval(watch);
      log.error({ pid }, 'the cluster manager is gone; the container stops');
      void stop('manager exited', true);
    }
  }, 1000);
}

/**
 * The errors the cluster's processes logged (their logs are in the volume), on the container's
 * output: `docker logs` then says why a start failed.
 * @param {import('@minirs/common').ClusterPaths} paths
 */
function reportClusterErrors(paths) {
  let files = [];
  try {
    files = readdirSync(paths.logs).filter((f) => f.endsWith('.log') || f.endsWith('.out'));
  } catch {
    return;
  }
  for (const f of files) {
    let lines = [];
    try {
      lines = readFileSync(join(paths.logs, f), 'utf8').split('\n');
    } catch {
      continue;
    }
    const bad = lines
      .filter((l) => /"level":(40|50|60)/.test(l) || (f.endsWith('.out') && l.trim()))
      .slice(-5);
    for (const l of bad) process.stderr.write(`${f}: ${l.slice(0, 600)}\n`);
  }
}

/**
 * Resolves once the database answers DBSIZE through its endpoint: DBSIZE spans every shard, so
 * every shard's redis-server is up (after a restart they come back after the manager reports ready).
 * @param {{ endpoints: { addr: string[] }[], port: number, authentication_redis_pass?: string, name: string }} b
 */
async function waitServing(b, timeoutMs = 60_000) {
  const host = b.endpoints[0]?.addr[0] ?? '127.0.0.1';
  const cmd = (/** @type {string[]} */ args) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const once = () =>
    new Promise((resolve) => {
      const sock = createConnection({ host, port: b.port });
      let reply = '';
      const done = (/** @type {boolean} */ ok) => {
        sock.destroy();
        resolve(ok);
      };
      sock.setTimeout(3000, () => done(false));
      sock.on('error', () => done(false));
      sock.on('connect', () => {
        sock.write(
          (b.authentication_redis_pass ? cmd(['AUTH', b.authentication_redis_pass]) : '') + cmd(['DBSIZE']),
        );
      });
      sock.on('data', (d) => {
        reply += d.toString('latin1');
        if (reply.startsWith('-') || reply.includes('\r\n-')) done(false);
        else if (/(^|\r\n):\d+\r\n$/.test(reply)) done(true);
      });
    });
  const deadline = Date.now() + timeoutMs;
  while (!(await once())) {
    if (Date.now() > deadline)
      throw new Error(`database ${b.name} does not answer on ${host}:${b.port} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** @param {unknown} err */
function describe(err) {
  return isMinirsError(err)
    ? `${err.code}: ${err.message}`
    : err instanceof Error
      ? err.message
      : String(err);
}

// Before the cluster exists (bad configuration, a taken port): nothing to stop.
main().catch((err) => {
  log.fatal({ err }, 'the container could not start');
  log.flush();
  process.stderr.write(`minirs container: ${describe(err)}\n`);
  setTimeout(
    () => process.exit(isMinirsError(err) && err.code === 'MINIRS_ERR_INVALID_ARGUMENT' ? 2 : 1),
    50,
  );
});
