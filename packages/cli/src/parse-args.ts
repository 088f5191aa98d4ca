import { parseMemorySize as parseSize } from '@minirs/local';
import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option values. They check the form only (a number where one is needed) and throw
 * commander's InvalidArgumentError, which the CLI turns into exit code 2. Whether a well-formed
 * value is acceptable (--shards 0, --nodes 99) is the cluster-manager's call: it answers with a
 * 400 that names the field, and the CLI exits 1 with that message.
 */

/** "100mb", "1.5GB", "512kb", "4096" (bytes) -> bytes; units are 1024-based, case-insensitive. */
export function parseMemorySize(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A non-negative decimal integer, digits only ("3", not "3.0", "0x3" or "3 shards"). */
export function parseInteger(text: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new InvalidArgumentError(`"${text}" is not a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${text}" is too large`);
  return n;
}

export function parsePort(text: string): number {
  const n = parseInteger(text);
  if (n < 1 || n > 65535) throw new InvalidArgumentError(`${n} is not a TCP port (1-65535)`);
  return n;
}

/** Replica Of compression level: gzip 0-6, 0 = off. */
export function parseCompression(text: string): number {
  const n = parseInteger(text);
  if (n > 6) throw new InvalidArgumentError(`compression ${n} is out of range: use 0 (off) to 6`);
  return n;
}

/** A positive duration in seconds, fractions allowed (--watch-seconds 2.5). */
export function parseSeconds(text: string): number {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || Number(text) <= 0) {
    throw new InvalidArgumentError(`"${text}" is not a positive number of seconds`);
  }
  return Number(text);
}

/** A database's TLS mode for `db create --tls`. */
export function parseTlsMode(text: string): 'enabled' | 'replica_ssl' {
  if (text !== 'enabled' && text !== 'replica_ssl') {
    throw new InvalidArgumentError(`"${text}" is not a TLS mode: use enabled or replica_ssl`);
  }
  return text;
}

/** Used as a repeatable option's parser: `--shard-key-regex A --shard-key-regex B`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
