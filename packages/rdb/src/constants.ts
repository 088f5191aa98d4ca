/**
 * RDB opcode and type numbers (Redis src/rdb.h) and which RDB version introduced each type.
 * RDB versions: 2.4 -> 2..5, 2.6/2.8 -> 6, 3.2 -> 7, 4.0 -> 8, 5.0..6.2 -> 9, 7.0 -> 10,
 * 7.2 -> 11, 7.4 and 8.x -> 12.
 */

/** The highest RDB version this parser understands. */
export const RDB_VERSION_MAX = 12;

export const RdbOpcode = {
  SLOT_INFO: 244,
  FUNCTION2: 245,
  FUNCTION_PRE_GA: 246,
  MODULE_AUX: 247,
  IDLE: 248,
  FREQ: 249,
  AUX: 250,
  RESIZEDB: 251,
  EXPIRETIME_MS: 252,
  EXPIRETIME: 253,
  SELECTDB: 254,
  EOF: 255,
} as const;

export const RdbType = {
  STRING: 0,
  LIST: 1,
  SET: 2,
  ZSET: 3,
  HASH: 4,
  ZSET_2: 5,
  MODULE_PRE_GA: 6,
  MODULE_2: 7,
  HASH_ZIPMAP: 9,
  LIST_ZIPLIST: 10,
  SET_INTSET: 11,
  ZSET_ZIPLIST: 12,
  HASH_ZIPLIST: 13,
  LIST_QUICKLIST: 14,
  STREAM_LISTPACKS: 15,
  HASH_LISTPACK: 16,
  ZSET_LISTPACK: 17,
  LIST_QUICKLIST_2: 18,
  STREAM_LISTPACKS_2: 19,
  SET_LISTPACK: 20,
  STREAM_LISTPACKS_3: 21,
  HASH_METADATA_PRE_GA: 22,
  HASH_LISTPACK_EX_PRE_GA: 23,
  HASH_METADATA: 24,
  HASH_LISTPACK_EX: 25,
} as const;

/** Sub-opcodes of module values serialized with annotations (RDB_TYPE_MODULE_2, MODULE_AUX). */
export const ModuleOpcode = { EOF: 0, SINT: 1, UINT: 2, FLOAT: 3, DOUBLE: 4, STRING: 5 } as const;

/** Quicklist 2 node containers. */
export const QuicklistContainer = { PLAIN: 1, PACKED: 2 } as const;

export type RdbValueType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'module';

const TYPE_INFO: Record<number, { type: RdbValueType; name: string; since: number }> = {
  0: { type: 'string', name: 'string', since: 1 },
  1: { type: 'list', name: 'list-linkedlist', since: 1 },
  2: { type: 'set', name: 'set-hashtable', since: 1 },
  3: { type: 'zset', name: 'zset-skiplist', since: 1 },
  4: { type: 'hash', name: 'hash-hashtable', since: 1 },
  5: { type: 'zset', name: 'zset-skiplist-v2', since: 8 },
  6: { type: 'module', name: 'module-pre-ga', since: 8 },
  7: { type: 'module', name: 'module-v2', since: 8 },
  9: { type: 'hash', name: 'hash-zipmap', since: 2 },
  10: { type: 'list', name: 'list-ziplist', since: 2 },
  11: { type: 'set', name: 'set-intset', since: 2 },
  12: { type: 'zset', name: 'zset-ziplist', since: 2 },
  13: { type: 'hash', name: 'hash-ziplist', since: 4 },
  14: { type: 'list', name: 'list-quicklist', since: 7 },
  15: { type: 'stream', name: 'stream-v1', since: 9 },
  16: { type: 'hash', name: 'hash-listpack', since: 10 },
  17: { type: 'zset', name: 'zset-listpack', since: 10 },
  18: { type: 'list', name: 'list-quicklist-v2', since: 10 },
  19: { type: 'stream', name: 'stream-v2', since: 10 },
  20: { type: 'set', name: 'set-listpack', since: 11 },
  21: { type: 'stream', name: 'stream-v3', since: 11 },
  22: { type: 'hash', name: 'hash-metadata-pre-ga', since: 12 },
  23: { type: 'hash', name: 'hash-listpack-ex-pre-ga', since: 12 },
  24: { type: 'hash', name: 'hash-metadata', since: 12 },
  25: { type: 'hash', name: 'hash-listpack-ex', since: 12 },
};

export function isObjectType(t: number): boolean {
  return TYPE_INFO[t] !== undefined;
}

export function valueTypeOf(rdbType: number): RdbValueType {
  const info = TYPE_INFO[rdbType];
  if (!info) throw new RangeError(`unknown RDB type ${rdbType}`);
  return info.type;
}

/** A readable name of the encoding ("list-quicklist-v2"), for logs and inspect output. */
export function rdbTypeName(rdbType: number): string {
  return TYPE_INFO[rdbType]?.name ?? `unknown-${rdbType}`;
}

/** The first RDB version whose loader knows this type (a RESTORE target needs at least it). */
export function minRdbVersionForType(rdbType: number): number {
  const info = TYPE_INFO[rdbType];
  if (!info) throw new RangeError(`unknown RDB type ${rdbType}`);
  return info.since;
}

/** True for hash encodings that carry per-field expiry (Redis 7.4+). */
export function hasFieldTtls(rdbType: number): boolean {
  return rdbType >= RdbType.HASH_METADATA_PRE_GA && rdbType <= RdbType.HASH_LISTPACK_EX;
}

/**
 * The RDB version a Redis server writes and accepts, from its INFO `redis_version`
 * ("7.0.15" -> 10). Unknown future versions map to the newest known one.
 */
export function rdbVersionForRedis(redisVersion: string): number {
  const m = /^(\d+)\.(\d+)/.exec(redisVersion.trim());
  if (!m) throw new RangeError(`not a Redis version: ${JSON.stringify(redisVersion)}`);
  const v = Number(m[1]) * 100 + Number(m[2]);
  if (v >= 704) return 12;
  if (v >= 702) return 11;
  if (v >= 700) return 10;
  if (v >= 500) return 9;
  if (v >= 400) return 8;
  if (v >= 302) return 7;
  if (v >= 206) return 6;
  if (v >= 204) return 5;
  return 4;
}
