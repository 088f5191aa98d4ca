import { execFile, execFileSync } from 'node:child_process';
import { ErrorCodes, MinirsError } from '@minirs/common';

export const MIN_REDIS_MAJOR = 7;

export interface RedisServerVersion {
  version: string;
  major: number;
  minor: number;
}

/** `redis-server --version` prints e.g. "Redis server v=7.0.15 sha=... bits=64 build=...". */
export function parseRedisVersion(output: string): RedisServerVersion | undefined {
  const m = /\bv=(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  return { version: m[0].slice(2), major: Number(m[1]), minor: Number(m[2]) };
}

/** Runs the binary once; throws MINIRS_ERR_REDIS_SERVER_MISSING with the fix when it is absent or too old. */
export function checkRedisServer(bin: string): RedisServerVersion {
  let out: string;
  try {
    out = execFileSync(bin, ['--version'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw cannotRun(bin, err);
  }
  return versionOf(bin, out);
}

/**
 * checkRedisServer without blocking: a shard runs it beside the start of its redis-server (the
 * check is a process of its own; waiting for it first put it on every shard start's path).
 */
export function checkRedisServerAsync(bin: string): Promise<RedisServerVersion> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['--version'], { encoding: 'utf8', timeout: 5000 }, (err, out) => {
      if (err) reject(cannotRun(bin, err));
      else {
        try {
          resolve(versionOf(bin, out));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

function cannotRun(bin: string, err: unknown): MinirsError {
  const code = (err as NodeJS.ErrnoException).code;
  return new MinirsError(
    ErrorCodes.REDIS_SERVER_MISSING,
    `redis-server binary ${bin} ${code === 'ENOENT' ? 'does not exist' : `cannot be run (${code ?? (err as Error).message})`}; ` +
      'install redis-server >= 7 (apt-get install -y redis-server) or set MINIRS_REDIS_SERVER',
    { field: 'redis_server', op: 'check redis-server', cause: err },
  );
}

function versionOf(bin: string, out: string): RedisServerVersion {
  const v = parseRedisVersion(out);
  if (!v) {
    throw new MinirsError(
      ErrorCodes.REDIS_SERVER_MISSING,
      `${bin} --version printed no version (${JSON.stringify(out.trim().slice(0, 80))}); point MINIRS_REDIS_SERVER at a redis-server >= 7`,
      { field: 'redis_server', op: 'check redis-server' },
    );
  }
  if (v.major < MIN_REDIS_MAJOR) {
    throw new MinirsError(
      ErrorCodes.REDIS_SERVER_MISSING,
      `${bin} is Redis ${v.version}; minirs needs Redis >= ${MIN_REDIS_MAJOR}, install a newer one or set MINIRS_REDIS_SERVER`,
      { field: 'redis_server', op: 'check redis-server' },
    );
  }
  return v;
}
