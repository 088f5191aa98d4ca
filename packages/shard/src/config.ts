import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, invalid, MinirsError, type ShardProcessConfig } from '@minirs/common';
import { parsePersistence } from './persistence.js';
import { parseReplication } from './replication.js';

export const CONFIG_ENV = 'MINIRS_PROC_CONFIG';

const STRING_FIELDS = [
  'addr',
  'password',
  'data_dir',
  'socket',
  'log_file',
  'redis_log_file',
  'redis_pid_file',
  'redis_server',
] as const;

/** Linux caps a Unix socket path at 107 bytes (sun_path is 108 with the NUL). */
const MAX_SOCKET_PATH = 107;

function field(obj: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(obj, name) ? obj[name] : undefined;
}

/**
 * Parses MINIRS_PROC_CONFIG. Every failure names the field and what the manager should pass;
 * no filesystem is touched here (see prepareDirs).
 */
export function parseShardConfig(raw: string | undefined): ShardProcessConfig {
  if (raw === undefined || raw.trim() === '') {
    throw invalid(
      CONFIG_ENV,
      `${CONFIG_ENV} is not set; the cluster-manager passes the shard's config as JSON`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      `${CONFIG_ENV} is not valid JSON (${(err as Error).message}); pass a ShardProcessConfig object`,
      { field: CONFIG_ENV, cause: err },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(
      CONFIG_ENV,
      `${CONFIG_ENV} must be a JSON object, got ${Array.isArray(parsed) ? 'array' : typeof parsed}`,
    );
  }
  const o = parsed as Record<string, unknown>;

  for (const name of STRING_FIELDS) {
    const v = field(o, name);
    if (typeof v !== 'string' || v === '') {
      throw invalid(
        name,
        `${CONFIG_ENV}.${name} is ${v === undefined ? 'missing' : 'not a non-empty string'}`,
      );
    }
    if (v.includes('\n') || v.includes('\r') || v.includes('\0')) {
      // These would break out of the rendered redis.conf line.
      throw invalid(name, `${CONFIG_ENV}.${name} contains a newline or NUL byte`);
    }
  }
  const int = (name: string, min: number, max: number): number => {
    const v = field(o, name);
    if (v === undefined)
      throw invalid(name, `${CONFIG_ENV}.${name} is missing (an integer in ${min}..${max})`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw invalid(
        name,
        `${CONFIG_ENV}.${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const uid = int('uid', 1, 2 ** 31 - 1);
  const bdbUid = int('bdb_uid', 1, 2 ** 31 - 1);
  const port = int('port', 1, 65535);
  // Redis reads maxmemory 0 as "no limit"; a shard always has one (memory_size / shards_count).
  const maxmemory = int('maxmemory', 1, Number.MAX_SAFE_INTEGER);
  const cluster = field(o, 'cluster');
  if (cluster !== undefined && typeof cluster !== 'string') {
    throw invalid('cluster', `${CONFIG_ENV}.cluster must be a string`);
  }
  const socket = o.socket as string;
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw invalid(
      'socket',
      `${CONFIG_ENV}.socket is longer than ${MAX_SOCKET_PATH} bytes; use a shorter MINIRS_HOME`,
    );
  }
  return {
    cluster: (cluster as string | undefined) ?? '',
    uid,
    bdb_uid: bdbUid,
    addr: o.addr as string,
    port,
    password: o.password as string,
    maxmemory,
    data_dir: o.data_dir as string,
    socket,
    log_file: o.log_file as string,
    redis_log_file: o.redis_log_file as string,
    redis_pid_file: o.redis_pid_file as string,
    redis_server: o.redis_server as string,
    persistence: parsePersistence(field(o, 'persistence'), `${CONFIG_ENV}.persistence`),
    ...(field(o, 'replication') === undefined ? {} : { replication: parseReplication(field(o, 'replication')) }),
    redis_config: parseRedisConfig(field(o, 'redis_config')),
  };
}

/** CONFIG SET settings kept by the manager: lowercase names, one-line string values. */
function parseRedisConfig(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const name = `${CONFIG_ENV}.redis_config`;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('redis_config', `${name} must be an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[a-z][a-z-]{0,63}$/.test(k))
      throw invalid('redis_config', `${name} has a bad setting name ${JSON.stringify(k)}`);
    if (typeof val !== 'string' || /[\r\n\0]/.test(val))
      throw invalid('redis_config', `${name}.${k} must be a one-line string`);
    out[k] = val;
  }
  return out;
}

function ensureWritableDir(dir: string, fieldName: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new MinirsError(
      ErrorCodes.INVALID_ARGUMENT,
      `cannot use ${dir} for ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        `point ${CONFIG_ENV}.${fieldName} at a writable directory`,
      { field: fieldName, op: 'prepare dirs', cause: err },
    );
  }
}

/** Creates data_dir and the folders of every file the shard or its redis-server writes. */
export function prepareDirs(cfg: ShardProcessConfig): void {
  ensureWritableDir(cfg.data_dir, 'data_dir', 'the shard data dir');
  ensureWritableDir(dirname(cfg.log_file), 'log_file', 'the shard log');
  ensureWritableDir(dirname(cfg.redis_log_file), 'redis_log_file', "redis-server's log");
  ensureWritableDir(dirname(cfg.redis_pid_file), 'redis_pid_file', "redis-server's pid file");
  ensureWritableDir(dirname(cfg.socket), 'socket', 'the control socket');
}
