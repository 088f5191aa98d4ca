import { mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { default as PinoFn, Logger } from 'pino';
import { maskUri } from './mask-uri.js';

// pino (and its dependencies) load on the first createLogger: a process that never logs (a CLI
// command talking to the REST API) does not pay for them on its start.
let pinoMod: typeof PinoFn | undefined;
function pinoLib(): typeof PinoFn {
  pinoMod ??= createRequire(import.meta.url)('pino') as typeof PinoFn;
  return pinoMod;
}

export type { Logger } from 'pino';

const REDACT_PATHS = [
  'password',
  'pass',
  'key',
  'client_key',
  'authentication_redis_pass',
  'authentication_admin_pass',
  'admin_pass',
  '*.password',
  '*.pass',
  '*.client_key',
  '*.authentication_redis_pass',
  '*.authentication_admin_pass',
  '*.admin_pass',
  'req.headers.authorization',
];

/** Any string value that looks like a URI with credentials is masked before it is written. */
function maskDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('@') ? maskUri(value) : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskDeep(v, depth + 1);
  return out;
}

export interface LoggerOptions {
  /** Process name: manager, shard-3, proxy-1, syncer-2. */
  name: string;
  /** Log file; stdout when absent. */
  file?: string;
  level?: string;
}

function openLogFile(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  return openSync(file, 'a');
}

/** pino JSON, one line per event, secrets redacted (fields by name, URIs by shape). */
export function createLogger(opts: LoggerOptions): Logger {
  const pino = pinoLib();
  // The file is opened here, synchronously: pino's exit hook flushes with flushSync, which throws
  // ("sonic boom is not ready yet") when a process exits before an asynchronous open finished, and
  // turned a clean shutdown right after start into exit code 1. Writes stay asynchronous.
  const destination = opts.file ? pino.destination({ dest: openLogFile(opts.file), sync: false }) : pino.destination(1);
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.MINIRS_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '***' },
      formatters: { log: (obj) => maskDeep(obj) as Record<string, unknown> },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
