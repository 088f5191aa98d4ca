import { homedir } from 'node:os';
import { join } from 'node:path';

/** Root of every cluster's state, logs and certificates. */
export function minirsHome(): string {
  return process.env.MINIRS_HOME || join(homedir(), '.minirs');
}

export function clusterDir(cluster: string, home = minirsHome()): string {
  return join(home, cluster);
}

/** Where each file of a cluster lives; every process derives paths from here. */
export function clusterPaths(cluster: string, home = minirsHome()) {
  const dir = clusterDir(cluster, home);
  return {
    dir,
    state: join(dir, 'state.json'),
    credentials: join(dir, 'credentials.json'),
    caCert: join(dir, 'ca.pem'),
    run: join(dir, 'run'),
    logs: join(dir, 'logs'),
    data: join(dir, 'data'),
    certs: join(dir, 'certs'),
    managerPid: join(dir, 'run', 'manager.pid'),
    managerLog: join(dir, 'logs', 'manager.log'),
    socket: (proc: string) => join(dir, 'run', `${proc}.sock`),
    pidFile: (proc: string) => join(dir, 'run', `${proc}.pid`),
    log: (proc: string) => join(dir, 'logs', `${proc}.log`),
    shardData: (uid: number) => join(dir, 'data', `shard-${uid}`),
  };
}

export type ClusterPaths = ReturnType<typeof clusterPaths>;

/** Cluster names become directory names and DNS-ish labels. */
export const CLUSTER_NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;
/** RS allows letters, digits and hyphens in database names. */
export const BDB_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/**
 * Where minirs keeps what is shared by every cluster on the machine (cluster index claims, the
 * network-namespace lock): /tmp, whatever TMPDIR says. Cluster indexes and namespaces are
 * machine-wide, so a process with another TMPDIR (a test, the demo) must still see the others'
 * claims, or two clusters take the same index and the second create clears the first's
 * namespaces. MINIRS_MACHINE_DIR overrides it.
 */
export function machineDir(): string {
  return process.env.MINIRS_MACHINE_DIR || '/tmp';
}
