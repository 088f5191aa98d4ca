import { join } from 'node:path';
import { randomPassword } from '@minirs/common';
import { processesOf, RedisServer, type StartedRedisServer } from '@minirs/local';

/**
 * The demo's "external" source: a redis-server on loopback, outside any cluster, that must
 * outlive the demo with --keep (detached), with MINIRS_HOME in its environment so a scan of the
 * home's processes finds it like the clusters' own. `onSpawn` learns its pid at once.
 */
export function startExternalRedis(home: string, onSpawn: (pid: number) => void): Promise<StartedRedisServer> {
  // Characters that must be URL-encoded in a redis:// URI: url() encodes them.
  const password = `p@ss:w/rd#${randomPassword(8)}%`;
  return new RedisServer()
    .withPassword(password)
    .withDir(join(home, 'external-redis'))
    .withEnv({ ...process.env, MINIRS_HOME: home })
    .detached(onSpawn)
    .withArgs(
      // A disk-based sync announces the RDB's size first, which the progress bar needs.
      '--repl-diskless-sync',
      'no',
      // Room for a partial resync after a short link fault.
      '--repl-backlog-size',
      '32mb',
    )
    .start();
}

/**
 * Live processes of the demo's home: node or redis-server tied to it by environment, command
 * line or working directory (redis-server overwrites its environment with its process title, so
 * its working directory is what ties it to the home).
 */
export function processesOfHome(home: string): number[] {
  return processesOf({ dir: home, home });
}
