import { ErrorCodes, MinirsError, pidAlive } from '@minirs/common';
import type { ClusterManager } from './manager.js';
import { readPid } from './supervisor.js';

/**
 * A node as a machine: its processes by pid file, a crash (every process SIGKILLed, none
 * restarted until it starts again) and its start. The processes themselves are children.ts's.
 */

/** Pid-file names of every process of a node (redis-servers included). */
export function nodeProcessNames(mgr: ClusterManager, node: number): string[] {
  const names = [`proxy-${node}`];
  for (const sh of mgr.state.shards)
    if (sh.node_uid === node) names.push(`shard-${sh.uid}`, `redis-${sh.uid}`);
  if (mgr.procs.nodeOf('syncer', 0) === node) for (const b of mgr.state.bdbs) names.push(`syncer-${b.uid}`);
  return names;
}

/** SIGKILLs what runs of a node by its pid files (before adoption; see main.ts). Returns the pids. */
export function killNodeProcesses(mgr: ClusterManager, node: number): number[] {
  const pids: number[] = [];
  for (const name of nodeProcessNames(mgr, node)) {
    const pid = readPid(mgr.paths.pidFile(name));
    if (!pid || !pidAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      pids.push(pid);
    } catch {
      // gone
    }
  }
  return pids;
}

export function markNodeDown(mgr: ClusterManager, node: number, why: string): void {
  if (!mgr.state.cluster.nodes.some((n) => n.uid === node)) {
    throw new MinirsError(ErrorCodes.NOT_FOUND, `node ${node} does not exist; list them with GET /v1/nodes`);
  }
  mgr.downNodes.add(node);
  mgr.store.update((s) => {
    const n = s.cluster.nodes.find((x) => x.uid === node);
    if (n) n.status = 'down';
    for (const sh of s.shards) {
      if (sh.node_uid !== node) continue;
      sh.status = 'down';
      sh.last_event = why;
      sh.last_event_time = new Date().toISOString();
    }
  });
}

/** A machine crash: every process of the node SIGKILLed, none restarted. Returns their pids. */
export async function crashNode(mgr: ClusterManager, node: number, why: string): Promise<number[]> {
  markNodeDown(mgr, node, why);
  const pids: number[] = [];
  for (const name of nodeProcessNames(mgr, node)) {
    const pid = readPid(mgr.paths.pidFile(name));
    if (pid && pidAlive(pid)) pids.push(pid);
  }
  await Promise.all(
    nodeProcessNames(mgr, node).map(async (name) => {
      const child = mgr.procs.children.get(name);
      mgr.procs.children.delete(name);
      if (child) await child.crash();
    }),
  );
  for (const sh of mgr.state.shards) {
    if (sh.node_uid !== node) continue;
    mgr.procs.killStrayRedis(sh.uid);
    mgr.procs.forgetStats(sh.uid);
  }
  mgr.ha.nodeLost(node, why);
  // A crash is over when nothing of the node runs any more (SIGKILL is not instant).
  const deadline = Date.now() + 5000;
  while (pids.some((p) => pidAlive(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  mgr.procs.forgetEndpointsOf(node);
  mgr.pushProxyConfig();
  return pids;
}

/** Brings a crashed node back: its proxy, its shards, and the syncers when it is the first node. */
export async function startNode(mgr: ClusterManager, node: number): Promise<void> {
  mgr.downNodes.delete(node);
  mgr.store.update((s) => {
    const n = s.cluster.nodes.find((x) => x.uid === node);
    if (n) n.status = 'active';
  });
  const jobs: Promise<unknown>[] = [mgr.procs.ensureProxy(node)];
  for (const sh of mgr.state.shards) {
    if (sh.node_uid !== node) continue;
    mgr.setShard(sh.uid, { status: 'starting', last_event: `node ${node} started again` });
    jobs.push(mgr.procs.ensureShard(sh.uid));
  }
  await Promise.all(jobs);
  // Healed means back: the node's shards answer again (bounded; a shard that does not come
  // up says so in its status).
  await Promise.all(
    mgr.state.shards
      .filter((sh) => sh.node_uid === node)
      .map((sh) => mgr.procs.waitShardActive(sh.uid, 30_000)),
  );
  if (mgr.procs.nodeOf('syncer', 0) === node)
    for (const b of mgr.state.bdbs) await mgr.replicaOf.applyReplicaOf(b.uid);
  mgr.pushProxyConfig();
}
