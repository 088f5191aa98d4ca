/**
 * One error class with a stable string code, like undici's UND_ERR_*. Codes double as the REST
 * API's `error_code` where one applies. Messages are for people: say what is wrong and what to do.
 */
export const ErrorCodes = {
  INVALID_ARGUMENT: 'MINIRS_ERR_INVALID_ARGUMENT',
  NOT_FOUND: 'MINIRS_ERR_NOT_FOUND',
  CONFLICT: 'MINIRS_ERR_CONFLICT',
  UNAUTHORIZED: 'MINIRS_ERR_UNAUTHORIZED',
  PORT_IN_USE: 'MINIRS_ERR_PORT_IN_USE',
  REDIS_SERVER_MISSING: 'MINIRS_ERR_REDIS_SERVER_MISSING',
  MANAGER_DOWN: 'MINIRS_ERR_MANAGER_DOWN',
  PROTOCOL: 'MINIRS_ERR_PROTOCOL',
  CONNECTION: 'MINIRS_ERR_CONNECTION',
  TIMEOUT: 'MINIRS_ERR_TIMEOUT',
  AUTH: 'MINIRS_ERR_AUTH',
  OOM: 'MINIRS_ERR_OOM',
  CROSSSLOT: 'MINIRS_ERR_CROSSSLOT',
  RDB_CORRUPT: 'MINIRS_ERR_RDB_CORRUPT',
  RDB_UNSUPPORTED: 'MINIRS_ERR_RDB_UNSUPPORTED',
  /** A source holds data the destination's Redis version cannot (e.g. hash field TTLs into 7.0). */
  INCOMPATIBLE_SOURCE: 'MINIRS_ERR_INCOMPATIBLE_SOURCE',
  /** A source failed to produce its full sync repeatedly (fork failure, replica output buffer limit). */
  FULL_SYNC_FAILING: 'MINIRS_ERR_FULL_SYNC_FAILING',
  /** The destination could not take a write (loading, a shard down, a write of unknown fate). */
  DESTINATION_UNAVAILABLE: 'MINIRS_ERR_DESTINATION_UNAVAILABLE',
  /** The destination refused a replicated write (WRONGTYPE, unknown command...). */
  DEST_REJECTED_WRITE: 'MINIRS_ERR_DEST_REJECTED_WRITE',
  /** A syncer process stopped reporting to its manager. */
  SYNCER_UNRESPONSIVE: 'MINIRS_ERR_SYNCER_UNRESPONSIVE',
  /** A field or value RS has that minirs does not implement: refused, never ignored. */
  UNSUPPORTED: 'MINIRS_ERR_UNSUPPORTED',
  INTERNAL: 'MINIRS_ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface MinirsErrorContext {
  /** What was being done: "create bdb", "PSYNC", "listen". */
  op?: string;
  /** Who was on the other side: "127.0.1.1:12000", "shard 3". */
  peer?: string;
  /** The offending field of a request, for validation errors. */
  field?: string;
  cause?: unknown;
}

export class MinirsError extends Error {
  readonly code: ErrorCode;
  readonly op?: string;
  readonly peer?: string;
  readonly field?: string;

  constructor(code: ErrorCode, message: string, ctx: MinirsErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = 'MinirsError';
    this.code = code;
    this.op = ctx.op;
    this.peer = ctx.peer;
    this.field = ctx.field;
  }

  toJSON(): { error_code: string; message: string; field?: string } {
    return this.field
      ? { error_code: this.code, message: this.message, field: this.field }
      : { error_code: this.code, message: this.message };
  }
}

export function isMinirsError(e: unknown, code?: ErrorCode): e is MinirsError {
  return e instanceof MinirsError && (code === undefined || e.code === code);
}

export function invalid(field: string, message: string): MinirsError {
  return new MinirsError(ErrorCodes.INVALID_ARGUMENT, message, { field });
}
