import { readFileSync } from 'node:fs';
import { MinirsError } from '@minirs/common';
import { Command, CommanderError } from 'commander';
import { ExitCode, UsageError } from './cli-error.js';
import { CliContext, type CliIo, processIo } from './context.js';

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Top-level commands and the module that registers them, in help order. A command line loads
 * only its own module: `cluster create` or `db create` then skips the checker, ioredis, yaml,
 * pino-pretty and the RDB parser (a third of the CLI's start-up; it is on the critical path of
 * every scripted cluster). Help, a typo or no command at all load every module.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['cluster'], async () => (await import('./commands/cluster.js')).registerClusterCommands],
  [['db'], async () => (await import('./commands/db.js')).registerDbCommands],
  [['replica-of', 'sync'], async () => (await import('./commands/replica.js')).registerReplicaCommands],
  [['status'], async () => (await import('./commands/status.js')).registerStatusCommand],
  [['fault'], async () => (await import('./commands/fault.js')).registerFaultCommand],
  [['logs'], async () => (await import('./commands/logs.js')).registerLogsCommand],
  [['compare'], async () => (await import('./commands/compare.js')).registerCompareCommand],
  [['check'], async () => (await import('./commands/check.js')).registerCheckCommand],
  [['demo'], async () => (await import('./commands/demo.js')).registerDemoCommand],
  [['rdb'], async () => (await import('./commands/rdb.js')).registerRdbCommands],
  [['scenario'], async () => (await import('./commands/scenario.js')).registerScenarioCommand],
];

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

/** The program with the commands `args` needs (all of them when `args` is omitted). */
export async function buildProgram(ctx: CliContext, args?: string[]): Promise<Command> {
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
  const first = args?.[0];
  const own = first === undefined ? undefined : COMMANDS.find(([names]) => names.includes(first));
  for (const [, load] of own ? [own] : COMMANDS) (await load())(program, ctx);
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
  try {
    const program = await buildProgram(ctx, args);
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
