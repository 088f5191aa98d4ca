import { invalid } from './errors.js';
import { maskUri } from './mask-uri.js';

/**
 * A Replica Of source URI, in the three forms RS documents:
 *   <db name>:redis://admin:<admin pass>@host:port   a db of the same cluster
 *   redis://admin:<admin pass>@host:port             a minirs/RS db of another cluster
 *   redis://[:<password>@]host:port                  any other Redis (password URL-encoded)
 * `rediss://` asks for TLS.
 */
export interface SourceUri {
  /** Database name from the `<db name>:` prefix, when present. */
  dbName?: string;
  /** True when the user is `admin`: an RS/minirs database reached through its proxy. */
  admin: boolean;
  username?: string;
  password?: string;
  host: string;
  port: number;
  tls: boolean;
}

const HINT =
  'expected redis://[:password@]host:port, redis://admin:<admin pass>@host:port or <db name>:redis://admin:<admin pass>@host:port';

export function parseSourceUri(raw: string, field = 'uri'): SourceUri {
  let rest = raw.trim();
  let dbName: string | undefined;
  const prefix = /^([A-Za-z0-9][A-Za-z0-9-]*):(?=rediss?:\/\/)/.exec(rest);
  if (prefix) {
    dbName = prefix[1];
    rest = rest.slice(prefix[0].length);
  }
  if (!/^rediss?:\/\//i.test(rest))
    throw invalid(field, `source URI "${redactForError(raw)}" is malformed: ${HINT}`);
  let url: URL;
  try {
    url = new URL(rest);
  } catch {
    throw invalid(field, `source URI "${redactForError(raw)}" is malformed: ${HINT}`);
  }
  if (!url.hostname) throw invalid(field, `source URI "${redactForError(raw)}" has no host: ${HINT}`);
  if (!url.port) throw invalid(field, `source URI "${redactForError(raw)}" has no port: ${HINT}`);
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid(field, `source URI "${redactForError(raw)}" has an invalid port: ${HINT}`);
  }
  if (url.pathname && url.pathname !== '/' && url.pathname !== '/0') {
    throw invalid(
      field,
      `source URI "${redactForError(raw)}": only database 0 can be replicated; remove "${url.pathname}"`,
    );
  }
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = url.username ? decodeURIComponent(url.username) : undefined;
    password = url.password ? decodeURIComponent(url.password) : undefined;
  } catch {
    throw invalid(
      field,
      `source URI "${redactForError(raw)}" has a badly URL-encoded password: encode it with %XX escapes`,
    );
  }
  const admin = username === 'admin';
  if (admin && !password)
    throw invalid(field, `source URI "${redactForError(raw)}" names user admin without the admin password`);
  if (dbName && !admin) {
    throw invalid(
      field,
      `source URI "${redactForError(raw)}": the "<db name>:" form needs redis://admin:<admin pass>@host:port`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { dbName, admin, username, password, host, port, tls: url.protocol === 'rediss:' };
}

/** Mask the password for error messages (the raw URI must never be echoed with its secret). */
export const redactForError = maskUri;

export function formatSourceUri(u: SourceUri): string {
  const scheme = u.tls ? 'rediss' : 'redis';
  const cred =
    u.username || u.password
      ? `${encodeURIComponent(u.username ?? '')}${u.password ? `:${encodeURIComponent(u.password)}` : ''}@`
      : '';
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  return `${u.dbName ? `${u.dbName}:` : ''}${scheme}://${cred}${host}:${u.port}`;
}
