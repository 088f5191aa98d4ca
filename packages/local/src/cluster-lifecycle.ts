import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { type ClusterPaths, ErrorCodes, MinirsError, teardownClusterNetns } from '@minirs/common';
import { managerPid, ownerOf, requireCluster } from './cluster-files.js';
import { launchManager, type ManagerReady } from './manager-launcher.js';
import { isClusterProcess, pidFiles, processesOf, signal, waitForExit } from './processes.js';

/** Stop, start and delete a cluster by its folder and the manager's pid files. */

export interface LifecycleOptions {
  home: string;
  env?: NodeJS.ProcessEnv;
  managerMain?: string;
  /** How long a stopping manager may take before the CLI reports it (default 20 s). */
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
}

export type StopResult = { stopped: true; pid: number } | { stopped: false; reason: 'not-running' };

/** SIGTERM to the manager, which stops its children and exits; waits until its pid is gone. */
export async function stopCluster(name: string, o: LifecycleOptions): Promise<StopResult> {
  const paths = requireCluster(name, o.home);
  const pid = managerPid(paths);
  if (pid === undefined || !isClusterProcess(pid, ownerOf(paths))) {
    rmSync(paths.managerPid, { force: true });
    return { stopped: false, reason: 'not-running' };
  }
  signal(pid, 'SIGTERM');
  const timeoutMs = o.stopTimeoutMs ?? 20_000;
  const left = await waitForExit([pid], timeoutMs);
  if (left.length) {
    throw new MinirsError(
      ErrorCodes.TIMEOUT,
      `the manager of cluster "${name}" (pid ${pid}) is still running ${timeoutMs / 1000} s after SIGTERM; see \`minirs logs ${name} manager\`, or \`minirs cluster delete ${name}\` to kill everything`,
    );
  }
  // A clean stop leaves no pid file, so later commands know the cluster was stopped on purpose
  // (and do not restart it) rather than crashed.
  rmSync(paths.managerPid, { force: true });
  return { stopped: true, pid };
}

export type StartResult = ({ started: true } & ManagerReady) | { started: false; pid: number };

export async function startCluster(name: string, o: LifecycleOptions): Promise<StartResult> {
  const paths = requireCluster(name, o.home);
  const pid = managerPid(paths);
  if (pid !== undefined && isClusterProcess(pid, ownerOf(paths))) return { started: false, pid };
  const ready = await launchManager({
    name,
    home: o.home,
    mode: 'start',
    env: o.env,
    managerMain: o.managerMain,
    timeoutMs: o.startTimeoutMs,
  });
  return { started: true, ...ready };
}

/**
 * SIGKILLs every process of the cluster that is still running (named in run/*.pid, or found in
 * the process table: a supervisor may spawn a child while the others die) and waits for them;
 * repeats until none is left.
 */
export async function killLeftovers(paths: ClusterPaths, timeoutMs = 5000): Promise<number[]> {
  const owner = ownerOf(paths);
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const victims = new Set(processesOf(owner));
    for (const [, pid] of pidFiles(paths.run)) if (isClusterProcess(pid, owner)) victims.add(pid);
    victims.delete(process.pid);
    if (victims.size === 0) return [...killed];
    for (const pid of victims) if (signal(pid, 'SIGKILL')) killed.add(pid);
    const left = await waitForExit([...victims], Math.max(0, deadline - Date.now()));
    if (left.length || Date.now() >= deadline) {
      throw new MinirsError(
        ErrorCodes.INTERNAL,
        `processes ${(left.length ? left : [...victims]).join(', ')} of ${paths.dir} are still running after SIGKILL; nothing was deleted — check them with ps`,
      );
    }
  }
}

/** Removes the cluster folder; a process that wrote into it while it went (a log line) is waited out. */
async function removeClusterDir(paths: ClusterPaths): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      rmSync(paths.dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EBUSY') || attempt >= 5) {
        throw new MinirsError(
          ErrorCodes.INTERNAL,
          `could not remove ${paths.dir} (${code ?? String(err)}); remove it by hand once no process of the cluster runs`,
        );
      }
      await killLeftovers(paths);
    }
  }
}

export interface DeleteResult {
  name: string;
  /** Processes that had to be SIGKILLed (their manager was not there to stop them). */
  killed: number[];
}

/**
 * Stops the manager (it stops its children), kills whatever it left or could not stop (a dead
 * manager leaves its children running), then removes the folder: no process or file remains.
 */
export async function deleteCluster(name: string, o: LifecycleOptions): Promise<DeleteResult> {
  const paths = requireCluster(name, o.home);
  try {
    await stopCluster(name, o);
  } catch (err) {
    // A manager that does not stop in time is killed with the rest.
    if (!(err instanceof MinirsError && err.code === ErrorCodes.TIMEOUT)) throw err;
  }
  const killed = await killLeftovers(paths);
  removeKernelFaults(paths);
  await removeClusterDir(paths);
  return { name, killed };
}

/**
 * Network faults live in the kernel as the table `inet minirs-<cluster index>`, and a netns
 * cluster's nodes are network namespaces `minirs-<index>-N` with switch ports and host addresses;
 * a manager that stopped cleanly removed them, a killed one did not. Nothing else of the host is
 * touched (the shared switch goes with the last netns cluster).
 */
export function removeKernelFaults(paths: ClusterPaths): void {
  let index: number | undefined;
  let net: string | undefined;
  try {
    const c = (JSON.parse(readFileSync(paths.state, 'utf8')) as { cluster?: { index?: number; net?: string } }).cluster;
    index = c?.index;
    net = c?.net;
  } catch {
    return;
  }
  if (index === undefined || !Number.isInteger(index)) return;
  if (net === 'netns') teardownClusterNetns(index);
  const table = `minirs-${index}`;
  if (spawnSync('nft', ['list', 'table', 'inet', table], { stdio: 'ignore' }).status === 0) {
    spawnSync('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' });
  }
}
