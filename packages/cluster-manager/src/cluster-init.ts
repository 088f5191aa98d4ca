import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CLUSTER_NAME_RE,
  type ClusterPaths,
  type ClusterState,
  type Credentials,
  clusterApiAddr,
  clusterPaths,
  createCa,
  createLeaf,
  ErrorCodes,
  invalid,
  MinirsError,
  machineDir,
  minirsHome,
  netnsNodeAddr,
  netnsUnavailableReason,
  newRsaKey,
  randomPassword,
  redisServerBinary,
  setupClusterNetns,
  teardownClusterNetns,
  withDirLock,
  writeFileAtomic,
} from '@minirs/common';
import { canBind } from './net-util.js';

export interface CreateOptions {
  name: string;
  nodes: number;
  apiPort: number;
  dbPortBase: number;
  /** How nodes are hosts: netns (namespaces, or fail), loopback (127.0.C.N), auto (netns where it works). */
  net?: 'auto' | 'netns' | 'loopback';
}

export const MAX_NODES = 32;

function usedIndexes(home: string): Set<number> {
  const used = new Set<number>();
  let entries: string[] = [];
  try {
    entries = readdirSync(home);
  } catch {
    return used;
  }
  for (const e of entries) {
    try {
      const s = JSON.parse(readFileSync(join(home, e, 'state.json'), 'utf8')) as ClusterState;
      used.add(s.cluster.index);
    } catch {
      // not a cluster dir
    }
  }
  return used;
}

/** Index claims are machine-wide: two MINIRS_HOMEs (a user's clusters and a test run, a demo) share 127/8. */
export function indexClaimsDir(): string {
  return join(machineDir(), 'minirs-node-indexes');
}

/**
 * Claims the smallest free cluster index C (nodes are 127.0.C.N). Two creates racing on the same
 * machine, in the same MINIRS_HOME or in different ones, must not get the same C: the claim is an
 * exclusive mkdir of `<tmp>/minirs-node-indexes/C` naming its owner (the cluster's folder, created
 * before the claim); a claim whose owner folder is gone is stale and taken over.
 */
export function claimIndex(home: string, clusterDir: string): number {
  const slots = indexClaimsDir();
  mkdirSync(slots, { recursive: true, mode: 0o1777 });
  return withClaimLock(slots, () => {
    const used = usedIndexes(home);
    for (let index = 1; index <= 254; index++) {
      if (used.has(index)) continue;
      const dir = join(slots, String(index));
      try {
        mkdirSync(dir);
      } catch {
        let owner = '';
        try {
          owner = readFileSync(join(dir, 'owner'), 'utf8').trim();
        } catch {
          // being written by a create that does not take the lock (a container harness), or stale
        }
        if (!owner || owner === clusterDir || existsSync(owner)) continue;
        try {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir);
        } catch {
          continue;
        }
      }
      writeFileAtomic(join(dir, 'owner'), `${clusterDir}\n`, 0o644);
      return index;
    }
    throw new MinirsError(
      ErrorCodes.CONFLICT,
      `no free cluster index on this machine (254 in use); delete some clusters`,
    );
  });
}

/**
 * Claims are scanned and stale ones taken over under one machine-wide lock (an exclusive mkdir):
 * two creates racing for the same stale claim would otherwise both take it, or one would remove
 * the other's fresh claim. A lock older than 10 s belongs to a create that died holding it.
 */
function withClaimLock<T>(slots: string, fn: () => T): T {
  const lock = join(slots, '.lock');
  return withDirLock(
    lock,
    {
      staleMs: 10_000,
      waitMs: 15_000,
      timeoutError: () =>
        new MinirsError(
          ErrorCodes.CONFLICT,
          `cluster index claims stay locked (${lock}); remove that folder if no \`minirs cluster create\` is running`,
        ),
    },
    fn,
  );
}

export function validateCreate(o: CreateOptions): void {
  if (!CLUSTER_NAME_RE.test(o.name)) {
    throw invalid(
      'name',
      `cluster name "${o.name}" is invalid: use 1-31 lower-case letters, digits and hyphens, starting with a letter or digit`,
    );
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES) {
    throw invalid('nodes', `--nodes ${o.nodes} is out of range: a cluster has 1 to ${MAX_NODES} nodes`);
  }
  if (o.net !== undefined && !['auto', 'netns', 'loopback'].includes(o.net)) {
    throw invalid('net', `--net ${o.net} is not a network mode: use auto, netns or loopback`);
  }
  for (const [field, port] of [
    ['api_port', o.apiPort],
    ['db_port_base', o.dbPortBase],
  ] as const) {
    if (!Number.isInteger(port) || port < 1024 || port > 65535) {
      throw invalid(field, `${field} ${port} is out of range: use a port from 1024 to 65535`);
    }
  }
}

/**
 * Creates the cluster's folder, certificates, credentials and initial state. Either everything
 * exists afterwards or nothing does.
 */
export async function initCluster(
  o: CreateOptions,
): Promise<{ paths: ClusterPaths; state: ClusterState; credentials: Credentials; timings: Record<string, number> }> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  validateCreate(o);
  redisServerBinary(); // fail early, before any file exists
  const home = minirsHome();
  mkdirSync(home, { recursive: true });
  const paths = clusterPaths(o.name, home);
  try {
    mkdirSync(paths.dir); // exclusive: a second create of the same name fails here
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `cluster "${o.name}" already exists in ${home}; pick another name or run \`minirs cluster delete ${o.name}\``,
        { field: 'name' },
      );
    }
    throw err;
  }
  let index: number | undefined;
  let netMade = false;
  // The two RSA keys (the CA's and one the cluster's leaves share; RSA key generation dominates
  // the certificates, and a simulator's identities need not differ in key) are made on libuv's
  // thread pool while this thread claims the index and makes the namespaces (synchronous `ip`
  // processes): neither depends on the other. The leaves, which name the node addresses, wait.
  const tCerts = performance.now();
  const keys = Promise.all([createCa(`minirs ${o.name} CA`), newRsaKey()]);
  keys.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
  try {
    index = claimIndex(home, resolve(paths.dir));
    const uids = Array.from({ length: o.nodes }, (_, i) => i + 1);
    const tNet = performance.now();
    const { net, reason } = chooseNet(o.net ?? 'auto', index, uids);
    timings.netns_ms = Math.round(performance.now() - tNet);
    timings.netns_done = Math.round(performance.now() - t0);
    netMade = net === 'netns';

    // Loopback mode: node N of cluster C is 127.0.C.N; any 127/8 address is loopback on Linux,
    // not elsewhere. Netns mode: 198.18.C.N inside the namespace minirs-C-N.
    const fallback = net === 'loopback' && !(await canBind(`127.0.${index}.1`, 0));
    const nodes = uids.map((uid) => ({
      uid,
      addr: net === 'netns' ? netnsNodeAddr(index!, uid) : fallback ? '127.0.0.1' : `127.0.${index}.${uid}`,
      status: 'active' as const,
    }));
    const apiAddr = clusterApiAddr({ index, net, nodes });
    if (!(await canBind(apiAddr, o.apiPort))) {
      throw new MinirsError(
        ErrorCodes.PORT_IN_USE,
        `port ${o.apiPort} on ${apiAddr} is in use; pass another --api-port`,
        { field: 'api_port' },
      );
    }
    for (const p of ['run', 'logs', 'data', 'certs'] as const) mkdirSync(paths[p], { recursive: true });

    const tKeys = performance.now();
    const [ca, leafKey] = await keys;
    timings.keys_wait_ms = Math.round(performance.now() - tKeys);
    const ips = [...new Set([...nodes.map((n) => n.addr), apiAddr])];
    const [api, proxy, syncer] = await Promise.all([
      createLeaf(ca, { commonName: `api.${o.name}.minirs.local`, ips, dns: ['localhost'] }, leafKey),
      createLeaf(
        ca,
        { commonName: `proxy.${o.name}.minirs.local`, ips, dns: ['localhost'], client: true },
        leafKey,
      ),
      createLeaf(ca, { commonName: `syncer.${o.name}.minirs.local`, client: true, server: false }, leafKey),
    ]);
    // From the start of the key generation: it overlaps the index claim and the namespaces.
    timings.certs_ms = Math.round(performance.now() - tCerts);
    timings.certs_done = Math.round(performance.now() - t0);
    writeFileAtomic(paths.caCert, ca.cert, 0o644);
    writeFileAtomic(join(paths.certs, 'ca.key'), ca.key);
    for (const [n, kp] of Object.entries({ api, proxy, syncer })) {
      writeFileAtomic(join(paths.certs, `${n}.pem`), kp.cert, 0o644);
      writeFileAtomic(join(paths.certs, `${n}.key`), kp.key);
    }
    const credentials: Credentials = {
      username: `admin@${o.name}.minirs.local`,
      password: randomPassword(24),
      api_url: `https://${apiAddr}:${o.apiPort}`,
    };
    writeFileAtomic(paths.credentials, `${JSON.stringify(credentials, null, 2)}\n`);
    const state: ClusterState = {
      version: 1,
      cluster: {
        name: o.name,
        index,
        api_port: o.apiPort,
        db_port_base: o.dbPortBase,
        created_time: new Date().toISOString(),
        nodes,
        loopback_fallback: fallback,
        net,
        ...(reason ? { net_reason: reason } : {}),
      },
      internal_password: randomPassword(40),
      next_bdb_uid: 1,
      next_shard_uid: 1,
      bdbs: [],
      shards: [],
    };
    timings.init_ms = Math.round(performance.now() - t0);
    return { paths, state, credentials, timings };
  } catch (err) {
    if (netMade && index !== undefined) teardownClusterNetns(index);
    rmSync(paths.dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * netns: namespaces or a clear error; loopback: 127.0.C.N; auto: namespaces where this process
 * may make them (Linux, root or CAP_NET_ADMIN + CAP_SYS_ADMIN, `ip`) and the kernel takes them,
 * else loopback with the reason. The namespaces are made here (a failed attempt removes its part).
 */
function chooseNet(
  wanted: 'auto' | 'netns' | 'loopback',
  index: number,
  uids: number[],
): { net: 'netns' | 'loopback'; reason?: string } {
  if (wanted === 'loopback') return { net: 'loopback', reason: 'asked for (--net loopback)' };
  if (index > 254)
    return { net: 'loopback', reason: `cluster index ${index} is past the namespace address plan` };
  let reason = netnsUnavailableReason();
  if (!reason) {
    try {
      setupClusterNetns(index, uids, true);
      return { net: 'netns' };
    } catch (err) {
      teardownClusterNetns(index);
      reason = `the kernel refused the namespaces: ${((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]}`;
    }
  }
  if (wanted === 'netns') {
    throw new MinirsError(ErrorCodes.CONFLICT, `--net netns: ${reason}; use --net loopback (or auto)`, {
      field: 'net',
    });
  }
  return { net: 'loopback', reason };
}

/** Releases the cluster's index claim (its folder is gone or going). */
export function releaseIndex(index: number): void {
  rmSync(join(indexClaimsDir(), String(index)), { recursive: true, force: true });
}

export function readCredentials(paths: ClusterPaths): Credentials {
  return JSON.parse(readFileSync(paths.credentials, 'utf8')) as Credentials;
}
