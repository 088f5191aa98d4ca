import { encodeCommand, type RespFrame } from '@minirs/resp';
import type { CommandInfo } from '../command-table.js';
import { FanoutEntry, firstError, type PartReply, writePart } from '../reply-entry.js';
import type { BlockingLink, Session } from '../session.js';
import { runBlocking } from './blocking.js';

/**
 * WAIT runs on a private link, whose own write offset would be 0 (WAIT would not wait): a
 * PUBLISH first (propagated to replicas, no key touched) moves that link's offset to the
 * master's current one, which covers the client's writes (answered before WAIT is sent).
 */
export const WAIT_MARKER = Buffer.from('*3\r\n$7\r\nPUBLISH\r\n$13\r\n__minirs:wait\r\n$0\r\n\r\n');

/** The fewest replicas any shard counted: a write is acknowledged when its shard's are. */
function mergeMin(parts: PartReply[], out: Parameters<typeof writePart>[0]): void {
  const err = firstError(parts);
  if (err) {
    writePart(out, err);
    return;
  }
  let min = Number.POSITIVE_INFINITY;
  for (const p of parts) min = Math.min(min, (p as RespFrame).int());
  out.encoder().integer(min);
  out.schedule();
}

/**
 * WAIT numreplicas timeout. One shard: on its private link, behind the marker. A sharded
 * database: the same on every shard at once (the client's writes may be on any of them), each on
 * a private link of its own, and the answer is the smallest count. Nothing else of the client
 * runs meanwhile, as with any blocking command.
 */
export function waitEveryShard(c: Session, frame: RespFrame, info: CommandInfo | undefined): boolean {
  const pools = c.endpoint.pools;
  if (pools.length <= 1) return runBlocking(c, frame, info, false, WAIT_MARKER);
  if (c.replies.length > 0) return false; // its earlier commands first
  const links = pools.map((pool, index) => ({ pool, index, link: pool.acquirePrivate(c.proto) }));
  const e = new FanoutEntry(c, links.length, mergeMin);
  let released = false;
  const release = (clean: boolean) => {
    if (released) return;
    released = true;
    for (const l of links) l.pool.release(l.link, clean);
  };
  c.holdBlocking({
    link: links[0]!.link,
    index: 0,
    script: false,
    more: links.slice(1).map((l) => ({ link: l.link, index: l.index })),
    release,
  });
  e.after = () => {
    c.endBlocking();
    release(!e.parts.some((p) => typeof p === 'string'));
  };
  c.replies.push(e);
  for (const l of links) {
    l.link.send(WAIT_MARKER, 0, WAIT_MARKER.length, { sentAt: -1, onReply: () => {}, onError: () => {} });
    const sink = e.sink(l.index);
    sink.sentAt = -1; // no shard timeout: WAIT blocks up to its own timeout (or forever)
    l.link.send(frame.buf, frame.start, frame.end, sink);
  }
  return true;
}

/** :1 when any shard unblocked the client, else :0 (an error first). */
function mergeAny(parts: PartReply[], out: Parameters<typeof writePart>[0]): void {
  const err = firstError(parts);
  if (err) {
    writePart(out, err);
    return;
  }
  out.encoder().integer(parts.some((p) => (p as RespFrame).int() === 1) ? 1 : 0);
  out.schedule();
}

/**
 * CLIENT UNBLOCK of a client in a WAIT on a sharded database: the same command to every shard,
 * for that shard's private link (the shards that already answered say 0), :1 when one did.
 */
export function unblockEveryShard(c: Session, b: BlockingLink, mode: string): boolean {
  const all = [{ link: b.link, index: b.index }, ...(b.more ?? [])].filter(
    (l) => l.link.state === 'ready' && l.link.redisClientId !== 0,
  );
  if (all.length === 0) {
    c.replyBytes(Buffer.from(':0\r\n'));
    return true;
  }
  const links = all.map((l) => c.linkFor(l.index));
  for (const l of links) {
    if (l.congested) {
      l.whenDrained(() => c.pump());
      return false;
    }
  }
  const e = new FanoutEntry(c, all.length, mergeAny);
  c.replies.push(e);
  all.forEach((l, i) => {
    const cmd = encodeCommand(['CLIENT', 'UNBLOCK', String(l.link.redisClientId), mode]);
    links[i]!.send(cmd, 0, cmd.length, e.sink(i));
  });
  return true;
}
