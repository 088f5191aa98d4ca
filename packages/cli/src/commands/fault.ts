import { Argument, type Command, Option } from 'commander';
import type { Fault, FaultKind, FaultRequest } from '@minirs/local';
import { UsageError } from '../cli-error.js';
import { type CliContext, table } from '../context.js';
import { parseInteger, parseMemorySize } from '../parse-args.js';

export const FAULT_KINDS: FaultKind[] = [
  'kill',
  'pause',
  'restart',
  'partition',
  'loss',
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
  percent?: number;
  mode?: 'drop' | 'reject';
  direction?: 'both' | 'in' | 'out';
  client?: string;
  peer?: string;
  duration?: number;
  mechanism?: 'kernel' | 'socket';
  all?: boolean;
  json?: boolean;
}

/** The body of POST /v1/faults; which options a kind needs is the manager's to check. */
export function faultRequest(kind: FaultKind, target: string, o: FaultOptions): FaultRequest {
  const body: FaultRequest = { kind, target };
  if (o.ms !== undefined) body.ms = o.ms;
  if (o.jitterMs !== undefined) body.jitter_ms = o.jitterMs;
  if (o.kbps !== undefined) body.kbps = o.kbps;
  if (o.bytes !== undefined) body.bytes = o.bytes;
  if (o.percent !== undefined) body.percent = o.percent;
  if (o.mode !== undefined) body.mode = o.mode;
  if (o.direction !== undefined) body.direction = o.direction;
  if (o.client !== undefined) body.client = o.client;
  if (o.peer !== undefined) body.peer = o.peer;
  if (o.duration !== undefined) body.duration_ms = o.duration;
  if (o.mechanism !== undefined) body.mechanism = o.mechanism;
  return body;
}

function detail(f: Fault): string {
  const parts: string[] = [];
  if (f.ms !== undefined) parts.push(`${f.ms} ms`);
  if (f.jitter_ms) parts.push(`±${f.jitter_ms} ms`);
  if (f.kbps !== undefined) parts.push(`${f.kbps} kbit/s`);
  if (f.percent !== undefined) parts.push(`${f.percent}%`);
  if (f.bytes !== undefined) parts.push(`${f.bytes} bytes`);
  if (f.mode) parts.push(f.mode);
  if (f.direction && f.direction !== 'both') parts.push(f.direction);
  if (f.client) parts.push(`client ${f.client}`);
  return parts.join(' ');
}

export function faultTable(faults: Fault[]): string {
  return table(
    ['ID', 'KIND', 'TARGET', 'STATE', 'SINCE', 'UNTIL', 'DETAIL', 'MECHANISM'],
    faults.map((f) => [
      String(f.id),
      f.kind,
      f.target,
      f.active ? 'active' : 'healed',
      f.since ?? String(f.created_time ?? ''),
      f.active ? (f.until ?? 'healed by hand') : (f.healed_time ?? ''),
      detail(f),
      String(f.mechanism ?? ''),
    ]),
  );
}

export function registerFaultCommand(program: Command, ctx: CliContext): void {
  program
    .command('fault')
    .description('(minirs) inject a fault, list the faults, or heal them')
    .argument('<cluster>')
    .addArgument(
      new Argument('<kind>', 'fault kind, or list / heal').choices([...FAULT_KINDS, 'list', 'heal']),
    )
    .argument(
      '[target]',
      'what to hit: node:N, nodes:N-M, shard:U, redis:U, proxy:N, syncer:B, bdb:B, endpoint:B[@N], destination:B, source:B/S, peer:<addr[:port]|cluster>; for heal: a fault id or "all"',
    )
    .option('--ms <n>', 'latency: delay in ms (each direction)', parseInteger)
    .option('--jitter-ms <n>', 'latency: jitter in ms', parseInteger)
    .option('--kbps <n>', 'bandwidth: limit in kbit/s', parseInteger)
    .option('--percent <n>', 'loss: share of packets dropped (1-100)', parseInteger)
    .option('--bytes <size>', 'oom: the shard maxmemory (b, kb, mb, gb)', parseMemorySize)
    .addOption(new Option('--mode <mode>', 'partition: drop (silent) or reject (refused)').choices(['drop', 'reject']))
    .addOption(
      new Option('--direction <dir>', 'network faults: both, in (to the target) or out (from it)').choices([
        'both',
        'in',
        'out',
      ]),
    )
    .option('--client <addr>', 'endpoint:/shard: targets: only traffic of this client address')
    .option('--peer <addr>', 'with target "cluster": the peer address (host or host:port) or cluster')
    .option('--duration <ms>', 'heal by itself after this many ms', parseInteger)
    .addOption(
      new Option('--mechanism <m>', 'kernel, or socket (the syncer wrapper, source:/syncer: only)').choices([
        'kernel',
        'socket',
      ]),
    )
    .option('--all', 'list: healed faults too')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  minirs fault east kill node:2\n  minirs fault east partition peer:west --mode drop\n  minirs fault east latency endpoint:1@2 --ms 100\n  minirs fault west partition source:1/1 --mode drop --duration 5000\n  minirs fault east list\n  minirs fault east heal all',
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
          const all = await api.listFaults();
          const faults = o.all ? all : all.filter((f) => f.active !== false);
          if (o.json) return ctx.json(faults);
          if (faults.length === 0) return ctx.print(`No active faults in cluster ${cluster}.`);
          return ctx.print(faultTable(faults));
        }
        if (kind === 'heal') {
          const ids =
            target === 'all'
              ? (await api.listFaults()).filter((f) => f.active !== false).map((f) => f.id)
              : [target!];
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
        const how = r.mechanism ? ` via ${String(r.mechanism).split(' (')[0]}` : '';
        ctx.print(
          r.active === false
            ? `Fault ${r.id} (${kind} ${target})${how} done.`
            : `Fault ${r.id} (${kind} ${target})${how} injected${r.until ? ` until ${r.until}` : ''}. Heal it: minirs fault ${cluster} heal ${r.id}`,
        );
      },
    );
}
