import { ErrorCodes, MinirsError } from '@minirs/common';

/**
 * An argument in no accepted form (a `--source` that is not a URI, a size that is not a size).
 * The CLI exits 2 on it, like on commander's own usage errors; everything else exits 1.
 */
export class UsageError extends MinirsError {
  constructor(message: string, field?: string) {
    super(ErrorCodes.INVALID_ARGUMENT, message, { field });
    this.name = 'UsageError';
  }
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/**
 * "100mb", "1.5GB", "512kb", "4096" (bytes) -> bytes; units are 1024-based, case-insensitive.
 * UsageError when the text is not a size.
 */
export function parseMemorySize(text: string, field?: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UsageError(`"${text}" is not a size: write a number with b, kb, mb or gb, e.g. 100mb`, field);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`"${text}" is too large`, field);
  return bytes;
}
