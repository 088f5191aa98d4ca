import { RdbType } from './constants.js';
import { compareStreamIds, type StreamId, streamIdToString } from './encodings/stream-node.js';
import type { RdbEvent, RdbKeyInfo, RdbValueChunk, StreamMetaChunk } from './events.js';
import { formatScore } from './rdb-encode.js';

/** One Redis command as an argument vector. */
export type RedisCommand = (string | Buffer)[];

export interface CommandConverterOptions {
  /** RDB version of the target (decides XSETID/XGROUP options, HPEXPIREAT, CREATECONSUMER). */
  targetRdbVersion: number;
  /** Most elements (or field/value pairs) per command (default 1000). */
  maxElementsPerCommand?: number;
  /** Start non-string keys with DEL so the commands replace what is there (default true). */
  replace?: boolean;
  /** Called for what the target cannot reproduce exactly (field TTLs, consumers...). */
  onLoss?: (key: RdbKeyInfo, what: string) => void;
}

const TMP_GROUP = '__minirs_mkstream__';

/**
 * Rebuilds one key with plain commands, chunk by chunk, for values too big for one RESTORE or in
 * an encoding the target cannot load.
 *
 * Exact: content of every type, the key's expire (PEXPIREAT), stream entry IDs (XADD with
 * explicit IDs), last ID / entries-added / max-deleted ID (XSETID, RDB 10+ targets), groups with
 * their last-delivered ID and entries-read (XGROUP CREATE ... ENTRIESREAD), consumers
 * (XGROUP CREATECONSUMER) and each pending entry's owner, delivery time and count
 * (XCLAIM ... TIME RETRYCOUNT FORCE JUSTID), hash field TTLs (HPEXPIREAT, RDB 12 targets).
 *
 * Not reproducible with commands: LRU idle time / LFU frequency; consumers' seen-time and
 * active-time (set to "now" by XCLAIM/CREATECONSUMER); pending entries whose message was deleted
 * from the stream (XCLAIM ignores IDs that no longer exist); field TTLs on targets below Redis 7.4;
 * consumers without pending entries on targets below RDB 10 (CREATECONSUMER is Redis 6.2+, and
 * RDB 9 cannot tell 6.2 from 5.0). Each such loss is reported through onLoss.
 *
 * Memory: a group's pending-entry list is held until its consumers have been read, to join each
 * entry's delivery time and count (group PEL) with its owner (consumer PEL).
 */
export class CommandConverter {
  private readonly max: number;
  private readonly target: number;
  private readonly replace: boolean;
  private readonly onLoss?: (key: RdbKeyInfo, what: string) => void;
  private streamHasEntries = false;
  private meta: StreamMetaChunk | null = null;
  private firstEntryId: StreamId | null = null;
  /** Made for a stream's groups only: most keys never need it. */
  private pelMap: Map<string, { time: number; count: number }> | null = null;

  private get pel(): Map<string, { time: number; count: number }> {
    this.pelMap ??= new Map();
    return this.pelMap;
  }

  constructor(
    readonly key: RdbKeyInfo,
    opts: CommandConverterOptions,
  ) {
    this.max = Math.max(1, opts.maxElementsPerCommand ?? 1000);
    this.target = opts.targetRdbVersion;
    this.replace = opts.replace ?? true;
    this.onLoss = opts.onLoss;
  }

  /** Commands for one of this key's events (keyStart, chunk, keyEnd). */
  add(ev: RdbEvent): RedisCommand[] {
    const k = this.key.key;
    switch (ev.kind) {
      case 'keyStart': {
        if (this.key.idle !== null || this.key.freq !== null) this.loss('LRU/LFU access data');
        return this.replace && this.key.type !== 'string' ? [['DEL', k]] : [];
      }
      case 'chunk':
        return this.chunk(ev.value);
      case 'keyEnd':
        return this.key.expireAt !== null ? [['PEXPIREAT', k, String(this.key.expireAt)]] : [];
      default:
        return [];
    }
  }

  private loss(what: string): void {
    this.onLoss?.(this.key, what);
  }

  private batched(cmd: string, items: Buffer[], per: number): RedisCommand[] {
    const out: RedisCommand[] = [];
    const step = this.max * per;
    for (let i = 0; i < items.length; i += step) out.push([cmd, this.key.key, ...items.slice(i, i + step)]);
    return out;
  }

  private chunk(c: RdbValueChunk): RedisCommand[] {
    const k = this.key.key;
    switch (c.type) {
      case 'string':
        return [['SET', k, c.value]];
      case 'list':
        return this.batched('RPUSH', c.elements, 1);
      case 'set':
        return this.batched('SADD', c.members, 1);
      case 'zset': {
        const out: RedisCommand[] = [];
        for (let i = 0; i < c.members.length; i += this.max) {
          const cmd: RedisCommand = ['ZADD', k];
          const end = Math.min(c.members.length, i + this.max);
          for (let j = i; j < end; j++) cmd.push(formatScore(c.scores[j]), c.members[j]);
          out.push(cmd);
        }
        return out;
      }
      case 'hash':
        return this.hash(c.fields, c.values, c.expireAts);
      case 'streamEntries': {
        const out: RedisCommand[] = [];
        for (const e of c.entries) {
          if (!this.firstEntryId) this.firstEntryId = e.id;
          out.push(['XADD', k, streamIdToString(e.id), ...e.fields]);
        }
        if (c.entries.length) this.streamHasEntries = true;
        return out;
      }
      case 'streamMeta':
        return this.streamMeta(c);
      case 'streamGroup': {
        this.pel.clear();
        const cmd: RedisCommand = ['XGROUP', 'CREATE', k, c.name, streamIdToString(c.lastId)];
        if (this.target >= 10) {
          // v2+ streams store entries-read (null = Redis's -1, "unknown"); a v1 stream has none
          // and Redis estimates it on load, which the command path repeats.
          const read =
            this.key.rdbType === RdbType.STREAM_LISTPACKS
              ? this.estimateEntriesRead(c.lastId)
              : c.entriesRead;
          cmd.push('ENTRIESREAD', read === null ? '-1' : String(read));
        }
        return [cmd];
      }
      case 'streamPending':
        for (const p of c.pending)
          this.pel.set(streamIdToString(p.id), { time: p.deliveryTime, count: p.deliveryCount });
        return [];
      case 'streamConsumerCount':
        return [];
      case 'streamConsumer': {
        this.loss('consumer seen-time/active-time');
        if (this.target >= 10) return [['XGROUP', 'CREATECONSUMER', k, c.group, c.name]];
        if (c.pendingCount === 0) this.loss('consumer without pending entries (target below RDB 10)');
        return [];
      }
      case 'streamConsumerPending':
        return this.claims(c.group, c.consumer, c.ids);
    }
  }

  private hash(fields: Buffer[], values: Buffer[], expireAts: number[] | null): RedisCommand[] {
    const k = this.key.key;
    const out: RedisCommand[] = [];
    const verb = this.target >= 8 ? 'HSET' : 'HMSET';
    for (let i = 0; i < fields.length; i += this.max) {
      const cmd: RedisCommand = [verb, k];
      const end = Math.min(fields.length, i + this.max);
      for (let j = i; j < end; j++) cmd.push(fields[j], values[j]);
      out.push(cmd);
    }
    if (!expireAts) return out;
    // Fields sharing an expiry time go in one HPEXPIREAT.
    const byTime = new Map<number, Buffer[]>();
    for (let i = 0; i < fields.length; i++) {
      const t = expireAts[i];
      if (t === 0) continue;
      const list = byTime.get(t);
      if (list) list.push(fields[i]);
      else byTime.set(t, [fields[i]]);
    }
    if (byTime.size === 0) return out;
    if (this.target < 12) {
      this.loss('hash field TTLs (target below Redis 7.4)');
      return out;
    }
    for (const [t, fs] of byTime) {
      for (let i = 0; i < fs.length; i += this.max) {
        const part = fs.slice(i, i + this.max);
        out.push(['HPEXPIREAT', k, String(t), 'FIELDS', String(part.length), ...part]);
      }
    }
    return out;
  }

  private streamMeta(c: StreamMetaChunk): RedisCommand[] {
    const k = this.key.key;
    this.meta = c;
    const out: RedisCommand[] = [];
    if (!this.streamHasEntries) {
      // XADD cannot create an empty stream; a throwaway group with MKSTREAM can.
      out.push(['XGROUP', 'CREATE', k, TMP_GROUP, '0', 'MKSTREAM'], ['XGROUP', 'DESTROY', k, TMP_GROUP]);
    }
    const cmd: RedisCommand = ['XSETID', k, streamIdToString(c.lastId)];
    if (this.target >= 10) {
      // A v1 stream has no such counters: Redis derives entries-added = length, max-deleted = 0-0.
      cmd.push('ENTRIESADDED', String(c.entriesAdded ?? BigInt(c.length)));
      cmd.push('MAXDELETEDID', c.maxDeletedId ? streamIdToString(c.maxDeletedId) : '0-0');
    }
    out.push(cmd);
    return out;
  }

  /**
   * entries-read of a group from an RDB v1 stream, computed the way Redis does when it loads
   * one (streamEstimateDistanceFromFirstEverEntry); null = unknown (Redis stores -1).
   */
  private estimateEntriesRead(groupLastId: StreamId): bigint | null {
    const m = this.meta;
    if (!m) return null;
    const added = m.entriesAdded ?? BigInt(m.length);
    const maxDel = m.maxDeletedId ?? { ms: 0n, seq: 0n };
    if (added === 0n) return 0n;
    if (m.length === 0 && compareStreamIds(groupLastId, m.lastId) < 1) return added;
    const cmpLast = compareStreamIds(groupLastId, m.lastId);
    if (cmpLast === 0) return added;
    if (cmpLast > 0) return null;
    const first = m.firstId ?? this.firstEntryId;
    if (!first) return null;
    const cmpFirst = compareStreamIds(groupLastId, first);
    const noTombstones = (maxDel.ms === 0n && maxDel.seq === 0n) || compareStreamIds(maxDel, first) < 0;
    if (noTombstones) {
      if (cmpFirst < 0) return added - BigInt(m.length);
      if (cmpFirst === 0) return added - BigInt(m.length) + 1n;
    }
    return null;
  }

  /** XCLAIM ... FORCE JUSTID re-creates pending entries; ids sharing time and count share a command. */
  private claims(group: Buffer, consumer: Buffer, ids: StreamId[]): RedisCommand[] {
    const k = this.key.key;
    const out: RedisCommand[] = [];
    let batch: string[] = [];
    let cur: { time: number; count: number } | null = null;
    const flush = () => {
      if (!batch.length || !cur) return;
      out.push([
        'XCLAIM',
        k,
        group,
        consumer,
        '0',
        ...batch,
        'TIME',
        String(cur.time),
        'RETRYCOUNT',
        String(cur.count),
        'FORCE',
        'JUSTID',
      ]);
      batch = [];
    };
    for (const id of ids) {
      const s = streamIdToString(id);
      const nack = this.pel.get(s) ?? { time: 0, count: 0 };
      this.pel.delete(s);
      if (!cur || cur.time !== nack.time || cur.count !== nack.count || batch.length >= this.max) {
        flush();
        cur = nack;
      }
      batch.push(s);
    }
    flush();
    return out;
  }
}
