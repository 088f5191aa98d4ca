import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { runDemo } from '../demo/index.js';

interface DemoCommandOptions {
  keep?: boolean;
  quick?: boolean;
}

export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'Replica Of end to end (about 80 s): two clusters and an external Redis, a full sync, live writes, a fault, a compare',
    )
    .option('--keep', 'leave the clusters and the external Redis running, and print how to look around')
    .option('--quick', 'fewer keys and a 3 s writer (tests, CI)')
    .addHelpText(
      'after',
      '\nEverything lives in a fresh temp dir (printed first), never in MINIRS_HOME. Ctrl-C stops the\n' +
        'demo and cleans up. Exit code 0 when the final compare finds the destination identical to\n' +
        'its sources, 1 otherwise, 130 when interrupted.',
    )
    .action(async (o: DemoCommandOptions) => {
      const abort = new AbortController();
      // First signal: stop and clean up. Later ones: cleaning up is bounded; say so and go on.
      const onSignal = () => {
        if (abort.signal.aborted) {
          ctx.note('minirs demo: still cleaning up, one moment');
          return;
        }
        ctx.note('\nminirs demo: interrupted; cleaning up');
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        ctx.exitCode = await runDemo(ctx.io, {
          keep: o.keep === true,
          quick: o.quick === true,
          signal: abort.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
