#!/usr/bin/env node
import { createLogger, ErrorCodes, type Logger, MinirsError } from '@minirs/common';
import { CONFIG_ENV, parseShardConfig, prepareDirs } from './config.js';
import { type ShardExitCode, ShardExitCodes } from './exit-codes.js';
import { loggerReady } from './log-ready.js';
import { Shard } from './shard.js';

/**
 * The shard process: `node packages/shard/dist/main.js` with MINIRS_PROC_CONFIG set to a
 * ShardProcessConfig. Exit codes: see exit-codes.ts.
 */

let log: Logger | undefined;
let who = 'shard';

/** One line a person can act on, on stderr (the manager's log of our output) and in the pino log. */
function reportFatal(err: unknown, msg: string): void {
  const e = err instanceof MinirsError ? err : undefined;
  const text = err instanceof Error ? err.message : String(err);
  const field = e?.field ? ` (field ${e.field})` : '';
  process.stderr.write(`minirs ${who}: ${msg}: ${e ? `${e.code}: ` : ''}${text}${field}\n`);
  log?.error({ err_code: e?.code, field: e?.field, op: e?.op, peer: e?.peer, err: text }, msg);
}

function flushLog(): Promise<void> {
  if (!log) return Promise.resolve();
  const l = log;
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    try {
      l.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      // The destination never opened; there is nothing to flush.
      clearTimeout(timer);
      resolve();
    }
  });
}

async function run(): Promise<ShardExitCode> {
  let cfg: ReturnType<typeof parseShardConfig>;
  try {
    cfg = parseShardConfig(process.env[CONFIG_ENV]);
    who = `shard-${cfg.uid}`;
    prepareDirs(cfg);
  } catch (err) {
    reportFatal(err, 'bad shard config');
    return ShardExitCodes.CONFIG;
  }
  log = createLogger({ name: `shard-${cfg.uid}`, file: cfg.log_file });
  try {
    await loggerReady(log);
  } catch (err) {
    log = undefined;
    reportFatal(
      new MinirsError(
        ErrorCodes.INVALID_ARGUMENT,
        `cannot write log file ${cfg.log_file}: ${(err as Error).message}`,
        {
          field: 'log_file',
        },
      ),
      'bad shard config',
    );
    return ShardExitCodes.CONFIG;
  }
  // (minirs) When this process started: the create benchmark's breakdown reads it.
  log.info({ process_start: Math.round(performance.timeOrigin) }, 'shard process up');
  const shard = new Shard(cfg, log);

  // A stop request during startup waits for the start to settle, so no redis-server is orphaned.
  let stopRequested: string | undefined;
  let started = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (started) void shard.shutdown(sig);
    else stopRequested ??= sig;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The manager may close our stdout file or vanish; a failed write must not kill the shard.
  process.on('SIGPIPE', () => {});

  try {
    await shard.start();
  } catch (err) {
    reportFatal(err, 'shard could not start');
    await shard.abortStart().catch(() => {});
    return ShardExitCodes.CONFIG;
  }
  started = true;
  if (stopRequested) void shard.shutdown(stopRequested);
  return shard.done;
}

process.on('uncaughtException', (err) => {
  reportFatal(err, 'uncaught exception');
  log?.error({ stack: err.stack }, 'uncaught exception stack');
  void flushLog().then(() => process.exit(ShardExitCodes.INTERNAL));
});
process.on('unhandledRejection', (err) => {
  reportFatal(err, 'unhandled rejection');
  void flushLog().then(() => process.exit(ShardExitCodes.INTERNAL));
});

run().then(
  async (code) => {
    log?.info({ exit_code: code }, 'shard process exiting');
    await flushLog();
    process.exit(code);
  },
  async (err) => {
    reportFatal(err, 'shard failed');
    await flushLog();
    process.exit(ShardExitCodes.INTERNAL);
  },
);
