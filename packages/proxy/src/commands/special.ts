import { type RespFrame, RespType } from '@minirs/resp';
import type { CommandInfo } from '../command-table.js';
import type { Session } from '../session.js';
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
import { firstError, type PartReply, writePart } from '../reply-entry.js';
import { NO_RULE_MATCHED } from '../shard-key.js';
import { info, scan } from './span.js';
import { waitEveryShard } from './wait-all.js';

/** Commands whose routing is not "all keys in one slot, to that slot's shard". */
export type SpecialHandler = (c: Session, frame: RespFrame, info: CommandInfo | undefined) => boolean;

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

function publish(c: Session, f: RespFrame): boolean {
  const ep = c.endpoint;
  const v = c.view;
  if (ep.pools.length <= 1 || v.argc !== 3) return forwardFirst(c, f);
  const slot = ep.rules.slot(v.buf, v.argStart(1), v.argEnd(1));
  const owner = slot === NO_RULE_MATCHED ? -1 : ep.slotOwner[slot]!;
  return c.forward(f, Math.max(owner, 0));
}

/** PUBSUB SHARDNUMSUB: [channel, count, ...] from every shard, the counts summed per channel. */
const mergeNumsub = (parts: PartReply[], out: Parameters<typeof writePart>[0]): void => {
  const err = firstError(parts);
  if (err) {
    writePart(out, err);
    return;
  }
  const frames = parts as RespFrame[];
  const first = frames[0]!;
  const els = first.elements;
  const w = out.encoder();
  if (first.type === RespType.Map) w.map(first.length);
  else w.array(first.length);
  for (let i = 0; i + 1 < els.length; i += 2) {
    const ch = els[i]!;
    out.write(ch.buf, ch.start, ch.end);
    let sum = 0;
    for (const p of frames) sum += p.elements[i + 1]?.int() ?? 0;
    out.encoder().integer(sum);
  }
  out.schedule();
};

function subcommand(c: Session): string {
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
  // Every subscriber listens on every shard (see PubSubPipe): PUBLISH goes to one, the shard of
  // the channel's slot (spreading the load), and its count is the database's.
  ['publish', (c, f) => publish(c, f)],
  [
    'pubsub',
    (c, f) => {
      // Shard channels live on the shard of their slot: those views span every shard.
      const sub = subcommand(c);
      if (sub === 'shardchannels') return broadcast(c, f, mergeConcat);
      if (sub === 'shardnumsub') return broadcast(c, f, mergeNumsub);
      return forwardFirst(c, f);
    },
  ],
  // Scripts and functions must exist wherever EVALSHA/FCALL may route.
  [
    'script',
    (c, f) => {
      const sub = subcommand(c);
      if (sub === 'flush') c.endpoint.scriptsFlushed();
      if (sub === 'load' && c.view.argc === 3 && c.endpoint.pools.length > 1) c.endpoint.scriptLoaded(c.view.arg(2));
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
