import {
  classifyReply,
  type ErrorCode,
  ErrorCodes,
  MinirsError,
  type MinirsErrorContext,
} from '@minirs/common';

export interface ReplicationErrorContext extends MinirsErrorContext {
  /** Replication offset where the offending command starts (command stream only). */
  offset?: number;
  /**
   * Where the offending byte is: its replication offset in the command stream; before it
   * (handshake, RDB transfer), the count of bytes received on the connection before it.
   */
  byteOffset?: number;
  /** The source's own error reply, verbatim, when there was one. */
  reply?: string;
  /** Whether reconnecting can help; defaults by code (connection and timeout errors). */
  retryable?: boolean;
}

/**
 * Every failure of a replication link, classified with a stable code: MINIRS_ERR_AUTH (stop, a
 * person must fix the credentials), MINIRS_ERR_CONNECTION / MINIRS_ERR_TIMEOUT (retry),
 * MINIRS_ERR_PROTOCOL (stop: the peer is not speaking the replica protocol), MINIRS_ERR_OOM.
 */
export class ReplicationError extends MinirsError {
  readonly retryable: boolean;
  readonly offset?: number;
  readonly byteOffset?: number;
  readonly reply?: string;

  constructor(code: ErrorCode, message: string, ctx: ReplicationErrorContext = {}) {
    super(code, message, ctx);
    this.name = 'ReplicationError';
    this.retryable = ctx.retryable ?? (code === ErrorCodes.CONNECTION || code === ErrorCodes.TIMEOUT);
    this.offset = ctx.offset;
    this.byteOffset = ctx.byteOffset;
    this.reply = ctx.reply;
  }
}

export function protocolError(message: string, ctx: ReplicationErrorContext = {}): ReplicationError {
  return new ReplicationError(ErrorCodes.PROTOCOL, message, ctx);
}

export type ErrorReplyClass = 'auth' | 'transient' | 'oom' | 'other';

/** The class of a source's error reply, from the one error table (@minirs/common replica-state). */
export function errorReplyClass(reply: string): ErrorReplyClass {
  switch (classifyReply(reply, 'source').class) {
    case 'auth':
      return 'auth';
    case 'source-not-ready':
    case 'full-sync-failed':
      return 'transient';
    case 'oom':
      return 'oom';
    default:
      return 'other';
  }
}

/** Turn an error reply of the source into a classified error. */
export function errorFromReply(reply: string, op: string, peer: string): ReplicationError {
  const ctx = { op, peer, reply };
  switch (errorReplyClass(reply)) {
    case 'auth':
      if (reply.startsWith('DENIED'))
        return new ReplicationError(
          ErrorCodes.AUTH,
          `${peer} refused ${op}: DENIED, the source is in protected mode (no password set), which serves loopback clients only, and the syncer does not connect from 127.0.0.1 (a node in its own network namespace). Give the source a password and put it in the URI, or set its protected-mode to no.`,
          ctx,
        );
      return new ReplicationError(
        ErrorCodes.AUTH,
        `${peer} refused ${op}: ${reply.replace(/\.$/, '')}. Check the user and password of the source URI (for a minirs source, the admin password may have been regenerated).`,
        ctx,
      );
    case 'transient':
      return new ReplicationError(
        ErrorCodes.CONNECTION,
        `${peer} cannot serve a replica yet (${op}): ${reply}. The link retries.`,
        { ...ctx, retryable: true },
      );
    case 'oom':
      return new ReplicationError(
        ErrorCodes.OOM,
        `${peer} is out of memory (${op}): ${reply}. Raise the source's maxmemory.`,
        ctx,
      );
    default:
      return protocolError(
        `${peer} answered ${op} with an error: ${reply}. Is the source a Redis >= 2.8 that allows replicas?`,
        ctx,
      );
  }
}

const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
]);

/** Classify an error raised by a socket (or its factory). Already-classified errors pass through. */
export function errorFromSocket(err: unknown, op: string, peer: string): ReplicationError {
  if (err instanceof ReplicationError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  if (errno === 'ETIMEDOUT') {
    return new ReplicationError(ErrorCodes.TIMEOUT, `${op} to ${peer} timed out: ${detail}`, {
      op,
      peer,
      cause: err,
    });
  }
  const known = errno !== undefined && CONNECTION_ERRNOS.has(errno);
  return new ReplicationError(
    ErrorCodes.CONNECTION,
    `${op} ${peer} failed: ${detail}.${known ? ' Check that the source is up and its host and port are right.' : ''}`,
    { op, peer, cause: err },
  );
}
