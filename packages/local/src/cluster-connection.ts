import { type ClusterPaths, ErrorCodes, MinirsError } from '@minirs/common';
import { ApiClient } from './api-client.js';
import { managerPid, managerStatus, readCa, readCredentials, requireCluster } from './cluster-files.js';
import { type LifecycleOptions, startCluster } from './cluster-lifecycle.js';

export interface ConnectOptions extends LifecycleOptions {
  /**
   * Bring back a manager that died (pid file left, process gone) before or during a request,
   * after saying so through `notify`. A cluster stopped on purpose is never started implicitly.
   */
  autoStart?: boolean;
  notify?: (line: string) => void;
  requestTimeoutMs?: number;
}

export interface ClusterConnection {
  name: string;
  paths: ClusterPaths;
  api: ApiClient;
}

/** An API client for the named cluster, reading its credentials and CA from its folder. */
export async function connectCluster(name: string, o: ConnectOptions): Promise<ClusterConnection> {
  const paths = requireCluster(name, o.home);
  const revive = async (): Promise<boolean> => {
    const status = managerStatus(paths);
    if (status === 'stopped') {
      throw new MinirsError(
        ErrorCodes.MANAGER_DOWN,
        `cluster "${name}" is stopped; start it with \`minirs cluster start ${name}\``,
      );
    }
    if (status === 'running') return false;
    if (!o.autoStart) {
      throw new MinirsError(
        ErrorCodes.MANAGER_DOWN,
        `the manager of cluster "${name}" is not running (pid ${managerPid(paths)} is gone); start it with \`minirs cluster start ${name}\``,
      );
    }
    o.notify?.(`minirs: the manager of cluster ${name} is not running; starting it`);
    await startCluster(name, o);
    return true;
  };
  if (managerStatus(paths) !== 'running') await revive();
  const creds = readCredentials(paths);
  const api = new ApiClient({
    apiUrl: creds.api_url,
    username: creds.username,
    password: creds.password,
    ca: readCa(paths),
    timeoutMs: o.requestTimeoutMs,
    recover: async (err) => {
      if (await revive()) return true;
      // The manager lives but does not answer: say so instead of starting a second one.
      throw new MinirsError(
        ErrorCodes.MANAGER_DOWN,
        `${err.message}, yet its manager (pid ${managerPid(paths)}) is running; see \`minirs logs ${name} manager\``,
        { cause: err },
      );
    },
  });
  return { name, paths, api };
}
