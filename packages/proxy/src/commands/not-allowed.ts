import type { Session } from '../session.js';

export function arityError(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}

/** Commands that would break a shared shard connection or reach past the database. */
export const NOT_ALLOWED = [
  'sync',
  'psync',
  'replconf',
  'replicaof',
  'slaveof',
  'shutdown',
  'debug',
  'module',
  'failover',
  'save',
  'bgsave',
  'bgrewriteaof',
  'swapdb',
  'move',
  'migrate',
];

const NOT_ALLOWED_SET = new Set(NOT_ALLOWED);

/** The refusal of a command no client may send through an endpoint, or null. */
export function notAllowedMessage(name: string): string | null {
  return NOT_ALLOWED_SET.has(name)
    ? `ERR command '${name.toUpperCase()}' is not allowed through a database endpoint`
    : null;
}

export function notAllowed(c: Session): boolean {
  c.replyError(notAllowedMessage(c.view.name)!);
  return true;
}
