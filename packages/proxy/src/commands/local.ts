import type { RespFrame } from '@minirs/resp';
import type { Session } from '../session.js';
import { acl } from './acl.js';
import { minirsLink, minirsShards } from './admin.js';
import { configCommand } from './config.js';
import { auth, client, echo, hello, ping, quit, reset, select, unsubscribeNothing } from './connection.js';
import { monitor } from './monitor.js';
import { NOT_ALLOWED, notAllowed } from './not-allowed.js';

/** Commands the proxy answers itself. Return false to be retried later (see dispatch). */
export type LocalHandler = (c: Session, frame: RespFrame) => boolean;

/** What an unauthenticated client may send. */
export const NO_AUTH_NEEDED = new Set(['auth', 'hello', 'quit']);

export const LOCAL_COMMANDS = new Map<string, LocalHandler>([
  ['auth', auth],
  ['hello', hello],
  ['ping', ping],
  ['echo', echo],
  ['select', select],
  ['quit', quit],
  ['reset', reset],
  ['client', client],
  ['unsubscribe', unsubscribeNothing],
  ['punsubscribe', unsubscribeNothing],
  ['sunsubscribe', unsubscribeNothing],
  ['config', configCommand],
  ['monitor', (c) => monitor(c)],
  ['acl', acl],
  ['minirs.shards', minirsShards],
  ['minirs.link', minirsLink],
  ...NOT_ALLOWED.map((n) => [n, notAllowed] as [string, LocalHandler]),
]);
