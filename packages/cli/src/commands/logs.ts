import { ErrorCodes, MinirsError } from '@minirs/common';
import type { Command } from 'commander';
import { requireCluster } from '@minirs/local';
import type { CliContext } from '../context.js';
import { type LogLine, LogTail, logFormatter, logSources, mergeByTime } from '../log-reader.js';
import { parseInteger } from '../parse-args.js';

interface LogsOptions {
  follow?: boolean;
  lines?: number;
  json?: boolean;
}

/** NDJSON: pino lines as written, text lines as records of the same shape. */
function jsonLine(l: LogLine): string {
  if (l.kind === 'pino' && l.text.startsWith('{')) return `${l.text}\n`;
  return `${JSON.stringify({ name: l.proc, time: new Date(l.time).toISOString(), msg: l.text })}\n`;
}

export function registerLogsCommand(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("pretty-print a cluster's logs: every process interleaved by time, or one")
    .argument('<cluster>')
    .argument('[process]', 'manager, shard-<uid>, redis-<uid>, proxy-<node>, syncer-<bdb>')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'only the last n lines', parseInteger)
    .option('--json', 'raw JSON lines (redis-server text lines wrapped as {name, time, msg})')
    .action(async (cluster: string, proc: string | undefined, o: LogsOptions) => {
      const paths = requireCluster(cluster, ctx.home);
      if (proc !== undefined) {
        const known = logSources(paths.logs).map((s) => s.proc);
        if (!known.includes(proc)) {
          throw new MinirsError(
            ErrorCodes.NOT_FOUND,
            `no log of process "${proc}" in cluster ${cluster}${known.length ? `; there are: ${known.join(', ')}` : ''}`,
          );
        }
      }
      const format = o.json
        ? jsonLine
        : logFormatter({ colorize: !!ctx.io.stdout.isTTY, prefixText: proc === undefined });
      const tail = new LogTail(paths.logs, proc);
      let lines = mergeByTime(tail.read());
      if (o.lines !== undefined) lines = lines.slice(Math.max(0, lines.length - o.lines));
      for (const l of lines) ctx.io.stdout.write(format(l));
      if (!o.follow) return;
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.on('SIGINT', onSigint);
      try {
        await tail.follow((ls) => {
          for (const l of ls) ctx.io.stdout.write(format(l));
        }, stop.signal);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
