/** Exit codes of the contract: 0 success, 1 a failed operation, 2 bad usage. */
export const ExitCode = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** Bad usage found after commander parsed the line (exit 2); @minirs/local's, so its parsers (source specs, sizes) throw it too. */
export { UsageError } from '@minirs/local';
