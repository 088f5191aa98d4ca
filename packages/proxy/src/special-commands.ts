import type { RespFrame } from '@minirs/resp';
import type { ClientSession } from './client-session.js';
import type { CommandInfo } from './command-table.js';
import {
  broadcast,
  forwardFirst,
  mergeAllExist,
  mergeConcat,
  mergeFirst,
  mergeRandom,
  mergeSum,
  splitKeys,
} from './fanout.js';
import { type PartReply, writePart } from './reply-entry.js';
import { info, scan } from './span.js';
import { waitEveryShard } from './wait-all.js';

/** Commands whose routing is not "all keys in one slot, to that slot's shard". */
export type SpecialHandler = (c: ClientSession, frame: RespFrame, info: CommandInfo | undefined) => boolean;

const SCRIPT_BROADCAST = new Set(['load', 'flush']);
const FUNCTION_BROADCAST = new Set(['load', 'delete', 'flush', 'restore']);

/**
 * SCRIPT KILL / FUNCTION KILL go to every shard (the script may run on any): +OK when one shard
 * killed it, else the most telling error (UNKILLABLE, a proxy error) before NOTBUSY.
 */
function mergeKill(parts: PartReply[], out: Parameters<typeof writePart>[0]): void {
  const ok = parts.find((p) => typeof p !== 'string' && !p.isError);
  const isNotBusy = (p: PartReply) => (typeof p === 'string' ? p : p.str()).startsWith('NOTBUSY');
  writePart(out, ok ?? parts.find((p) => !isNotBusy(p)) ?? parts[0]!);
}

function subcommand(c: ClientSession): string {
  return c.view.argc >= 2 ? c.view.argString(1, 'latin1').toLowerCase() : '';
}

export const SPECIAL_COMMANDS = new Map<string, SpecialHandler>([
  // Split per shard, merged in key order, as RS does.
  ['mget', (c, f) => splitKeys(c, f, 'mget')],
  ['mset', (c, f) => splitKeys(c, f, 'mset')],
  ['del', (c, f) => splitKeys(c, f, 'sum')],
  ['unlink', (c, f) => splitKeys(c, f, 'sum')],
  ['exists', (c, f) => splitKeys(c, f, 'sum')],
  ['touch', (c, f) => splitKeys(c, f, 'sum')],
  // Span every shard.
  ['keys', (c, f) => broadcast(c, f, mergeConcat)],
  ['dbsize', (c, f) => broadcast(c, f, mergeSum)],
  ['flushdb', (c, f) => broadcast(c, f, mergeFirst)],
  ['flushall', (c, f) => broadcast(c, f, mergeFirst)],
  ['randomkey', (c, f) => broadcast(c, f, mergeRandom)],
  ['scan', (c, f) => scan(c, f)],
  ['info', (c, f) => info(c, f)],
  // A subscriber may sit on any shard: PUBLISH reaches them all, the count is the sum.
  ['publish', (c, f) => broadcast(c, f, mergeSum)],
  // Scripts and functions must exist wherever EVALSHA/FCALL may route.
  [
    'script',
    (c, f) => {
      const sub = subcommand(c);
      if (SCRIPT_BROADCAST.has(sub)) return broadcast(c, f, mergeFirst);
      if (sub === 'exists') return broadcast(c, f, mergeAllExist);
      if (sub === 'kill') return broadcast(c, f, mergeKill);
      return forwardFirst(c, f);
    },
  ],
  [
    'function',
    (c, f) => {
      const sub = subcommand(c);
      if (FUNCTION_BROADCAST.has(sub)) return broadcast(c, f, mergeFirst);
      if (sub === 'kill') return broadcast(c, f, mergeKill);
      return forwardFirst(c, f);
    },
  ],
  // Transactions.
  ['multi', (c, f) => c.transaction().multi(f)],
  ['exec', (c, f) => c.transaction().exec(f)],
  ['discard', (c, f) => c.transaction().discard(f)],
  ['watch', (c, f) => c.transaction().watch(f)],
  ['unwatch', (c, f) => c.transaction().unwatch(f)],
  // WAIT has no "blocking" flag but blocks: on private links, on every shard (wait-all.ts).
  ['wait', (c, f, i) => waitEveryShard(c, f, i)],
]);
