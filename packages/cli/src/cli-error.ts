import { ErrorCodes, MinirsError } from '@minirs/common';

/** Exit codes of the contract: 0 success, 1 a failed operation, 2 bad usage. */
export const ExitCode = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/**
 * Bad usage found after commander parsed the line (an argument in no accepted form). Exits 2,
 * like commander's own usage errors; everything else that fails exits 1.
 */
export class UsageError extends MinirsError {
  constructor(message: string, field?: string) {
    super(ErrorCodes.INVALID_ARGUMENT, message, { field });
    this.name = 'UsageError';
  }
}
