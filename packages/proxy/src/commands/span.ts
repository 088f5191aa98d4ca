import type { RespFrame } from '@minirs/resp';
import type { BatchWriter } from '../batch-writer.js';
import type { Session } from '../session.js';
import { broadcast, forwardFirst, type Merge } from './fanout.js';
import { firstError, ForwardEntry, writePart } from '../reply-entry.js';

/**
 * SCAN over a sharded database walks the shards one after the other. The cursor handed to the
 * client encodes both: shard cursor * SHARD_RADIX + shard index (decimal, may exceed 64 bits;
 * clients treat cursors as opaque strings). 0 still means "start" and "done".
 */
export const SHARD_RADIX = 1024n;

class ScanEntry extends ForwardEntry {
  constructor(
    owner: Session,
    private readonly index: number,
    private readonly shards: number,
  ) {
    super(owner);
  }

  override write(out: BatchWriter): void {
    const f = this.frame;
    if (!f || f.isError || f.length !== 2) {
      super.write(out);
      return;
    }
    const [cursor, keys] = f.elements as [RespFrame, RespFrame];
    const shardCursor = BigInt(cursor.str('latin1'));
    const next =
      shardCursor === 0n
        ? this.index + 1 < this.shards
          ? BigInt(this.index + 1)
          : 0n
        : shardCursor * SHARD_RADIX + BigInt(this.index);
    out.encoder().array(2).bulk(next.toString());
    out.write(keys.buf, keys.start, keys.end);
  }
}

export function scan(c: Session, frame: RespFrame): boolean {
  const pools = c.endpoint.pools;
  const v = c.view;
  if (pools.length <= 1 || v.argc < 2) return forwardFirst(c, frame);
  const text = v.argString(1, 'latin1');
  if (!/^\d{1,24}$/.test(text)) {
    c.replyError('ERR invalid cursor');
    return true;
  }
  const cursor = BigInt(text);
  const index = Number(cursor % SHARD_RADIX);
  if (index >= pools.length) {
    c.replyError('ERR invalid cursor');
    return true;
  }
  const link = c.linkFor(index);
  if (link.congested) {
    link.whenDrained(() => c.pump());
    return false;
  }
  const w = c
    .writer()
    .array(v.argc)
    .bulkBytes(v.buf, v.argStart(0), v.argEnd(0))
    .bulk((cursor / SHARD_RADIX).toString());
  for (let i = 2; i < v.argc; i++) w.bulkBytes(v.buf, v.argStart(i), v.argEnd(i));
  const cmd = w.finish();
  const e = new ScanEntry(c, index, pools.length);
  c.replies.push(e);
  link.send(cmd, 0, cmd.length, e);
  return true;
}

/** Sections (or section groups) whose figures are per shard: INFO asks every shard and merges. */
const SPANNING_SECTIONS = new Set([
  'keyspace',
  'clients',
  'stats',
  'persistence',
  'commandstats',
  'errorstats',
  'all',
  'everything',
  'default',
]);

/** Counters of one shard's work or data: the database's figure is their sum. */
const SUMMED_FIELDS = new Set([
  // Clients
  'blocked_clients',
  'tracking_clients',
  'clients_in_timeout_table',
  // Persistence
  'rdb_changes_since_last_save',
  'rdb_saves',
  'aof_rewrites',
  // Stats
  'total_commands_processed',
  'instantaneous_ops_per_sec',
  'total_net_input_bytes',
  'total_net_output_bytes',
  'instantaneous_input_kbps',
  'instantaneous_output_kbps',
  'expired_keys',
  'expired_time_cap_reached_count',
  'expire_cycle_cpu_milliseconds',
  'evicted_keys',
  'evicted_clients',
  'total_eviction_exceeded_time',
  'keyspace_hits',
  'keyspace_misses',
  'pubsubshard_channels',
  'total_forks',
  'active_defrag_hits',
  'active_defrag_misses',
  'active_defrag_key_hits',
  'active_defrag_key_misses',
  'total_active_defrag_time',
  'tracking_total_keys',
  'tracking_total_items',
  'tracking_total_prefixes',
  'unexpected_error_replies',
  'total_error_replies',
  'dump_payload_sanitizations',
  'total_reads_processed',
  'total_writes_processed',
  'io_threaded_reads_processed',
  'io_threaded_writes_processed',
]);

/** Flags that are on for the database when they are on for any shard. */
const MAX_FIELDS = new Set(['loading', 'async_loading', 'rdb_bgsave_in_progress', 'aof_rewrite_in_progress']);

/** Sections of per-command / per-error lines: the union over shards, their counters summed. */
const UNION_SECTIONS = new Set(['commandstats', 'errorstats']);

/**
 * INFO over a sharded database: the first shard's text, with what counts the database's data
 * or work merged over every shard: the Keyspace line, counters summed (SUMMED_FIELDS), flags
 * or-ed (MAX_FIELDS), and the Commandstats / Errorstats lines of every shard, summed per
 * command or error. Everything else (server, memory, replication...) is the first shard's.
 */
export function info(c: Session, frame: RespFrame): boolean {
  const v = c.view;
  let spans = v.argc === 1;
  for (let i = 1; i < v.argc && !spans; i++)
    spans = SPANNING_SECTIONS.has(v.argString(i, 'latin1').toLowerCase());
  if (!spans || c.endpoint.pools.length <= 1) return forwardFirst(c, frame);
  return broadcast(c, frame, mergeInfo);
}

interface InfoSection {
  /** The header line ("# Stats"), '' for lines before any header. */
  header: string;
  lines: string[];
}

function parseInfo(text: string): InfoSection[] {
  const out: InfoSection[] = [{ header: '', lines: [] }];
  for (const line of text.split('\r\n')) {
    if (line.startsWith('# ')) out.push({ header: line, lines: [] });
    else if (line !== '') out.at(-1)!.lines.push(line);
  }
  return out;
}

function sectionName(header: string): string {
  return header.slice(2).trim().toLowerCase();
}

/** `name:a=1,b=2` → name and its fields, in order. */
function fieldsOf(value: string): [string, string][] {
  return value.split(',').map((kv) => {
    const eq = kv.indexOf('=');
    return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
  });
}

/** Sum `a` and `b` as decimal figures; keeps the decimals of `a` (Redis's %.2f figures). */
function addFigures(a: string, b: string): string {
  const dot = a.indexOf('.');
  const sum = Number(a) + Number(b);
  if (!Number.isFinite(sum)) return a;
  return dot < 0 ? String(Math.round(sum)) : sum.toFixed(a.length - dot - 1);
}

/** cmdstat_x / errorstat_x lines of every shard: per line, numeric fields summed; usec_per_call again. */
function unionLines(perShard: string[][]): string[] {
  const merged = new Map<string, [string, string][]>();
  for (const lines of perShard) {
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const fields = fieldsOf(line.slice(colon + 1));
      const have = merged.get(name);
      if (!have) {
        merged.set(name, fields);
        continue;
      }
      for (const [k, val] of fields) {
        const f = have.find((x) => x[0] === k);
        if (!f) have.push([k, val]);
        else if (k !== 'usec_per_call') f[1] = addFigures(f[1], val);
      }
    }
  }
  const out: string[] = [];
  for (const [name, fields] of merged) {
    const calls = Number(fields.find((x) => x[0] === 'calls')?.[1]);
    const usec = Number(fields.find((x) => x[0] === 'usec')?.[1]);
    const perCall = fields.find((x) => x[0] === 'usec_per_call');
    if (perCall && Number.isFinite(calls) && Number.isFinite(usec))
      perCall[1] = (calls > 0 ? usec / calls : 0).toFixed(2);
    out.push(`${name}:${fields.map(([k, val]) => `${k}=${val}`).join(',')}`);
  }
  return out;
}

function keyspaceLine(perShard: string[][]): string[] {
  let keys = 0;
  let expires = 0;
  let ttlWeighted = 0;
  for (const lines of perShard) {
    for (const line of lines) {
      const m = /^db0:keys=(\d+),expires=(\d+),avg_ttl=(\d+)/.exec(line);
      if (!m) continue;
      keys += Number(m[1]);
      expires += Number(m[2]);
      ttlWeighted += Number(m[2]) * Number(m[3]);
    }
  }
  return keys > 0
    ? [`db0:keys=${keys},expires=${expires},avg_ttl=${expires ? Math.round(ttlWeighted / expires) : 0}`]
    : [];
}

export function mergeInfoText(texts: string[]): string {
  const shards = texts.map(parseInfo);
  const first = shards[0]!;
  const linesOf = (name: string) =>
    shards.map((s) => s.find((x) => x.header !== '' && sectionName(x.header) === name)?.lines ?? []);
  const parts: string[] = [];
  for (const section of first) {
    const name = sectionName(section.header);
    let lines: string[];
    if (name === 'keyspace') lines = keyspaceLine(linesOf(name));
    else if (UNION_SECTIONS.has(name)) lines = unionLines(linesOf(name));
    else {
      const others = linesOf(name);
      lines = section.lines.map((line) => {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon);
        const summed = SUMMED_FIELDS.has(field);
        if (!summed && !MAX_FIELDS.has(field)) return line;
        let value = line.slice(colon + 1);
        for (const other of others.slice(1)) {
          const o = other.find((l) => l.startsWith(`${field}:`));
          if (o === undefined) continue;
          const ov = o.slice(field.length + 1);
          value = summed ? addFigures(value, ov) : String(Math.max(Number(value), Number(ov)));
        }
        return `${field}:${value}`;
      });
    }
    if (section.header === '' && lines.length === 0) continue;
    parts.push([section.header, ...lines].filter((l, i) => i > 0 || l !== '').join('\r\n'));
  }
  return `${parts.join('\r\n\r\n')}\r\n`;
}

const mergeInfo: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  const frames = parts as RespFrame[];
  const text = mergeInfoText(frames.map((f) => f.str()));
  const w = out.encoder();
  if (frames[0]!.format) w.verbatim(frames[0]!.format, text);
  else w.bulk(text);
  out.schedule();
};
