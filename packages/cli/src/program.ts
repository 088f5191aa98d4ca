import { readFileSync } from 'node:fs';
import { MinirsError } from '@minirs/common';
import { Command, CommanderError } from 'commander';
import { ExitCode, UsageError } from './cli-error.js';
import { registerCheckCommand } from './commands/check.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerCompareCommand } from './commands/compare.js';
import { registerDbCommands } from './commands/db.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerFaultCommand } from './commands/fault.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerRdbCommands } from './commands/rdb.js';
import { registerReplicaCommands } from './commands/replica.js';
import { registerScenarioCommand } from './commands/scenario.js';
import { registerStatusCommand } from './commands/status.js';
import { CliContext, type CliIo, processIo } from './context.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('minirs')
    .description(
      'a local, multi-process Redis Enterprise Software cluster simulator, built around Replica Of',
    )
    .version(version())
    // Set before the subcommands exist: commands created by .command() inherit both.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: (s, write) => write(`minirs: ${s}`),
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nEvery command prints human text, or JSON with --json; exit code 0 on success, 1 when the\n' +
        'operation failed (the reason on stderr), 2 on bad usage. MINIRS_HOME (default ~/.minirs)\n' +
        'holds the clusters; MINIRS_REDIS_SERVER points at another redis-server binary.',
    );
  registerClusterCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerReplicaCommands(program, ctx);
  registerStatusCommand(program, ctx);
  registerFaultCommand(program, ctx);
  registerLogsCommand(program, ctx);
  registerCompareCommand(program, ctx);
  registerCheckCommand(program, ctx);
  registerDemoCommand(program, ctx);
  registerRdbCommands(program, ctx);
  registerScenarioCommand(program, ctx);
  return program;
}

/** Commander's ways of ending that are not bad usage. */
const NOT_USAGE = new Set([
  'commander.helpDisplayed',
  'commander.version',
  'commander.executeSubCommandAsync',
]);

/**
 * Runs one command line (without the node and script arguments) and returns its exit code:
 * 0 done, 1 the operation failed (one line on stderr), 2 bad usage.
 */
export async function runCli(args: string[], io: CliIo = processIo()): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(args, { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      const fine = NOT_USAGE.has(err.code) || (err.code === 'commander.help' && err.exitCode === 0);
      return fine ? ExitCode.OK : ExitCode.USAGE;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`minirs: ${err.message}\n`);
      return ExitCode.USAGE;
    }
    if (err instanceof MinirsError) {
      io.stderr.write(`minirs: ${err.message}\n`);
      return ExitCode.FAILED;
    }
    io.stderr.write(
      `minirs: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ExitCode.FAILED;
  } finally {
    ctx.close();
  }
}
