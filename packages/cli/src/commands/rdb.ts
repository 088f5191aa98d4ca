import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { UsageError } from '../cli-error.js';
import { type CliContext, formatBytes } from '../context.js';
import { parseInteger, parseMemorySize, parseSeconds } from '../parse-args.js';
import { inspectRdb, renderInspection } from '../rdb-inspect.js';
import { type RestoreProgress, renderRestoreSummary, restoreRdb } from '../rdb-restore.js';

interface InspectOptions {
  top: number;
  json?: boolean;
}

interface RestoreOptions {
  skipModules?: boolean;
  mode: 'auto' | 'restore' | 'commands';
  window: number;
  windowBytes: number;
  timeout: number;
  targetVersion?: string;
  progressSeconds: number;
  json?: boolean;
}

/** How a restore shows its progress: a live bar on a terminal, plain lines in a pipe, nothing with --json. */
function progressReporter(
  ctx: CliContext,
  o: RestoreOptions,
): { update(p: RestoreProgress): void; stop(): void } {
  if (o.json) return { update() {}, stop() {} };
  if (ctx.io.stdout.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: ctx.io.stdout as NodeJS.WritableStream,
        format: 'restore [{bar}] {percentage}% | {done} of {size} | {keys} keys | {rate} keys/s',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        const payload = {
          done: formatBytes(p.bytes),
          size: formatBytes(p.total),
          keys: p.keys,
          rate: p.seconds > 0 ? Math.round(p.keys / p.seconds) : 0,
        };
        if (!started) {
          bar.start(Math.max(1, p.total), p.bytes, payload);
          started = true;
        } else bar.update(p.bytes, payload);
      },
      stop() {
        if (started) bar.stop();
        started = false;
      },
    };
  }
  let next = o.progressSeconds;
  return {
    update(p) {
      if (p.seconds < next) return;
      next = p.seconds + o.progressSeconds;
      const pct = p.total > 0 ? Math.floor((p.bytes / p.total) * 100) : 100;
      ctx.print(
        `restore: ${pct}% (${formatBytes(p.bytes)} of ${formatBytes(p.total)}), ${p.keys} keys, ` +
          `${Math.round(p.keys / p.seconds)} keys/s`,
      );
    },
    stop() {},
  };
}

export function registerRdbCommands(program: Command, ctx: CliContext): void {
  const rdb = program.command('rdb').description('(minirs) look into an RDB file, or load it into a Redis');

  rdb
    .command('inspect')
    .description(
      'what an RDB file holds: version, AUX fields, functions, keys per db/type/encoding, biggest keys',
    )
    .argument('<file>', 'the RDB file (read as a stream, any size)')
    .option('--top <n>', 'how many of the biggest keys to list', parseInteger, 10)
    .option('--json', 'print JSON')
    .action(async (file: string, o: InspectOptions) => {
      const r = await inspectRdb(file, { top: o.top });
      if (o.json) ctx.json(r);
      else ctx.print(renderInspection(r));
    });

  rdb
    .command('restore')
    .description(
      'load an RDB file into a Redis endpoint (redis-server or minirs database) with RESTORE or plain commands',
    )
    .argument('<file>', 'the RDB file')
    .argument('<redis-uri>', 'redis://[[user]:password@]host:port (password URL-encoded)')
    .option('--skip-modules', 'skip and count module keys and module AUX data instead of failing')
    .addOption(
      new Option('--mode <mode>', 'RESTORE payloads where possible, or always plain commands')
        .choices(['auto', 'restore', 'commands'])
        .default('auto'),
    )
    .option('--window <n>', 'commands sent but not answered yet, at most', parseInteger, 1000)
    .option(
      '--window-bytes <size>',
      'bytes sent but not answered yet, at most',
      parseMemorySize,
      8 * 1024 * 1024,
    )
    .option('--timeout <s>', 'seconds to wait for each reply', parseSeconds, 60)
    .option('--target-version <version>', "the target's Redis version, when INFO server cannot tell it")
    .option(
      '--progress-seconds <s>',
      'without a terminal: a progress line every this many seconds',
      parseSeconds,
      5,
    )
    .option('--json', 'print the summary as JSON (and no progress)')
    .addHelpText(
      'after',
      '\nKeys go to their own db number; a target without that db (a minirs database has only db 0)\n' +
        'gets none of its keys, and they are counted. Keys already expired are skipped, as\n' +
        'redis-server does when it loads an RDB. Existing keys of the same name are replaced.\n\n' +
        'Examples:\n  minirs rdb restore dump.rdb redis://127.0.0.1:6380\n' +
        '  minirs rdb restore dump.rdb redis://:secret@127.0.0.1:12000 --skip-modules --json',
    )
    .action(async (file: string, uri: string, o: RestoreOptions) => {
      if (o.targetVersion !== undefined && !/^\d+\.\d+/.test(o.targetVersion))
        throw new UsageError(`--target-version "${o.targetVersion}" is not a Redis version such as 7.0.15`);
      const progress = progressReporter(ctx, o);
      try {
        const s = await restoreRdb(file, uri, {
          skipModules: o.skipModules,
          mode: o.mode,
          maxInFlight: Math.max(1, o.window),
          maxInFlightBytes: Math.max(1, o.windowBytes),
          timeoutMs: o.timeout * 1000,
          targetVersion: o.targetVersion,
          onProgress: (p) => progress.update(p),
        });
        progress.stop();
        if (o.json) ctx.json(s);
        else ctx.print(renderRestoreSummary(s));
      } finally {
        progress.stop();
      }
    });
}
