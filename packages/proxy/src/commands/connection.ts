import { timingSafeEqual } from 'node:crypto';
import { encodeCommand, type RespFrame } from '@minirs/resp';
import type { ReplyMode, Session } from '../session.js';
import { arityError } from './not-allowed.js';
import { unblockEveryShard } from './wait-all.js';

/** The commands of a connection itself: AUTH, HELLO, PING, ECHO, SELECT, QUIT, RESET, CLIENT. */

function samePassword(given: Buffer, expected: string): boolean {
  const e = Buffer.from(expected);
  return given.length === e.length && timingSafeEqual(given, e);
}

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

/**
 * Check credentials; on success marks the client authenticated (as admin for the admin user).
 * Returns an error message, or null.
 */
function checkCredentials(c: Session, user: Buffer | null, pass: Buffer): string | null {
  const db = c.endpoint.config;
  const name = user?.toString('latin1');
  if (name === 'admin') {
    if (!db.admin_pass || !samePassword(pass, db.admin_pass)) return WRONGPASS;
    if (db.tls_mode === 'replica_ssl' && !c.tls.encrypted) {
      return 'ERR this database accepts replication links over TLS only';
    }
    c.authenticate(true);
    return null;
  }
  if (name !== undefined && name !== 'default') return WRONGPASS;
  if (!db.redis_pass) {
    if (name === undefined) {
      return 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?';
    }
    c.authenticate(false);
    return null;
  }
  if (!samePassword(pass, db.redis_pass)) return WRONGPASS;
  c.authenticate(false);
  return null;
}

export function auth(c: Session): boolean {
  const v = c.view;
  if (v.argc !== 2 && v.argc !== 3) {
    c.replyError(arityError('auth'));
    return true;
  }
  const err = v.argc === 2 ? checkCredentials(c, null, v.arg(1)) : checkCredentials(c, v.arg(1), v.arg(2));
  if (err) c.replyError(err);
  else c.replyBytes(Buffer.from('+OK\r\n'));
  return true;
}

function validClientName(name: Buffer): boolean {
  for (const b of name) if (b < 0x21 || b > 0x7e) return false;
  return true;
}

const BAD_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.';

/** HELLO [protover [AUTH user pass] [SETNAME name]] */
export function hello(c: Session): boolean {
  const v = c.view;
  let proto = c.proto;
  let i = 1;
  if (v.argc >= 2) {
    const p = v.argInt(1);
    if (p !== 2 && p !== 3) {
      c.replyError('NOPROTO unsupported protocol version');
      return true;
    }
    proto = p;
    i = 2;
  }
  let user: Buffer | null = null;
  let pass: Buffer | null = null;
  let setName: Buffer | null = null;
  for (; i < v.argc; i++) {
    if (v.argIs(i, 'auth') && i + 2 < v.argc) {
      user = v.arg(i + 1);
      pass = v.arg(i + 2);
      i += 2;
    } else if (v.argIs(i, 'setname') && i + 1 < v.argc) {
      setName = v.arg(i + 1);
      i += 1;
    } else {
      c.replyError(`ERR Syntax error in HELLO option '${v.argString(i).slice(0, 32)}'`);
      return true;
    }
  }
  if (pass) {
    const err = checkCredentials(c, user, pass);
    if (err) {
      c.replyError(err);
      return true;
    }
  }
  if (!c.authed) {
    c.replyError(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
    return true;
  }
  if (setName) {
    if (!validClientName(setName)) {
      c.replyError(BAD_NAME);
      return true;
    }
    c.setName(setName.toString());
  }
  c.setProtocol(proto);
  const w = c.writer();
  if (proto === 3) w.map(7);
  else w.array(14);
  w.bulk('server').bulk('redis');
  w.bulk('version').bulk(redisVersion(c));
  w.bulk('proto').integer(proto);
  w.bulk('id').integer(c.id);
  w.bulk('mode').bulk('standalone');
  w.bulk('role').bulk('master');
  w.bulk('modules').array(0);
  c.replyBytes(w.finish());
  return true;
}

function redisVersion(c: Session): string {
  for (const p of c.endpoint.pools) if (p.primary.redisVersion) return p.primary.redisVersion;
  return c.endpoint.commands?.version || '7.0.0';
}

/**
 * PING goes to the shard (the first one) like any keyless command, so it tells what redis-server
 * would: BUSY while a script runs past its threshold, LOADING... Answered here only when the
 * database has no shard to ask.
 */
export function ping(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  if (c.endpoint.pools.length > 0 && v.argc <= 2) {
    const ready = c.commandsReady();
    if (ready === false) return false;
    if (ready === true) return c.forward(frame, 0);
    c.replyError(ready);
    return true;
  }
  if (v.argc === 1) c.replyBytes(Buffer.from('+PONG\r\n'));
  else if (v.argc === 2) c.replyBytes(c.writer().bulkBytes(v.buf, v.argStart(1), v.argEnd(1)).finish());
  else c.replyError(arityError('ping'));
  return true;
}

export function echo(c: Session): boolean {
  const v = c.view;
  if (v.argc !== 2) c.replyError(arityError('echo'));
  else c.replyBytes(c.writer().bulkBytes(v.buf, v.argStart(1), v.argEnd(1)).finish());
  return true;
}

export function select(c: Session): boolean {
  const v = c.view;
  if (v.argc !== 2) c.replyError(arityError('select'));
  else if (Number.isNaN(v.argInt(1))) c.replyError('ERR value is not an integer or out of range');
  else if (v.argInt(1) !== 0) c.replyError('ERR DB index is out of range');
  else c.replyBytes(Buffer.from('+OK\r\n'));
  return true;
}

export function quit(c: Session): boolean {
  c.replyBytes(Buffer.from('+OK\r\n'));
  c.endWhenFlushed();
  return true;
}

export function reset(c: Session): boolean {
  return c.reset();
}

/** The line CLIENT INFO / CLIENT LIST print for a client (Redis's field names, a subset). */
export function clientInfoLine(c: Session, now: number): string {
  const flags =
    `${c.txn?.inMulti ? 'x' : ''}${c.pubsub ? 'P' : ''}${c.monitor ? 'O' : ''}${c.blockingLink ? 'b' : ''}` || 'N';
  return [
    `id=${c.id}`,
    `addr=${c.remoteAddress}`,
    `laddr=${c.localAddress}`,
    `name=${c.name}`,
    `age=${Math.floor((now - c.createdAt) / 1000)}`,
    `idle=${Math.max(0, Math.floor((now - c.lastCommandAt) / 1000))}`,
    `flags=${flags}`,
    'db=0',
    `multi=${c.txn?.inMulti ? c.txn.queuedCount : -1}`,
    `oll=${c.replies.length}`,
    `omem=${c.out.pendingBytes}`,
    `cmd=${c.lastCommand || 'NULL'}`,
    `user=${c.admin ? 'admin' : 'default'}`,
    `resp=${c.proto}`,
  ].join(' ');
}

function infoText(c: Session, text: string): Buffer {
  const w = c.writer();
  return (c.proto === 3 ? w.verbatim('txt', text) : w.bulk(text)).finish();
}

/**
 * CLIENT UNBLOCK <id> [TIMEOUT|ERROR] (RS supports it): the id is the proxy's client id; a
 * client blocked on a shard (BLPOP, XREAD BLOCK, WAIT... on its private link) is unblocked by
 * the same command sent to that shard for that link's own client id. :0 when it is not blocked.
 */
function clientUnblock(c: Session): boolean {
  const v = c.view;
  if (v.argc !== 3 && v.argc !== 4) {
    c.replyError(arityError('client|unblock'));
    return true;
  }
  const id = v.argInt(2);
  if (Number.isNaN(id)) {
    c.replyError('ERR value is not an integer or out of range');
    return true;
  }
  const mode = v.argc === 4 ? v.argString(3, 'latin1').toUpperCase() : 'TIMEOUT';
  if (mode !== 'TIMEOUT' && mode !== 'ERROR') {
    c.replyError('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
    return true;
  }
  let target: Session | undefined;
  for (const x of c.endpoint.clients) if (x.id === id) target = x;
  const b = target?.blockingLink;
  // A WAIT on a sharded database blocks on every shard: unblock it on each.
  if (b?.more) return unblockEveryShard(c, b, mode);
  if (!b || b.script || b.link.state !== 'ready' || b.link.redisClientId === 0) {
    c.replyBytes(Buffer.from(':0\r\n'));
    return true;
  }
  return c.forwardBytes(encodeCommand(['CLIENT', 'UNBLOCK', String(b.link.redisClientId), mode]), b.index);
}

export function client(c: Session): boolean {
  const v = c.view;
  if (v.argc < 2) {
    c.replyError(arityError('client'));
    return true;
  }
  const sub = v.argString(1, 'latin1').toLowerCase();
  const now = Date.now();
  switch (sub) {
    case 'id':
      c.replyBytes(c.writer().integer(c.id).finish());
      return true;
    case 'setname':
      if (v.argc !== 3) c.replyError(arityError('client|setname'));
      else if (!validClientName(v.arg(2))) c.replyError(BAD_NAME);
      else {
        c.setName(v.argString(2));
        c.replyBytes(Buffer.from('+OK\r\n'));
      }
      return true;
    case 'getname':
      c.replyBytes(
        c.name ? c.writer().bulk(c.name).finish() : Buffer.from(c.proto === 3 ? '_\r\n' : '$-1\r\n'),
      );
      return true;
    case 'info':
      c.replyBytes(infoText(c, `${clientInfoLine(c, now)}\n`));
      return true;
    case 'list': {
      const lines = [...c.endpoint.clients].map((x) => `${clientInfoLine(x, now)}\n`).join('');
      c.replyBytes(infoText(c, lines));
      return true;
    }
    case 'reply': {
      // Redis: ON answers +OK; OFF and SKIP answer nothing (SKIP drops the next reply too).
      if (v.argc !== 3) {
        c.replyError(arityError('client|reply'));
        return true;
      }
      const mode = v.argString(2, 'latin1').toLowerCase();
      if (mode === 'on' || mode === 'off' || mode === 'skip') {
        c.setReplyMode(mode as ReplyMode);
        if (mode === 'on') c.replyBytes(Buffer.from('+OK\r\n'));
      } else {
        c.replyError('ERR syntax error');
      }
      return true;
    }
    case 'setinfo':
      c.replyBytes(Buffer.from('+OK\r\n'));
      return true;
    case 'unblock':
      return clientUnblock(c);
    default:
      c.replyError(
        `ERR CLIENT ${sub.toUpperCase()} is not supported through a database endpoint (the proxy shares shard connections between clients)`,
      );
      return true;
  }
}

/** UNSUBSCRIBE and friends outside pub/sub mode: what Redis answers a connection with no subscriptions. */
export function unsubscribeNothing(c: Session): boolean {
  const v = c.view;
  const kind = v.name;
  const w = c.writer();
  const count = Math.max(1, v.argc - 1);
  for (let i = 0; i < count; i++) {
    if (c.proto === 3) w.push(3);
    else w.array(3);
    w.bulk(kind);
    if (v.argc > 1) w.bulkBytes(v.buf, v.argStart(i + 1), v.argEnd(i + 1));
    else if (c.proto === 3) w.null();
    else w.bulk(null);
    w.integer(0);
  }
  c.replyBytes(w.finish());
  return true;
}
