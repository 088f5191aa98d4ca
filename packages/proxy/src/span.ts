import type { RespFrame } from '@minirs/resp';
import type { BatchWriter } from './batch-writer.js';
import type { ClientSession } from './client-session.js';
import { broadcast, forwardFirst, type Merge } from './fanout.js';
import { firstError, ForwardEntry, writePart } from './reply-entry.js';

/**
 * SCAN over a sharded database walks the shards one after the other. The cursor handed to the
 * client encodes both: shard cursor * SHARD_RADIX + shard index (decimal, may exceed 64 bits;
 * clients treat cursors as opaque strings). 0 still means "start" and "done".
 */
export const SHARD_RADIX = 1024n;

class ScanEntry extends ForwardEntry {
  constructor(
    owner: ClientSession,
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

export function scan(c: ClientSession, frame: RespFrame): boolean {
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

const KEYSPACE_SECTIONS = new Set(['keyspace', 'clients', 'all', 'everything', 'default']);
/** Clients-section counters that are per shard: the database's figure is their sum. */
const SUMMED_CLIENT_FIELDS = ['blocked_clients', 'tracking_clients', 'clients_in_timeout_table'];

/**
 * INFO: the first shard's text, with the Keyspace section and the blocked/tracking client
 * counts summed over all shards (a client blocked on any shard is a blocked client of the db).
 */
export function info(c: ClientSession, frame: RespFrame): boolean {
  const v = c.view;
  let spans = v.argc === 1;
  for (let i = 1; i < v.argc && !spans; i++)
    spans = KEYSPACE_SECTIONS.has(v.argString(i, 'latin1').toLowerCase());
  if (!spans || c.endpoint.pools.length <= 1) return forwardFirst(c, frame);
  return broadcast(c, frame, mergeInfo);
}

const mergeInfo: Merge = (parts, out) => {
  const err = firstError(parts);
  if (err) return writePart(out, err);
  const frames = parts as RespFrame[];
  let keys = 0;
  let expires = 0;
  let ttlWeighted = 0;
  for (const f of frames) {
    const m = /^db0:keys=(\d+),expires=(\d+),avg_ttl=(\d+)/m.exec(f.str());
    if (!m) continue;
    keys += Number(m[1]);
    expires += Number(m[2]);
    ttlWeighted += Number(m[2]) * Number(m[3]);
  }
  const line =
    keys > 0
      ? `db0:keys=${keys},expires=${expires},avg_ttl=${expires ? Math.round(ttlWeighted / expires) : 0}\r\n`
      : '';
  let text = frames[0]!.str().replace(/^db\d+:.*\r\n/gm, '');
  for (const field of SUMMED_CLIENT_FIELDS) {
    const re = new RegExp(`^${field}:(\\d+)\r$`, 'm');
    if (!re.test(text)) continue;
    let sum = 0;
    for (const f of frames) sum += Number(re.exec(f.str())?.[1] ?? 0);
    text = text.replace(re, `${field}:${sum}\r`);
  }
  text = text.replace(/# Keyspace\r\n/, `# Keyspace\r\n${line}`);
  const w = out.encoder();
  if (frames[0]!.format) w.verbatim(frames[0]!.format, text);
  else w.bulk(text);
  out.schedule();
};
