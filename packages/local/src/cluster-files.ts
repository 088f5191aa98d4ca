import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  CLUSTER_NAME_RE,
  type ClusterPaths,
  type ClusterState,
  type Credentials,
  clusterPaths,
  ErrorCodes,
  MinirsError,
} from '@minirs/common';
import { dirname } from 'node:path';
import { isClusterProcess, type Owner, readPidFile } from './processes.js';

/**
 * What the CLI reads of a cluster's folder without asking its manager: credentials, CA, state,
 * and whether the manager runs.
 */

/**
 * `running`: the manager's pid is alive. `stopped`: no pid file (a clean stop removes it).
 * `down`: the pid file names a dead process — the manager crashed or was killed; its children
 * may still serve, and any command brings it back.
 */
export type ManagerStatus = 'running' | 'stopped' | 'down';

export function clusterExists(name: string, home: string): boolean {
  return existsSync(clusterPaths(name, home).state);
}

/** The cluster's paths, or a one-line "unknown cluster" error that lists the known ones. */
export function requireCluster(name: string, home: string): ClusterPaths {
  // Names become paths: anything outside the allowed form names no cluster (and no other folder).
  const paths = clusterPaths(CLUSTER_NAME_RE.test(name) ? name : '.invalid', home);
  if (!existsSync(paths.state)) {
    const known = listClusterNames(home);
    throw new MinirsError(
      ErrorCodes.NOT_FOUND,
      `unknown cluster "${name}" in ${home}${known.length ? ` (clusters: ${known.join(', ')})` : ''}; create it with \`minirs cluster create ${name}\``,
      { field: 'cluster' },
    );
  }
  return paths;
}

export function readCredentials(paths: ClusterPaths): Credentials {
  try {
    return JSON.parse(readFileSync(paths.credentials, 'utf8')) as Credentials;
  } catch (err) {
    throw new MinirsError(
      ErrorCodes.NOT_FOUND,
      `cannot read ${paths.credentials} (${(err as Error).message}); the cluster folder is incomplete — delete and recreate the cluster`,
      { cause: err },
    );
  }
}

export function readCa(paths: ClusterPaths): string {
  try {
    return readFileSync(paths.caCert, 'utf8');
  } catch (err) {
    throw new MinirsError(
      ErrorCodes.NOT_FOUND,
      `cannot read the cluster CA ${paths.caCert} (${(err as Error).message}); the cluster folder is incomplete`,
      { cause: err },
    );
  }
}

export function readState(paths: ClusterPaths): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function ownerOf(paths: ClusterPaths): Owner {
  return { dir: paths.dir, home: dirname(paths.dir) };
}

export function managerPid(paths: ClusterPaths): number | undefined {
  return readPidFile(paths.managerPid);
}

export function managerStatus(paths: ClusterPaths): ManagerStatus {
  const pid = managerPid(paths);
  if (pid === undefined) return 'stopped';
  return isClusterProcess(pid, ownerOf(paths)) ? 'running' : 'down';
}

export function listClusterNames(home: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(home);
  } catch {
    return [];
  }
  return entries.filter((e) => !e.startsWith('.') && existsSync(clusterPaths(e, home).state)).sort();
}

export interface ClusterSummary {
  name: string;
  status: ManagerStatus;
  api_url: string | null;
  nodes: number;
  bdbs: number;
  dir: string;
}

export function listClusters(home: string): ClusterSummary[] {
  return listClusterNames(home).map((name) => {
    const paths = clusterPaths(name, home);
    const state = readState(paths);
    let apiUrl: string | null = null;
    try {
      apiUrl = readCredentials(paths).api_url;
    } catch {
      // An incomplete folder still lists, without a URL.
    }
    return {
      name,
      status: managerStatus(paths),
      api_url: apiUrl,
      nodes: state?.cluster.nodes.length ?? 0,
      bdbs: state?.bdbs.length ?? 0,
      dir: paths.dir,
    };
  });
}
