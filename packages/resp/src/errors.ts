/**
 * Bad RESP input. `resp` depends on nothing (common depends on resp), so it carries its own
 * error class with the same stable code as MinirsError's PROTOCOL: callers can test
 * `err.code === 'MINIRS_ERR_PROTOCOL'` whichever package raised it.
 */
export class RespProtocolError extends Error {
  readonly code = 'MINIRS_ERR_PROTOCOL' as const;

  /**
   * @param reason what is wrong, without the offset ("expected CRLF after bulk string")
   * @param offset byte offset in the whole stream (not in the current chunk) where it went wrong
   */
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`Protocol error at byte ${offset}: ${reason}`);
    this.name = 'RespProtocolError';
  }
}

export function isRespProtocolError(e: unknown): e is RespProtocolError {
  return e instanceof RespProtocolError;
}
