import type { Command } from 'commander';
import { compareDatabases } from '@minirs/local';
import type { CliContext } from '../context.js';
import { parseInteger } from '../parse-args.js';

export function registerCompareCommand(program: Command, ctx: CliContext): void {
  program
    .command('compare')
    .description(
      '(minirs) key-by-key verification: the sources against the destination (exit 1 on any difference)',
    )
    .argument('<uris...>', 'source URIs then the destination URI last (redis://[user:pass@]host:port)')
    .option('--ttl-tolerance-ms <n>', 'largest TTL difference accepted', parseInteger, 2000)
    .option('--examples <n>', 'how many differences to show', parseInteger, 10)
    .option('--json', 'print JSON')
    .action(async (uris: string[], o: { ttlToleranceMs: number; examples: number; json?: boolean }) => {
      if (uris.length < 2) {
        const { UsageError } = await import('../cli-error.js');
        throw new UsageError('compare needs at least one source URI and the destination URI');
      }
      const dest = uris[uris.length - 1]!;
      const r = await compareDatabases(uris.slice(0, -1), dest, {
        ttlToleranceMs: o.ttlToleranceMs,
        maxExamples: o.examples,
      });
      const bad = r.missing + r.extra + r.different;
      if (o.json) ctx.json(r);
      else {
        ctx.print(
          `checked ${r.checked} keys: ${r.missing} missing, ${r.extra} extra, ${r.different} different`,
        );
        for (const e of r.examples) ctx.print(`  ${e.problem.padEnd(9)} ${e.key}: ${e.detail}`);
        ctx.print(bad === 0 ? 'identical' : 'NOT identical');
      }
      if (bad > 0) ctx.exitCode = 1;
    });
}
