// The shard is a process (dist/main.js); processes never import each other. These exports are
// for this package's tests and for reading the code, not a library API.
export { CONFIG_ENV, parseShardConfig, prepareDirs } from './config.js';
export { type ShardExitCode, ShardExitCodes } from './exit-codes.js';
export { parseInfo, keyspaceKeys, statsFromInfo } from './stats.js';
export { quoteConfValue, renderRedisConf } from './redis-conf.js';
export { NO_PERSISTENCE, parsePersistence, persistenceDirectives } from './persistence.js';
export { parseRedisVersion, checkRedisServer, MIN_REDIS_MAJOR } from './redis-version.js';
export { readProc, isSameProcessAlive, readPidFile } from './proc.js';
export { SHARD_OPS, type ShardHelloDetail, type ShardOp } from './shard.js';
export { probeRedis, type ProbeResult } from './redis-probe.js';
