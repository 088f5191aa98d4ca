import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type ErrorCode, ErrorCodes, MinirsError } from '@minirs/common';
import {
  functionLibraryName,
  isRdbError,
  printableKey,
  type RdbEvent,
  RdbParser,
  type RdbParserOptions,
  type RdbValueType,
  rdbTypeName,
} from '@minirs/rdb';
import { formatBytes, table } from './context.js';

/**
 * (minirs) `minirs rdb inspect`: what an RDB file holds, read as a stream through RdbParser so
 * a file of any size is inspected in bounded memory. Also home of the file pump that
 * `rdb restore` shares.
 */

/** Bytes read from the file per parser write(). */
const READ_CHUNK = 256 * 1024;

/** Size of a regular file, or a MinirsError saying why it cannot be read. */
export async function rdbFileSize(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) {
      throw new MinirsError(
        ErrorCodes.INVALID_ARGUMENT,
        `${path} is not a file: give the path of an RDB file`,
        {
          field: 'file',
        },
      );
    }
    return st.size;
  } catch (err) {
    if (err instanceof MinirsError) throw err;
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOENT' ? ErrorCodes.NOT_FOUND : ErrorCodes.INVALID_ARGUMENT;
    throw new MinirsError(code, `cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, {
      field: 'file',
      cause: err,
    });
  }
}

/** An RdbError (the rdb package's own class) as the CLI's MinirsError, with the same code. */
export function rdbFileError(path: string, err: unknown): unknown {
  if (isRdbError(err)) {
    return new MinirsError(err.code as ErrorCode, `${path}: ${err.message}`, { op: 'parse RDB', cause: err });
  }
  return err;
}

/**
 * Streams the file into `parser`, calling afterWrite after each file chunk was written to it
 * (and after the end of input); it reads the parser's events. The file is not read further until
 * afterWrite settles (backpressure). Bytes after the RDB's EOF are ignored, as redis-server does.
 */
export async function pumpRdbFileChunks(
  path: string,
  parser: RdbParser,
  afterWrite: () => void | Promise<void>,
): Promise<void> {
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK });
  try {
    for await (const chunk of stream) {
      parser.write(chunk as Buffer);
      await afterWrite();
      if (parser.done) break;
    }
    if (!parser.done) {
      // Input is over: read() now throws the truncation error (offset and what was expected).
      parser.end();
      await afterWrite();
    }
  } catch (err) {
    throw rdbFileError(path, err);
  } finally {
    stream.destroy();
  }
}

/**
 * Streams the file through `parser`, calling onEvent for every event in order. onEvent may return
 * a promise (backpressure: the file is not read further until it settles); onChunk runs after
 * the events of each file chunk.
 */
export async function pumpRdbFile(
  path: string,
  parser: RdbParser,
  onEvent: (ev: RdbEvent) => void | Promise<void>,
  onChunk?: () => void | Promise<void>,
): Promise<void> {
  await pumpRdbFileChunks(path, parser, async () => {
    for (let ev = parser.read(); ev !== null; ev = parser.read()) {
      const r = onEvent(ev);
      if (r) await r;
    }
    if (onChunk) await onChunk();
  });
}

export interface RdbDbSummary {
  db: number;
  keys: number;
  with_ttl: number;
  /** Keys whose expire time had passed when inspected (redis-server drops them on load). */
  expired: number;
  types: Partial<Record<RdbValueType, number>>;
  /** Keys per RDB encoding ("list-quicklist-v2", "hash-listpack", ...). */
  encodings: Record<string, number>;
  /** The RESIZEDB hint of the file for this db, when it has one. */
  resize_db?: { db_size: number; expires_size: number };
}

export interface RdbBigKey {
  db: number;
  /** Printable key (non-printable bytes as \xNN, long keys truncated). */
  key: string;
  type: RdbValueType;
  encoding: string;
  /** Bytes of the key in the file: type byte, key name and value (expire opcodes excluded). */
  bytes: number;
  /** Elements announced by the file, or nodes for quicklists and streams; null for strings and blobs. */
  length: number | null;
  length_unit: 'elements' | 'nodes' | null;
}

export interface RdbInspection {
  file: string;
  size: number;
  rdb_version: number;
  /** 'verified': CRC64 checked and equal; 'disabled': written as zero; 'absent': RDB < 5. */
  checksum: 'verified' | 'disabled' | 'absent';
  /** AUX fields as written (printable), except ctime as an ISO time. */
  aux: Record<string, string>;
  functions: { count: number; libraries: string[] };
  module_aux: { module: string; count: number }[];
  keys: number;
  with_ttl: number;
  expired: number;
  dbs: RdbDbSummary[];
  biggest: RdbBigKey[];
  module_keys: {
    count: number;
    modules: Record<string, number>;
    /** The first few, to name them. */
    examples: { db: number; key: string; module: string }[];
  };
  /** The clock "expired" was judged against (ISO). */
  now: string;
}

export interface InspectOptions {
  /** How many of the biggest keys to list (default 10). */
  top?: number;
  /** Clock for "expired" (default Date.now). */
  now?: () => number;
  parser?: RdbParserOptions;
}

/** Printable text of an AUX value: bytes outside ASCII as \xNN. */
function printable(b: Buffer): string {
  let s = '';
  for (const c of b)
    s +=
      c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return s;
}

const MODULE_EXAMPLES = 10;

export async function inspectRdb(path: string, o: InspectOptions = {}): Promise<RdbInspection> {
  const size = await rdbFileSize(path);
  const top = o.top ?? 10;
  const now = (o.now ?? Date.now)();
  const parser = new RdbParser({ ...o.parser, modules: 'skip' });
  const r: RdbInspection = {
    file: path,
    size,
    rdb_version: 0,
    checksum: 'absent',
    aux: {},
    functions: { count: 0, libraries: [] },
    module_aux: [],
    keys: 0,
    with_ttl: 0,
    expired: 0,
    dbs: [],
    biggest: [],
    module_keys: { count: 0, modules: {}, examples: [] },
    now: new Date(now).toISOString(),
  };
  const dbs = new Map<number, RdbDbSummary>();
  const dbOf = (db: number): RdbDbSummary => {
    let s = dbs.get(db);
    if (!s) {
      s = { db, keys: 0, with_ttl: 0, expired: 0, types: {}, encodings: {} };
      dbs.set(db, s);
    }
    return s;
  };
  // The `top` biggest so far, biggest first; a key smaller than the last one costs one compare.
  const biggest = r.biggest;
  const moduleAux = new Map<string, number>();

  await pumpRdbFile(path, parser, (ev) => {
    switch (ev.kind) {
      case 'header':
        r.rdb_version = ev.version;
        return;
      case 'aux': {
        const v = printable(ev.value);
        const secs = Number(v);
        r.aux[ev.key] = ev.key === 'ctime' && Number.isFinite(secs) ? new Date(secs * 1000).toISOString() : v;
        return;
      }
      case 'resizeDb':
        dbOf(ev.db).resize_db = { db_size: ev.dbSize, expires_size: ev.expiresSize };
        return;
      case 'function':
        r.functions.count++;
        r.functions.libraries.push(functionLibraryName(ev.code));
        return;
      case 'moduleAux':
        moduleAux.set(ev.module.name, (moduleAux.get(ev.module.name) ?? 0) + 1);
        return;
      case 'keyStart': {
        const k = ev.key;
        const s = dbOf(k.db);
        r.keys++;
        s.keys++;
        s.types[k.type] = (s.types[k.type] ?? 0) + 1;
        const enc = rdbTypeName(k.rdbType);
        s.encodings[enc] = (s.encodings[enc] ?? 0) + 1;
        if (k.expireAt !== null) {
          r.with_ttl++;
          s.with_ttl++;
          if (k.expireAt < now) {
            r.expired++;
            s.expired++;
          }
        }
        if (k.type === 'module') {
          const name = k.module?.name ?? '?';
          const m = r.module_keys;
          m.count++;
          m.modules[name] = (m.modules[name] ?? 0) + 1;
          if (m.examples.length < MODULE_EXAMPLES)
            m.examples.push({ db: k.db, key: printableKey(k.key), module: name });
        }
        return;
      }
      case 'keyEnd': {
        // read() hands out the events of one parse step before taking the next, so at a keyEnd
        // bytesConsumed is exactly where this key's value ends.
        const k = ev.key;
        const bytes = parser.bytesConsumed - k.offset;
        if (top === 0 || (biggest.length === top && bytes <= biggest[top - 1]!.bytes)) return;
        const entry: RdbBigKey = {
          db: k.db,
          key: printableKey(k.key),
          type: k.type,
          encoding: rdbTypeName(k.rdbType),
          bytes,
          length: k.length,
          length_unit: k.lengthUnit,
        };
        let i = biggest.length;
        while (i > 0 && biggest[i - 1]!.bytes < bytes) i--;
        biggest.splice(i, 0, entry);
        if (biggest.length > top) biggest.pop();
        return;
      }
      case 'end':
        r.checksum = ev.checksum === null ? 'absent' : ev.checksumVerified ? 'verified' : 'disabled';
        return;
      default:
        return;
    }
  });
  r.dbs = [...dbs.values()].filter((d) => d.keys > 0 || d.resize_db).sort((a, b) => a.db - b.db);
  r.module_aux = [...moduleAux].map(([module, count]) => ({ module, count }));
  return r;
}

function counts(m: Record<string, number | undefined>): string {
  return Object.entries(m)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0) || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The human text of an inspection. */
export function renderInspection(r: RdbInspection): string {
  const lines: string[] = [];
  const checksum =
    r.checksum === 'verified'
      ? 'CRC64 verified'
      : r.checksum === 'disabled'
        ? 'checksum disabled'
        : 'no checksum';
  lines.push(
    `${r.file}: ${formatBytes(r.size)} (${r.size} bytes), RDB version ${r.rdb_version}, ${checksum}`,
  );
  const aux = Object.entries(r.aux);
  if (aux.length) {
    const width = Math.max(...aux.map(([k]) => k.length));
    for (const [k, v] of aux) {
      let shown = v.length > 100 ? `${v.slice(0, 100)}... (${v.length} chars)` : v;
      if (k === 'used-mem' && /^\d+$/.test(v)) shown = `${v} (${formatBytes(Number(v))})`;
      lines.push(`  ${k.padEnd(width)}  ${shown}`);
    }
  }
  if (r.functions.count) {
    const n = r.functions.count;
    lines.push(`functions: ${n} ${n === 1 ? 'library' : 'libraries'} (${r.functions.libraries.join(', ')})`);
  }
  if (r.module_aux.length) {
    lines.push(`module aux data: ${r.module_aux.map((m) => `${m.module} (${m.count})`).join(', ')}`);
  }
  lines.push(
    `keys: ${r.keys} in ${plural(r.dbs.filter((d) => d.keys > 0).length, 'db')}, ` +
      `${r.with_ttl} with a TTL, ${r.expired} already expired (at ${r.now})`,
  );
  if (r.keys > 0) {
    lines.push('');
    lines.push(
      table(
        ['DB', 'KEYS', 'TTL', 'EXPIRED', 'TYPES', 'ENCODINGS'],
        r.dbs
          .filter((d) => d.keys > 0)
          .map((d) => [
            String(d.db),
            String(d.keys),
            String(d.with_ttl),
            String(d.expired),
            counts(d.types),
            counts(d.encodings),
          ]),
      ),
    );
  }
  if (r.biggest.length) {
    lines.push('');
    lines.push(`biggest keys (bytes in the file):`);
    lines.push(
      table(
        ['DB', 'KEY', 'TYPE', 'ENCODING', 'BYTES', 'LENGTH'],
        r.biggest.map((b) => [
          String(b.db),
          b.key,
          b.type,
          b.encoding,
          String(b.bytes),
          b.length === null ? '-' : b.length_unit === 'nodes' ? plural(b.length, 'node') : String(b.length),
        ]),
      ),
    );
  }
  if (r.module_keys.count) {
    lines.push('');
    lines.push(
      `module keys: ${r.module_keys.count} (${counts(r.module_keys.modules)}); ` +
        `minirs cannot restore them (rdb restore --skip-modules skips and counts them)`,
    );
    for (const e of r.module_keys.examples) lines.push(`  db ${e.db} '${e.key}': ${e.module}`);
  }
  return lines.join('\n');
}
