import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureSet } from '@minirs/harness';
import { parseRdbBuffer, type RdbEvent, rdbTypeName, streamIdToString } from '../src/index.js';

/**
 * The RDB 12 file written by a real Redis 7.4.1 (no Redis here can load it), checked key by key
 * against the logical content that server reported for it (gen-7.4.json): type, encoding, key
 * TTL, every element, hash-field TTLs, the stream with its group and PEL, the function library.
 */
const fx = fixtureSet('rdb-7.4');

type Json = string | number | null | Json[];
interface Expected {
  type: string;
  encoding: string;
  pexpiretime: number;
  value?: Json[];
  value_hex?: string;
  entries?: [string, string[]][];
  info?: Json[];
}
interface Oracle {
  redis_version: string;
  rdb_version: number;
  dbs: Record<string, Record<string, Expected>>;
  functions: Json[][];
}

/** The RDB type byte each encoding name of OBJECT ENCODING is written with (7.4). */
const ENCODING_OF_RDB_TYPE: Record<string, string[]> = {
  'list-quicklist-v2': ['quicklist', 'listpack'],
  'set-hashtable': ['hashtable'],
  'set-intset': ['intset'],
  'set-listpack': ['listpack'],
  'zset-skiplist-v2': ['skiplist'],
  'zset-listpack': ['listpack'],
  'hash-hashtable': ['hashtable'],
  'hash-listpack': ['listpack'],
  'hash-metadata': ['hashtable'],
  'hash-listpack-ex': ['listpackex'],
  'stream-v3': ['stream'],
};

interface Parsed {
  type: string;
  rdbType: string;
  expireAt: number | null;
  chunks: Extract<RdbEvent, { kind: 'chunk' }>['value'][];
}

function parse(data: Buffer): { keys: Map<string, Parsed>; functions: string[]; version: number } {
  const keys = new Map<string, Parsed>();
  const functions: string[] = [];
  let version = 0;
  let current: Parsed | undefined;
  for (const ev of parseRdbBuffer(data, { maxChunkItems: 7 })) {
    if (ev.kind === 'header') version = ev.version;
    else if (ev.kind === 'function') functions.push(ev.code.toString());
    else if (ev.kind === 'keyStart') {
      current = {
        type: ev.key.type,
        rdbType: rdbTypeName(ev.key.rdbType),
        expireAt: ev.key.expireAt,
        chunks: [],
      };
      keys.set(`${ev.key.db}/${ev.key.key.toString('latin1')}`, current);
    } else if (ev.kind === 'chunk') current?.chunks.push(ev.value);
  }
  return { keys, functions, version };
}

/** The value of one parsed key in the oracle's shape. */
function logical(p: Parsed): { value?: Json[]; value_hex?: string; entries?: [string, string[]][] } {
  const s = (b: Buffer) => b.toString('latin1');
  switch (p.type) {
    case 'string':
      return {
        value_hex: Buffer.concat(
          p.chunks.map((c) => (c.type === 'string' ? c.value : Buffer.alloc(0))),
        ).toString('hex'),
      };
    case 'list':
      return { value: p.chunks.flatMap((c) => (c.type === 'list' ? c.elements.map(s) : [])) };
    case 'set':
      return { value: p.chunks.flatMap((c) => (c.type === 'set' ? c.members.map(s) : [])).sort() };
    case 'zset': {
      const pairs = p.chunks.flatMap((c) =>
        c.type === 'zset' ? c.members.map((m, i): [string, number] => [s(m), c.scores[i]!]) : [],
      );
      return { value: pairs.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)) };
    }
    case 'hash': {
      const fields = p.chunks.flatMap((c) =>
        c.type === 'hash'
          ? c.fields.map((f, i): Json[] => {
              const ttl = c.expireAts?.[i] ?? 0;
              return ttl ? [s(f), s(c.values[i]!), ttl] : [s(f), s(c.values[i]!)];
            })
          : [],
      );
      return { value: fields.sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)) };
    }
    case 'stream':
      return {
        entries: p.chunks.flatMap((c) =>
          c.type === 'streamEntries'
            ? c.entries.map((e): [string, string[]] => [streamIdToString(e.id), e.fields.map(s)])
            : [],
        ),
      };
    default:
      return {};
  }
}

function sortedLike(type: string, e: Expected): Json[] | undefined {
  if (!e.value) return undefined;
  const v = [...e.value];
  if (type === 'set') return v.sort();
  if (type === 'zset') return (v as [string, number][]).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  if (type === 'hash') return (v as Json[][]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  return v;
}

/** XINFO STREAM FULL as a flat [name, value, ...] list -> object. */
function obj(list: Json[]): Record<string, Json> {
  const o: Record<string, Json> = {};
  for (let i = 0; i < list.length; i += 2) o[String(list[i])] = list[i + 1]!;
  return o;
}

describe.skipIf(!fx.available)('RDB 12 written by Redis 7.4.1 (../shared/fixtures/rdb-7.4)', () => {
  const data = fx.available ? readFileSync(join(fx.dir, 'gen-7.4.rdb')) : Buffer.alloc(0);
  const oracle = fx.available
    ? (JSON.parse(readFileSync(join(fx.dir, 'gen-7.4.json'), 'utf8')) as Oracle)
    : ({ dbs: {} } as Oracle);
  const parsed = fx.available ? parse(data) : { keys: new Map<string, Parsed>(), functions: [], version: 0 };

  it('is RDB version 12 with exactly the keys the server reported, per db', () => {
    expect(parsed.version).toBe(oracle.rdb_version);
    const expected = Object.entries(oracle.dbs).flatMap(([db, keys]) =>
      Object.keys(keys).map((k) => `${db}/${k}`),
    );
    expect([...parsed.keys.keys()].sort()).toEqual(expected.sort());
  });

  for (const [db, keys] of Object.entries(oracle.dbs)) {
    for (const [key, e] of Object.entries(keys)) {
      it(`db${db} ${key} (${e.type}, ${e.encoding}): type, encoding, TTL and every element`, () => {
        const p = parsed.keys.get(`${db}/${key}`);
        expect(p, 'parsed').toBeDefined();
        if (!p) return;
        expect(p.type).toBe(e.type);
        if (e.type !== 'string')
          expect(ENCODING_OF_RDB_TYPE[p.rdbType] ?? [], p.rdbType).toContain(e.encoding);
        expect(p.expireAt ?? -1).toBe(e.pexpiretime);
        const got = logical(p);
        if (e.value_hex !== undefined) expect(got.value_hex).toBe(e.value_hex);
        if (e.value !== undefined) expect(got.value).toEqual(sortedLike(e.type, e));
        if (e.entries !== undefined) expect(got.entries).toEqual(e.entries);
      });
    }
  }

  it('hash-field TTLs: the listpackex and hashtable hashes carry each field expiry, the others none', () => {
    const fieldTtls = (k: string) =>
      (logical(parsed.keys.get(k)!).value as Json[][]).filter((f) => f.length === 3).length;
    expect(fieldTtls('0/hash:hfe-lp')).toBe(2);
    expect(fieldTtls('0/hash:hfe-ht')).toBeGreaterThan(0);
    expect(fieldTtls('0/hash:small')).toBe(0);
    expect(fieldTtls('0/hash:big')).toBe(0);
  });

  it('the stream: meta, the consumer group, its PEL and consumer, as XINFO STREAM FULL reported', () => {
    const p = parsed.keys.get('0/stream:1');
    const info = obj(oracle.dbs['0']!['stream:1']!.info!);
    const meta = p!.chunks.find((c) => c.type === 'streamMeta');
    expect(meta).toBeDefined();
    if (meta?.type !== 'streamMeta') return;
    expect(meta.length).toBe(info.length);
    expect(streamIdToString(meta.lastId)).toBe(info['last-generated-id']);
    expect(meta.maxDeletedId && streamIdToString(meta.maxDeletedId)).toBe(info['max-deleted-entry-id']);
    expect(meta.firstId && streamIdToString(meta.firstId)).toBe(info['recorded-first-entry-id']);
    expect(Number(meta.entriesAdded)).toBe(info['entries-added']);
    const groups = (info.groups as Json[][]).map(obj);
    expect(meta.groupCount).toBe(groups.length);
    const g = groups[0]!;
    const group = p!.chunks.find((c) => c.type === 'streamGroup');
    if (group?.type !== 'streamGroup') throw new Error('no streamGroup chunk');
    expect(group.name.toString()).toBe(g.name);
    expect(streamIdToString(group.lastId)).toBe(g['last-delivered-id']);
    expect(group.entriesRead === null ? null : Number(group.entriesRead)).toBe(g['entries-read']);
    expect(group.pendingCount).toBe(g['pel-count']);
    const pending = p!.chunks.flatMap((c) => (c.type === 'streamPending' ? c.pending : []));
    // PEL rows: [id, consumer, delivery time, delivery count]
    expect(pending.map((x) => [streamIdToString(x.id), x.deliveryTime, x.deliveryCount])).toEqual(
      (g.pending as Json[][]).map((r) => [r[0], r[2], r[3]]),
    );
    const consumers = (g.consumers as Json[][]).map(obj);
    const cons = p!.chunks.filter((c) => c.type === 'streamConsumer');
    expect(
      cons.map((c) =>
        c.type === 'streamConsumer' ? [c.name.toString(), c.seenTime, c.activeTime, c.pendingCount] : [],
      ),
    ).toEqual(consumers.map((c) => [c.name, c['seen-time'], c['active-time'], c['pel-count']]));
    const owned = p!.chunks.flatMap((c) =>
      c.type === 'streamConsumerPending' ? c.ids.map(streamIdToString) : [],
    );
    expect(owned).toEqual((consumers[0]!.pending as Json[][]).map((r) => r[0]));
  });

  it('the function library, code byte for byte', () => {
    const libs = oracle.functions.map((l) => String(obj(l).library_code));
    expect(parsed.functions).toEqual(libs);
  });
});
