/**
 * The rdb package's own error class (it imports nothing from @minirs/common, so it stays a leaf
 * library). Codes are the same stable strings as common's ErrorCodes.RDB_*.
 */
export const RdbErrorCodes = {
  CORRUPT: 'MINIRS_ERR_RDB_CORRUPT',
  UNSUPPORTED: 'MINIRS_ERR_RDB_UNSUPPORTED',
} as const;

export type RdbErrorCode = (typeof RdbErrorCodes)[keyof typeof RdbErrorCodes];

export interface RdbErrorContext {
  /** Absolute byte offset in the RDB stream where the problem was found. */
  offset?: number;
  /** What the parser expected to read there, in words ("a string length", "the EOF checksum"). */
  expected?: string;
  /** The key being parsed, when there is one (printable form). */
  key?: string;
  /** The module's 9-character type name, for module data. */
  module?: string;
  cause?: unknown;
}

export class RdbError extends Error {
  readonly code: RdbErrorCode;
  readonly op = 'parse RDB';
  readonly offset?: number;
  readonly expected?: string;
  readonly key?: string;
  readonly module?: string;

  constructor(code: RdbErrorCode, message: string, ctx: RdbErrorContext = {}) {
    super(message, ctx.cause === undefined ? undefined : { cause: ctx.cause });
    this.name = 'RdbError';
    this.code = code;
    this.offset = ctx.offset;
    this.expected = ctx.expected;
    this.key = ctx.key;
    this.module = ctx.module;
  }

  toJSON(): { error_code: string; message: string; offset?: number } {
    return { error_code: this.code, message: this.message, offset: this.offset };
  }
}

export function isRdbError(e: unknown, code?: RdbErrorCode): e is RdbError {
  return e instanceof RdbError && (code === undefined || e.code === code);
}

/** Printable form of a key for messages: UTF-8 when it is, hex-escaped otherwise, truncated. */
export function printableKey(key: Uint8Array): string {
  const max = 64;
  const slice = key.length > max ? key.subarray(0, max) : key;
  let s = '';
  for (const b of slice)
    s +=
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return key.length > max ? `${s}...(${key.length} bytes)` : s;
}
