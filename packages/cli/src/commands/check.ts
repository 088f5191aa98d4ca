import { FAULT_KINDS, type FaultKind, formatRound, runChecks, summarize } from '@minirs/checker';
import type { Command } from 'commander';
import { UsageError } from '../cli-error.js';
import type { CliContext } from '../context.js';
import { MiniCluster } from '@minirs/local';
import { parseInteger } from '../parse-args.js';

interface CheckCommandOptions {
  seeds: number;
  seed: number;
  seconds: number;
  flush?: boolean;
  faults?: string;
  preloadKeys: number;
  crossSlot: boolean;
  json?: boolean;
}

function parseFaultKinds(text: string | undefined): readonly FaultKind[] {
  if (text === undefined) return FAULT_KINDS;
  const kinds = text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const bad = kinds.filter((k) => !FAULT_KINDS.includes(k as FaultKind));
  if (bad.length || kinds.length === 0) {
    throw new UsageError(
      `--faults takes a comma-separated list of ${FAULT_KINDS.join(', ')}; "${bad.join(',') || text}" is not one`,
    );
  }
  return kinds as FaultKind[];
}

export function registerCheckCommand(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description(
      '(minirs) randomized Replica Of checker: seeded rounds of workload + faults, then a key-by-key oracle (exit 1 on any divergence)',
    )
    .option('--seeds <n>', 'how many rounds (seeds seed, seed+1, ...)', parseInteger, 1)
    .option('--seed <n>', 'first seed (replay a failing round with its seed)', parseInteger, 1)
    .option('--seconds <n>', 'workload and faults per round', parseInteger, 30)
    .option('--flush', 'rounds with FLUSHALL/FLUSHDB on a sharded source (one source per round)')
    .option('--faults <kinds>', `fault kinds to use, comma-separated (default all: ${FAULT_KINDS.join(',')})`)
    .option('--no-cross-slot', 'no DEL/MSET over several hash tags in the workload')
    .option('--preload-keys <n>', 'keys per source before the sync starts', parseInteger, 1500)
    .option('--json', 'print the round reports as JSON')
    .action(async (o: CheckCommandOptions) => {
      if (o.seeds < 1 || o.seconds < 1) throw new UsageError('--seeds and --seconds must be at least 1');
      const faultKinds = parseFaultKinds(o.faults);
      const env = { ...ctx.io.env };
      const summary = await runChecks(
        {
          seeds: Array.from({ length: o.seeds }, (_, i) => o.seed + i),
          seconds: o.seconds,
          faultKinds,
          flush: !!o.flush,
          preloadKeys: o.preloadKeys,
          crossSlot: o.crossSlot,
          startCluster: (name, home, nodes) =>
            new MiniCluster(name)
              .withNodes(nodes)
              .withHome(home)
              .withEnv(env)
              .withStartTimeout(60_000)
              .start(),
          log: o.json ? undefined : (line) => ctx.note(line),
        },
        (r) => {
          if (!o.json) ctx.print(formatRound(r));
        },
      );
      if (o.json) ctx.json(summary);
      else ctx.print(summarize(summary));
      if (summary.failed > 0) ctx.exitCode = 1;
    });
}
