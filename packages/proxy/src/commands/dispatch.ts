import type { RespFrame } from '@minirs/resp';
import { CommandFlag } from '../command-table.js';
import { KEYLESS } from '../routing.js';
import type { Session } from '../session.js';
import { runBlocking } from './blocking.js';
import { LOCAL_COMMANDS, NO_AUTH_NEEDED } from './local.js';
import { SUBSCRIBE_COMMANDS, subscribe } from './pubsub.js';
import { SPECIAL_COMMANDS } from './special.js';
import { TXN_CONTROL } from './transaction.js';

/**
 * Commands that run a script or function. They may run for long (a busy loop until SCRIPT KILL),
 * so they run like blocking commands, on a private link with no shard timeout: other clients'
 * commands still reach the shard and get its own answers (BUSY past its busy-reply-threshold,
 * as from redis-server), and SCRIPT KILL / FUNCTION KILL reach it.
 */
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

/**
 * Where a command goes: answered here (AUTH, HELLO, PING...), to the connection's mode (pub/sub,
 * MONITOR) or transaction, split or spread over shards (special commands), run on a private
 * link (blocking commands, scripts), or forwarded byte for byte to the shard its keys hash to.
 * False means "not now": it is retried when whatever blocks it clears.
 */
export function dispatchCommand(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  const name = v.name;
  if (!c.authed && !NO_AUTH_NEEDED.has(name)) {
    c.replyError('NOAUTH Authentication required.');
    return true;
  }
  if (c.monitor) return c.monitor.dispatch(frame);
  if (c.pubsub) return c.pubsub.dispatch(frame);
  const queued = c.txn?.inMulti === true && !TXN_CONTROL.has(name);
  if (!queued) {
    const local = LOCAL_COMMANDS.get(name);
    if (local) return local(c, frame);
  }

  const ready = c.commandsReady();
  if (ready !== true) {
    if (ready === false) return false;
    c.replyError(ready);
    return true;
  }
  if (queued) return c.transaction().queue(frame);
  const info = c.endpoint.commands!.lookup(v);

  const special = SPECIAL_COMMANDS.get(name);
  if (special) return special(c, frame, info);
  if (SUBSCRIBE_COMMANDS.has(name)) return subscribe(c, frame, info);
  if (info && (info.flags & CommandFlag.Blocking) !== 0) return runBlocking(c, frame, info);
  if (SCRIPT_COMMANDS.has(name)) {
    if ((name === 'eval' || name === 'eval_ro') && v.argc >= 3) c.endpoint.loadEverywhere(c, v.arg(1));
    return runBlocking(c, frame, info, true);
  }
  const target = c.route(info);
  if (!c.routeOk(target)) return true;
  return c.forward(frame, target === KEYLESS ? 0 : target);
}
