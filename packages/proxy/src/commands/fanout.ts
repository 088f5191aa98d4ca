import type { RespFrame } from '@minirs/resp';
import type { BatchWriter } from '../batch-writer.js';
import { FanoutEntry, firstError, type PartReply, writePart } from '../reply-entry.js';
import { noRuleError } from '../routing.js';
import { NO_RULE_MATCHED } from '../shard-key.js';
import type { Session } from '../session.js';
import type { ShardLink } from '../shard-link.js';

export type Merge = (parts: PartReply[], out: BatchWriter) => void;

/**
 * The shared link of each pool, or null after registering a wake-up when one is congested (the
 * whole command waits: a fan-out goes out to all its shards or to none).
 */
function linksOrWait(c: Session, pools: number[]): ShardLink[] | null {
  const links = pools.map((i) => c.linkFor(i));
  for (const l of links) {
    if (l.congested) {
      l.whenDrained(() => c.pump());
      return null;
    }
  }
  return links;
}

/** Send the client's frame unchanged to every shard and merge the replies into one. */
export function broadcast(c: Session, frame: RespFrame, merge: Merge): boolean {
  const n = c.endpoint.pools.length;
  if (n === 0) {
    c.replyError('ERR this database has no shards yet; retry later');
    return true;
  }
  if (n === 1) return c.forward(frame, 0);
  const links = linksOrWait(
    c,
    c.endpoint.pools.map((_, i) => i),
  );
  if (!links) return false;
  const e = new FanoutEntry(c, links.length, merge);
  c.replies.push(e);
  for (let i = 0; i < links.length; i++) links[i]!.send(frame.buf, frame.start, frame.end, e.sink(i));
  return true;
}

/** Send to the first shard (keyless commands that are not spread). */
export function forwardFirst(c: Session, frame: RespFrame): boolean {
  if (c.endpoint.pools.length > 0) return c.forward(frame, 0);
  c.replyError('ERR this database has no shards yet; retry later');
  return true;
}

// ---- merges

export const mergeSum: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  let sum = 0;
  for (const p of parts) sum += (p as RespFrame).int();
  out.encoder().integer(sum);
  out.schedule();
};

/** Every shard must agree; the client gets the first shard's reply (+OK, a script's SHA). */
export const mergeFirst: Merge = (parts, out) => writePart(out, firstError(parts) ?? parts[0]!);

/** Arrays concatenated (KEYS): the elements of each reply are contiguous bytes. */
export const mergeConcat: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  let total = 0;
  for (const p of parts) total += Math.max(0, (p as RespFrame).length);
  out.encoder().array(total);
  out.schedule();
  for (const p of parts) {
    const f = p as RespFrame;
    if (f.length > 0) out.write(f.buf, f.valueStart, f.valueEnd);
  }
};

/** A random non-null reply (RANDOMKEY), else the first (a null in the client's protocol). */
export const mergeRandom: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  const found = parts.filter((p) => !(p as RespFrame).isNull);
  writePart(out, found.length > 0 ? found[Math.floor(Math.random() * found.length)]! : parts[0]!);
};

/** SCRIPT EXISTS: a script exists when every shard has it. */
export const mergeAllExist: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  const first = (parts[0] as RespFrame).elements;
  const w = out.encoder().array(first.length);
  for (let i = 0; i < first.length; i++) {
    let all = 1;
    for (const p of parts) if ((p as RespFrame).elements[i]?.int() !== 1) all = 0;
    w.integer(all);
  }
  out.schedule();
};

// ---- keyed fan-out: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH

export type SplitKind = 'mget' | 'mset' | 'sum';

/**
 * Split a multi-key command per shard, as RS does: each shard gets the same command with its
 * own keys (in their original order), and the replies merge in key order (MGET), into one +OK
 * (MSET; not atomic across shards) or into a sum (DEL, UNLINK, EXISTS, TOUCH). Keys may be in
 * different slots; when they all live on one shard the client's bytes go there untouched.
 */
export function splitKeys(c: Session, frame: RespFrame, kind: SplitKind): boolean {
  const ep = c.endpoint;
  const v = c.view;
  if (ep.pools.length === 0) {
    c.replyError('ERR this database has no shards yet; retry later');
    return true;
  }
  const step = kind === 'mset' ? 2 : 1;
  // Malformed (missing keys, odd MSET): the shard answers Redis's own error.
  if (!ep.sharded || v.argc < 2 || (v.argc - 1) % step !== 0) return c.forward(frame, 0);
  const nKeys = (v.argc - 1) / step;
  const poolOf = new Int32Array(nKeys);
  let first = -1;
  let spread = false;
  for (let k = 0; k < nKeys; k++) {
    const a = 1 + k * step;
    const slot = ep.rules.slot(v.buf, v.argStart(a), v.argEnd(a));
    if (slot === NO_RULE_MATCHED) {
      c.replyError(noRuleError(v, a));
      return true;
    }
    const owner = ep.slotOwner[slot]!;
    if (owner < 0) {
      c.replyError(`ERR slot ${slot} of this database is not served by any shard; retry later`);
      return true;
    }
    poolOf[k] = owner;
    if (first === -1) first = owner;
    else if (owner !== first) spread = true;
  }
  if (!spread) return c.forward(frame, first);

  // Parts are numbered in order of first appearance; indexInPart[k] = position of key k there.
  const partOfPool = new Map<number, number>();
  const pools: number[] = [];
  const counts: number[] = [];
  const partOf = new Int32Array(nKeys);
  const indexInPart = new Int32Array(nKeys);
  for (let k = 0; k < nKeys; k++) {
    let p = partOfPool.get(poolOf[k]!);
    if (p === undefined) {
      p = pools.length;
      partOfPool.set(poolOf[k]!, p);
      pools.push(poolOf[k]!);
      counts.push(0);
    }
    partOf[k] = p;
    indexInPart[k] = counts[p]!;
    counts[p]!++;
  }
  const links = linksOrWait(c, pools);
  if (!links) return false;

  const merge: Merge =
    kind === 'mget'
      ? (parts, out) => {
          const err = firstError(parts);
          if (err) return writePart(out, err);
          out.encoder().array(nKeys);
          out.schedule();
          for (let k = 0; k < nKeys; k++) {
            const el = (parts[partOf[k]!] as RespFrame).elements[indexInPart[k]!];
            if (el) out.write(el.buf, el.start, el.end);
            else out.encoder().bulk(null);
          }
        }
      : kind === 'mset'
        ? mergeFirst
        : mergeSum;
  const e = new FanoutEntry(c, pools.length, merge);
  c.replies.push(e);
  for (let p = 0; p < pools.length; p++) {
    const w = c.writer();
    w.array(1 + counts[p]! * step).bulkBytes(v.buf, v.argStart(0), v.argEnd(0));
    for (let k = 0; k < nKeys; k++) {
      if (partOf[k] !== p) continue;
      const a = 1 + k * step;
      for (let j = a; j < a + step; j++) w.bulkBytes(v.buf, v.argStart(j), v.argEnd(j));
    }
    const cmd = w.finish();
    links[p]!.send(cmd, 0, cmd.length, e.sink(p));
  }
  return true;
}
