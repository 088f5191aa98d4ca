import { Argument, type Command } from 'commander';
import type { FaultKind, FaultRequest } from '../api-client.js';
import { UsageError } from '../cli-error.js';
import { type CliContext, table } from '../context.js';
import { parseInteger, parseMemorySize } from '../parse-args.js';

export const FAULT_KINDS: FaultKind[] = [
  'kill',
  'pause',
  'partition',
  'latency',
  'bandwidth',
  'reset',
  'oom',
];

interface FaultOptions {
  ms?: number;
  jitterMs?: number;
  kbps?: number;
  bytes?: number;
  peer?: string;
  json?: boolean;
}

/** The body of POST /v1/faults; which options a kind needs is the manager's to check. */
export function faultRequest(kind: FaultKind, target: string, o: FaultOptions): FaultRequest {
  const body: FaultRequest = { kind, target };
  if (o.ms !== undefined) body.ms = o.ms;
  if (o.jitterMs !== undefined) body.jitter_ms = o.jitterMs;
  if (o.kbps !== undefined) body.kbps = o.kbps;
  if (o.bytes !== undefined) body.bytes = o.bytes;
  if (o.peer !== undefined) body.peer = o.peer;
  return body;
}

export function registerFaultCommand(program: Command, ctx: CliContext): void {
  program
    .command('fault')
    .description('(minirs) inject a fault, list the active ones, or heal them')
    .argument('<cluster>')
    .addArgument(
      new Argument('<kind>', 'fault kind, or list / heal').choices([...FAULT_KINDS, 'list', 'heal']),
    )
    .argument(
      '[target]',
      'what to hit, e.g. shard:2, redis:2, proxy:1, syncer:3; for heal: a fault id or "all"',
    )
    .option('--ms <n>', 'latency: delay in ms', parseInteger)
    .option('--jitter-ms <n>', 'latency: jitter in ms', parseInteger)
    .option('--kbps <n>', 'bandwidth: limit in kbit/s', parseInteger)
    .option('--bytes <size>', 'oom: the shard maxmemory (b, kb, mb, gb)', parseMemorySize)
    .option('--peer <addr>', 'partition: the peer address (host or host:port) or source to cut off')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  minirs fault east kill shard:2\n  minirs fault east latency syncer:1 --ms 50 --jitter-ms 10\n  minirs fault east list\n  minirs fault east heal all',
    )
    .action(
      async (
        cluster: string,
        kind: FaultKind | 'list' | 'heal',
        target: string | undefined,
        o: FaultOptions,
      ) => {
        if (kind !== 'list' && !target) throw new UsageError(`fault ${kind} needs a target`, 'target');
        if (kind === 'list' && target) throw new UsageError('fault list takes no target', 'target');
        const { api } = await ctx.connect(cluster);
        if (kind === 'list') {
          const faults = await api.listFaults();
          if (o.json) return ctx.json(faults);
          if (faults.length === 0) return ctx.print(`No active faults in cluster ${cluster}.`);
          return ctx.print(
            table(
              ['ID', 'KIND', 'TARGET', 'DETAIL'],
              faults.map((f) => {
                const { id, kind: k, target: t, ...rest } = f;
                return [String(id), k, t, JSON.stringify(rest)];
              }),
            ),
          );
        }
        if (kind === 'heal') {
          const ids = target === 'all' ? (await api.listFaults()).map((f) => f.id) : [target!];
          for (const id of ids) await api.deleteFault(id);
          if (o.json) return ctx.json({ healed: ids });
          return ctx.print(
            ids.length
              ? `Healed fault${ids.length === 1 ? '' : 's'} ${ids.join(', ')}.`
              : 'No active faults.',
          );
        }
        const r = await api.createFault(faultRequest(kind, target!, o));
        if (o.json) return ctx.json(r);
        ctx.print(
          `Fault ${r.id} (${kind} ${target}) injected. Heal it: minirs fault ${cluster} heal ${r.id}`,
        );
      },
    );
}
