/**
 * How a shard process ends; the cluster-manager reads these from the exit status. Any non-zero
 * exit means "restart me" to the manager, the code says why.
 */
export const ShardExitCodes = {
  /** Shut down on request (`shutdown` message, SIGTERM, SIGINT); redis-server is gone too. */
  CLEAN: 0,
  /** Unexpected internal error; redis-server, if it was running, is left for the next shard to adopt. */
  INTERNAL: 1,
  /** Bad config or redis-server could not start (field, port in use, binary, data_dir). */
  CONFIG: 2,
  /** redis-server exited while supervised; the manager starts a fresh shard. */
  REDIS_EXITED: 3,
} as const;

export type ShardExitCode = (typeof ShardExitCodes)[keyof typeof ShardExitCodes];
