#!/usr/bin/env node
import { closeSync, existsSync, rmSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type ClusterPaths,
  clusterApiAddr,
  clusterPaths,
  createLogger,
  ErrorCodes,
  isMinirsError,
  MinirsError,
  pidAlive,
  pidCmdline,
  refillKeyPool,
  setupClusterNetns,
  teardownClusterNetns,
  writeFileAtomic,
} from '@minirs/common';
import { initCluster, readCredentials } from './cluster-init.js';
import { RS_EXPORTER_PORT, type StartedExporter, startExporter } from './exporter.js';
import { describeNetwork, nftAvailable, probeNft } from './nft.js';
import { StateStore } from './state-store.js';
import { readPid } from './supervisor.js';

/**
 * `main.js create <name> [--nodes N] [--api-port P] [--db-port-base B]` or `main.js start <name>`.
 * Started detached by the CLI; reports readiness as ONE JSON line on fd 3, then closes it.
 */

function ready(obj: Record<string, unknown>): void {
  try {
    writeSync(3, `${JSON.stringify(obj)}\n`);
    closeSync(3);
  } catch {
    // Started by hand without fd 3: nothing to report to.
  }
}

function fail(err: unknown): never {
  const e = isMinirsError(err)
    ? err
    : new MinirsError(ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
  ready({ ok: false, error_code: e.code, message: e.message });
  process.stderr.write(`minirs manager: ${e.message}\n`);
  process.exit(1);
}

function otherManagerRunning(paths: ClusterPaths): number | undefined {
  const pid = readPid(paths.managerPid);
  if (pid && pid !== process.pid && pidAlive(pid) && pidCmdline(pid).includes('cluster-manager')) return pid;
  return undefined;
}

/**
 * (minirs) Where a create's time goes (ms since the process started, see bench/create-breakdown.mjs):
 * logged once as 'create timings'.
 */
const marks: Record<string, number> = {};
const mark = (what: string) => {
  marks[what] = Math.round(performance.now());
};

async function main(): Promise<void> {
  mark('main');
  // Loads while a create makes its keys and probes its ports (see server.ts).
  const server = import('./server.js');
  server.catch(() => {}); // awaited below
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '3' },
      'api-port': { type: 'string', default: '9443' },
      'db-port-base': { type: 'string', default: '12000' },
      // How nodes are hosts (create only): auto (namespaces where possible), netns, loopback.
      net: { type: 'string', default: process.env.MINIRS_NET || 'auto' },
      // RS's exporter port; one that is taken (clusters sharing 127.0.0.1) falls back to a free one.
      'metrics-port': {
        type: 'string',
        default: process.env.MINIRS_METRICS_PORT ?? String(RS_EXPORTER_PORT),
      },
    },
  });
  const [cmd, name] = positionals;
  if ((cmd !== 'create' && cmd !== 'start') || !name) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      'usage: main.js create|start <cluster> [--nodes N] [--api-port P] [--db-port-base B]',
    );
  }

  let store: StateStore;
  let paths: ClusterPaths;
  let remadeNodes: number[] = [];
  if (cmd === 'create') {
    // The nft probe (a process) runs while the keys and certificates are made.
    const [init] = await Promise.all([
      initCluster({
        name,
        nodes: Number(values.nodes),
        apiPort: Number(values['api-port']),
        dbPortBase: Number(values['db-port-base']),
        net: values.net as 'auto' | 'netns' | 'loopback',
      }),
      probeNft(),
    ]);
    mark('init');
    Object.assign(marks, init.timings);
    paths = init.paths;
    store = new StateStore(paths, init.state);
  } else {
    paths = clusterPaths(name);
    if (!existsSync(paths.state)) {
      throw new MinirsError(
        ErrorCodes.NOT_FOUND,
        `cluster "${name}" does not exist; create it with \`minirs cluster create ${name}\``,
      );
    }
    const other = otherManagerRunning(paths);
    if (other) {
      const creds = readCredentials(paths);
      ready({ ok: true, already_running: true, pid: other, name, ...creds, ca_cert: paths.caCert });
      return;
    }
    store = new StateStore(paths);
    // Netns mode: the namespaces a stopped cluster removed are made again; those a crashed
    // manager left (its children may still run in them) are kept when intact.
    const c0 = store.get().cluster;
    if (c0.net === 'netns') {
      try {
        remadeNodes = setupClusterNetns(c0.index, c0.nodes.map((n) => n.uid), false);
      } catch (err) {
        throw new MinirsError(
          ErrorCodes.INTERNAL,
          `cannot make the network namespaces of cluster "${name}" (${((err as { stderr?: string }).stderr || (err as Error).message).trim()}); the cluster was created in netns mode and needs root`,
          { cause: err },
        );
      }
    }
  }
  const {
    buildApi,
    ClusterManager,
    FaultInjector,
    isUiPublicPath,
    killNodeProcesses,
    registerExtraRoutes,
    registerUiRoutes,
    startStatsSampler,
  } = await server;
  mark('loaded');
  writeFileAtomic(paths.managerPid, `${process.pid}\n`, 0o644);
  const log = createLogger({ name: 'manager', file: paths.managerLog });
  const mgr = new ClusterManager(paths, store, log);
  // A node whose namespace had to be made again: what still runs of it sits in the old one, cut
  // off; it goes, and mgr.start() starts it afresh in the new namespace.
  for (const uid of remadeNodes) {
    const pids = killNodeProcesses(mgr, uid);
    if (pids.length) log.warn({ node: uid, pids }, 'node namespace was made again; its old processes were killed');
  }
  const creds = readCredentials(paths);

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, 'stopping cluster');
    await app?.close().catch(() => {});
    sampler.stop();
    await exporter?.close().catch(() => {});
    await faults.shutdown().catch((err) => log.warn({ err }, 'removing kernel faults failed'));
    await mgr.shutdown();
    // Every child has stopped: the namespaces, switch ports and host addresses go too.
    if (store.get().cluster.net === 'netns') teardownClusterNetns(store.get().cluster.index);
    if (readPid(paths.managerPid) === process.pid) rmSync(paths.managerPid, { force: true });
    log.info('cluster stopped');
    log.flush();
    setTimeout(() => process.exit(0), 50);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => {
    log.fatal(
      { err },
      'uncaught exception; manager exits (children keep running; `minirs cluster start` adopts them)',
    );
    log.flush();
    process.exit(1);
  });

  const faults = new FaultInjector(mgr);
  const sampler = startStatsSampler(mgr);
  let exporter: StartedExporter | undefined;
  const c = store.get().cluster;
  let app: Awaited<ReturnType<typeof import('./server.js').buildApi>> | undefined;
  try {
    app = await buildApi(mgr, creds, {
      register: (a) => {
        registerExtraRoutes(a, mgr, faults, sampler.history);
        registerUiRoutes(a, mgr, faults, creds);
      },
      isPublic: isUiPublicPath,
    });
  } catch (err) {
    if (cmd === 'create') {
      await mgr.shutdown().catch(() => {});
      if (c.net === 'netns') teardownClusterNetns(c.index);
      rmSync(paths.dir, { recursive: true, force: true });
    }
    throw err;
  }
  mark('api_built');
  try {
    try {
      await app!.listen({ host: clusterApiAddr(c), port: c.api_port });
    } catch (err) {
      throw new MinirsError(
        ErrorCodes.PORT_IN_USE,
        `cannot listen on ${clusterApiAddr(c)}:${c.api_port} (${(err as Error).message}); free the port or pass another --api-port`,
        { cause: err },
      );
    }
    mark('listening');
    try {
      exporter = await startExporter(mgr, sampler.history, Number(values['metrics-port']));
      mgr.metricsExporterUrl = exporter.url;
    } catch (err) {
      // Metrics are not worth failing the cluster for: the API and databases work without them.
      log.error({ err }, 'metrics exporter did not start');
    }
    // A new cluster has no shards yet: its proxies come up while the CLI prints. A restarted
    // manager adopts its children before it says it is ready.
    if (cmd === 'create') {
      // A new cluster has no faults; what loadAndPrepare() does for it (empty the kernel table an
      // earlier cluster of this index may have left, an `nft` process) waits until the ready
      // line is out, as do new keys for the next create's pool. No database exists before then.
      // Its proxies start now, not before the API is built: on a busy machine three loading
      // proxies took the CPU from this process and made `cluster create` slower (measured),
      // while the first database waits for its shards anyway.
      mgr.start().catch((err) => log.error({ err }, 'starting children failed'));
    } else {
      // Persisted faults: paused processes resume for adoption, crashed nodes stay down, the
      // kernel table of a crashed manager is emptied; then every active fault is applied again.
      faults.loadAndPrepare();
      await mgr.start();
      await faults.restore();
    }
  } catch (err) {
    // A create that cannot finish leaves nothing behind; a start keeps the cluster's files.
    await app!.close().catch(() => {});
    await mgr.shutdown().catch(() => {});
    if (c.net === 'netns') teardownClusterNetns(c.index);
    if (cmd === 'create') rmSync(paths.dir, { recursive: true, force: true });
    else rmSync(paths.managerPid, { force: true });
    throw err;
  }
  mark('ready');
  log.info(
    { api_url: creds.api_url, pid: process.pid, mode: cmd, process_start: Math.round(performance.timeOrigin), marks },
    'manager ready',
  );
  ready({
    ok: true,
    name: c.name,
    api_url: creds.api_url,
    username: creds.username,
    password: creds.password,
    ca_cert: paths.caCert,
    nodes: c.nodes.map((n) => ({ uid: n.uid, addr: n.addr })),
    network: networkMode(c),
  });
  if (cmd === 'create') {
    faults.loadAndPrepare();
    // Background work of a manager that is up: keys for the next cluster create (see pki.ts),
    // a few seconds on, so they do not compete with this cluster's first database; while a
    // database is still being created (its shards loading on a busy machine) it waits on, up to
    // 30 s in all.
    const refillAt = Date.now() + 30_000;
    const refill = () => {
      if (store.get().bdbs.some((b) => b.status === 'pending') && Date.now() < refillAt) {
        setTimeout(refill, 1000).unref();
        return;
      }
      refillKeyPool().catch((err) => log.warn({ err }, 'refilling the key pool failed'));
    };
    setTimeout(refill, 5000).unref();
  }
}

/** (minirs) How nodes are hosts here: the ready line's `network`, as GET /v1/cluster's. */
function networkMode(c: Parameters<typeof describeNetwork>[0]): ReturnType<typeof describeNetwork> {
  return describeNetwork(c, nftAvailable());
}

main().catch(fail);
