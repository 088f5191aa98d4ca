import type { RespFrame } from '@minirs/resp';
import type { CommandInfo } from '../command-table.js';
import { ForwardEntry } from '../reply-entry.js';
import { KEYLESS } from '../routing.js';
import type { Session } from '../session.js';

/**
 * A blocking command (BLPOP, XREAD BLOCK, WAIT...) runs on a private link so it cannot stall
 * other clients; nothing else of this client is dispatched until it answers, as in Redis.
 * Scripts run the same way (script = true), or on the link of the client's WATCH when it holds
 * one. `prefix` is sent first on the private link, its reply dropped (WAIT's offset marker).
 */
export function runBlocking(
  c: Session,
  frame: RespFrame,
  info: CommandInfo | undefined,
  script = false,
  prefix?: Buffer,
): boolean {
  if (c.replies.length > 0) return false; // its earlier commands first
  const target = c.route(info);
  if (!c.routeOk(target)) return true;
  const index = target === KEYLESS ? 0 : target;
  const pool = c.endpoint.pools[index]!;
  // In a transaction context (WATCH) the command runs on that link, in order.
  const txnLink = script ? c.txn?.linkFor(pool) : null;
  if (script) pool.scriptStarted();
  const e = new ForwardEntry(c);
  e.sentAt = -1;
  if (txnLink) {
    e.after = () => pool.scriptEnded();
    c.replies.push(e);
    txnLink.send(frame.buf, frame.start, frame.end, e);
    return true;
  }
  const link = pool.acquirePrivate(c.proto);
  if (prefix) link.send(prefix, 0, prefix.length, { sentAt: -1, onReply: () => {}, onError: () => {} });
  c.holdBlocking({ link, release: (clean) => pool.release(link, clean), index, script });
  e.after = () => {
    const b = c.endBlocking();
    if (script) pool.scriptEnded();
    b?.release(e.error === null);
  };
  c.replies.push(e);
  link.send(frame.buf, frame.start, frame.end, e);
  return true;
}
