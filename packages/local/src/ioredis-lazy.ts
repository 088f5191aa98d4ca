import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

// ioredis loads on the first client made, not when @minirs/local is imported: the CLI imports
// this package for every command, and loading ioredis costs ~100 ms of CPU (more on a busy
// machine) on the path of `cluster create` and `db create`, which never open a Redis connection.
let RedisClass: typeof Redis | undefined;

/** `new Redis(opts)`, with ioredis required on the first call. */
export function newRedis(opts: RedisOptions): Redis {
  RedisClass ??= (createRequire(import.meta.url)('ioredis') as { Redis: typeof Redis }).Redis;
  return new RedisClass(opts);
}
