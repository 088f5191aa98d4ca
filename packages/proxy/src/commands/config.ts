import type { RespFrame } from '@minirs/resp';
import type { Session } from '../session.js';
import { mergeFirst } from './fanout.js';
import { FanoutEntry, firstError } from '../reply-entry.js';

/**
 * CONFIG through a database endpoint, as RS documents it (redis/docs, operate/rs/references/
 * compatibility/config-settings.md): CONFIG GET and CONFIG SET work for the settings of that
 * table only, SET goes to every shard of the database, with RS's value limits; every other
 * setting, and every other CONFIG subcommand, is refused.
 */

/** RS's supported settings; `limit` is RS's documented range (inclusive). */
const SETTINGS = new Map<string, { min: number; max: number } | null>([
  ['activerehashing', null],
  ['busy-reply-threshold', { min: 0, max: 60_000 }],
  ['hash-max-listpack-entries', null],
  ['hash-max-listpack-value', null],
  ['hash-max-ziplist-entries', null],
  ['hash-max-ziplist-value', null],
  ['hll-sparse-max-bytes', null],
  ['list-compress-depth', null],
  ['list-max-listpack-size', null],
  ['list-max-ziplist-size', null],
  ['lua-time-limit', { min: 0, max: 60_000 }],
  ['notify-keyspace-events', null],
  ['set-max-intset-entries', null],
  // "Value must be larger than 1000 microseconds."
  ['slowlog-log-slower-than', { min: 1000, max: Number.MAX_SAFE_INTEGER }],
  ['slowlog-max-len', { min: 128, max: 1024 }],
  ['stream-node-max-bytes', null],
  ['stream-node-max-entries', null],
  ['zset-max-listpack-entries', null],
  ['zset-max-listpack-value', null],
  ['zset-max-ziplist-entries', null],
  ['zset-max-ziplist-value', null],
]);

const NAMES = [...SETTINGS.keys()];

export function unsupportedSetting(name: string): string {
  return `ERR unsupported CONFIG parameter '${name.slice(0, 64)}': this database supports only the settings of Redis Enterprise's compatibility table (${NAMES.join(', ')})`;
}

export function configCommand(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  const sub = v.argc >= 2 ? v.argString(1, 'latin1').toLowerCase() : '';
  if (c.endpoint.pools.length === 0) {
    c.replyError('ERR this database has no shards yet; retry later');
    return true;
  }
  if (sub === 'get') return configGet(c);
  if (sub === 'set') return configSet(c, frame);
  // RS's table: CONFIG REWRITE is supported (settings made with CONFIG SET are kept by the
  // cluster and applied to every shard that starts), CONFIG RESETSTAT is not.
  if (sub === 'rewrite' && v.argc === 2) {
    c.replyBytes(Buffer.from('+OK\r\n'));
    return true;
  }
  if (v.argc < 2) {
    c.replyError("ERR wrong number of arguments for 'config' command");
    return true;
  }
  c.replyError(
    `ERR CONFIG ${sub.toUpperCase().slice(0, 32)} is not supported through a database endpoint (CONFIG GET, CONFIG SET and CONFIG REWRITE are)`,
  );
  return true;
}

/** CONFIG GET pattern [pattern ...]: the supported settings that match, read from the first shard. */
function configGet(c: Session): boolean {
  const v = c.view;
  if (v.argc < 3) {
    c.replyError("ERR wrong number of arguments for 'config|get' command");
    return true;
  }
  const wanted = new Set<string>();
  for (let i = 2; i < v.argc; i++) {
    const pattern = v.argString(i, 'latin1').toLowerCase();
    if (!/[*?[\\]/.test(pattern)) {
      if (!SETTINGS.has(pattern)) {
        c.replyError(unsupportedSetting(pattern));
        return true;
      }
      wanted.add(pattern);
    } else {
      for (const n of NAMES) if (globMatch(pattern, n)) wanted.add(n);
    }
  }
  if (wanted.size === 0) {
    c.replyBytes(Buffer.from(c.proto === 3 ? '%0\r\n' : '*0\r\n'));
    return true;
  }
  const args: string[] = ['CONFIG', 'GET', ...wanted];
  let cmd = `*${args.length}\r\n`;
  for (const a of args) cmd += `$${a.length}\r\n${a}\r\n`;
  const bytes = Buffer.from(cmd, 'latin1');
  return c.forwardBytes(bytes, 0);
}

/** CONFIG SET name value [name value ...]: checked against RS's table and limits, then every shard. */
function configSet(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  if (v.argc < 4 || v.argc % 2 !== 0) {
    c.replyError("ERR wrong number of arguments for 'config|set' command");
    return true;
  }
  for (let i = 2; i < v.argc; i += 2) {
    const name = v.argString(i, 'latin1').toLowerCase();
    if (!SETTINGS.has(name)) {
      c.replyError(unsupportedSetting(name));
      return true;
    }
    const limit = SETTINGS.get(name);
    const text = v.argString(i + 1, 'latin1');
    if (limit && /^-?\d+$/.test(text)) {
      const n = Number(text);
      if (n < limit.min || n > limit.max) {
        const range =
          limit.max === Number.MAX_SAFE_INTEGER
            ? `at least ${limit.min}`
            : `between ${limit.min} and ${limit.max}`;
        c.replyError(
          `ERR CONFIG SET failed: ${name} must be ${range} on this database (Redis Enterprise's limit)`,
        );
        return true;
      }
    }
  }
  const settings: Record<string, string> = {};
  for (let i = 2; i < v.argc; i += 2) settings[v.argString(i, 'latin1').toLowerCase()] = v.argString(i + 1);
  // Every shard gets the same setting (a non-integer value gets the shard's own error). Once
  // every shard took it, the cluster keeps it: a shard that restarts starts with it.
  const ep = c.endpoint;
  const links = ep.pools.map((_, i) => c.linkFor(i));
  const congested = links.find((l) => l.congested);
  if (congested) {
    congested.whenDrained(() => c.pump());
    return false;
  }
  const e = new FanoutEntry(c, links.length, mergeFirst);
  e.after = () => {
    if (!firstError(e.parts as Parameters<typeof firstError>[0])) ep.configSet(settings);
  };
  c.replies.push(e);
  for (let i = 0; i < links.length; i++) links[i]!.send(frame.buf, frame.start, frame.end, e.sink(i));
  return true;
}

/** Redis's glob (stringmatch): *, ?, [set], [^set], [a-z], backslash escapes; case-insensitive here. */
export function globMatch(pattern: string, s: string): boolean {
  const m = (p: number, i: number): boolean => {
    while (p < pattern.length) {
      const ch = pattern[p]!;
      if (ch === '*') {
        while (pattern[p + 1] === '*') p++;
        if (p + 1 === pattern.length) return true;
        for (let j = i; j <= s.length; j++) if (m(p + 1, j)) return true;
        return false;
      }
      if (i >= s.length) return false;
      if (ch === '?') {
        p++;
        i++;
        continue;
      }
      if (ch === '[') {
        let q = p + 1;
        const not = pattern[q] === '^';
        if (not) q++;
        let hit = false;
        while (q < pattern.length && pattern[q] !== ']') {
          if (pattern[q] === '\\' && q + 1 < pattern.length) {
            q++;
            if (pattern[q] === s[i]) hit = true;
          } else if (pattern[q + 1] === '-' && q + 2 < pattern.length && pattern[q + 2] !== ']') {
            const [a, b] = [pattern[q]!, pattern[q + 2]!].sort();
            if (s[i]! >= a! && s[i]! <= b!) hit = true;
            q += 2;
          } else if (pattern[q] === s[i]) hit = true;
          q++;
        }
        if (hit === not) return false;
        p = q + 1;
        i++;
        continue;
      }
      if (ch === '\\' && p + 1 < pattern.length) p++;
      if (pattern[p] !== s[i]) return false;
      p++;
      i++;
    }
    return i === s.length;
  };
  return m(0, 0);
}
