import { createHash } from 'node:crypto';
import type { RespFrame } from '@minirs/resp';
import { NO_SHARDS_YET } from '../routing.js';
import type { Session } from '../session.js';
import { arityError } from './not-allowed.js';

/** ACL subcommands RS's compatibility table refuses (users are managed by the cluster). */
const ACL_REFUSED = new Set(['setuser', 'deluser', 'genpass', 'load', 'save', 'log']);
/** ACL subcommands whose answer does not depend on the user: the shard's own. */
const ACL_FROM_SHARD = new Set(['cat', 'help', 'dryrun']);

/**
 * ACL as RS's table has it (commands/server.md): CAT, HELP and DRYRUN answered by a shard
 * (DRYRUN: the endpoint's only user, default, has every permission, as the shard's has);
 * WHOAMI, USERS, LIST and GETUSER describe the endpoint's users, not the shard's (whose
 * password is the internal one); SETUSER, DELUSER, GENPASS, LOAD, SAVE and LOG are refused.
 */
export function acl(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  if (v.argc < 2) {
    c.replyError(arityError('acl'));
    return true;
  }
  const sub = v.argString(1, 'latin1').toLowerCase();
  if (ACL_FROM_SHARD.has(sub)) {
    if (c.endpoint.pools.length === 0) c.replyError(NO_SHARDS_YET);
    else return c.forward(frame, 0);
    return true;
  }
  if (ACL_REFUSED.has(sub)) {
    c.replyError(
      `ERR ACL ${sub.toUpperCase()} is not supported through a database endpoint: users and their ACLs are managed by the cluster`,
    );
    return true;
  }
  const want = sub === 'getuser' ? 3 : 2;
  if (!['whoami', 'users', 'list', 'getuser'].includes(sub)) {
    c.replyError(`ERR unknown subcommand '${v.argString(1).slice(0, 128)}'. Try ACL HELP.`);
    return true;
  }
  if (v.argc !== want) {
    c.replyError(arityError(`acl|${sub}`));
    return true;
  }
  const pass = c.endpoint.config.redis_pass;
  const hash = pass ? createHash('sha256').update(pass).digest('hex') : null;
  const w = c.writer();
  switch (sub) {
    case 'whoami':
      w.bulk(c.admin ? 'admin' : 'default');
      break;
    case 'users':
      w.array(1).bulk('default');
      break;
    case 'list':
      w.array(1).bulk(`user default on ${hash ? `#${hash}` : 'nopass'} ~* &* +@all`);
      break;
    default: {
      if (v.argString(2) !== 'default') {
        c.replyBytes(Buffer.from(c.proto === 3 ? '_\r\n' : '$-1\r\n'));
        return true;
      }
      if (c.proto === 3) w.map(6);
      else w.array(12);
      // RESP3: flags are a set, as redis-server sends them.
      w.bulk('flags');
      if (c.proto === 3) w.set(hash ? 1 : 2);
      else w.array(hash ? 1 : 2);
      w.bulk('on');
      if (!hash) w.bulk('nopass');
      w.bulk('passwords');
      if (hash) w.array(1).bulk(hash);
      else w.array(0);
      w.bulk('commands').bulk('+@all');
      w.bulk('keys').bulk('~*');
      w.bulk('channels').bulk('&*');
      w.bulk('selectors').array(0);
    }
  }
  c.replyBytes(w.finish());
  return true;
}
