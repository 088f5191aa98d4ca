import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCodes, MinirsError } from './errors.js';

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** The redis-server binary: MINIRS_REDIS_SERVER, else PATH. Throws a message that says how to fix it. */
export function redisServerBinary(): string {
  const env = process.env.MINIRS_REDIS_SERVER;
  if (env) {
    try {
      accessSync(env, constants.X_OK);
      return env;
    } catch {
      throw new MinirsError(
        ErrorCodes.REDIS_SERVER_MISSING,
        `MINIRS_REDIS_SERVER=${env} is not an executable file; point it at a redis-server >= 7 or unset it`,
      );
    }
  }
  const found = findOnPath('redis-server');
  if (!found) {
    throw new MinirsError(
      ErrorCodes.REDIS_SERVER_MISSING,
      'redis-server not found on PATH; install it (apt-get install -y redis-server) or set MINIRS_REDIS_SERVER',
    );
  }
  return found;
}
