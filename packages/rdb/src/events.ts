import type { RdbValueType } from './constants.js';
import type { StreamEntry, StreamId } from './encodings/stream-node.js';
import type { ModuleTypeId } from './module-id.js';

/**
 * What the parser yields. A key is always `keyStart`, zero or more `chunk`s, `keyEnd`; a chunk
 * holds at most `maxChunkItems` elements, so no collection is ever materialised whole.
 *
 * Buffers are views into the bytes given to write() (no copy): do not reuse those input
 * buffers, and copy what you keep for long if memory matters.
 */
export type RdbEvent =
  | RdbHeaderEvent
  | RdbAuxEvent
  | RdbSelectDbEvent
  | RdbResizeDbEvent
  | RdbSlotInfoEvent
  | RdbFunctionEvent
  | RdbModuleAuxEvent
  | RdbKeyStartEvent
  | RdbChunkEvent
  | RdbKeyEndEvent
  | RdbEndEvent;

export interface RdbHeaderEvent {
  kind: 'header';
  version: number;
}

/** AUX field: redis-ver, redis-bits, ctime, used-mem, repl-stream-db, repl-id, repl-offset, aof-base, lua... */
export interface RdbAuxEvent {
  kind: 'aux';
  key: string;
  value: Buffer;
}

export interface RdbSelectDbEvent {
  kind: 'selectDb';
  db: number;
}

export interface RdbResizeDbEvent {
  kind: 'resizeDb';
  db: number;
  dbSize: number;
  expiresSize: number;
}

export interface RdbSlotInfoEvent {
  kind: 'slotInfo';
  db: number;
  slot: number;
  slotSize: number;
  expiresSlotSize: number;
}

/** A function library (RDB_OPCODE_FUNCTION2): its source, ready for FUNCTION LOAD REPLACE. */
export interface RdbFunctionEvent {
  kind: 'function';
  code: Buffer;
}

/** Module auxiliary data (not tied to a key); its payload is skipped, never interpreted. */
export interface RdbModuleAuxEvent {
  kind: 'moduleAux';
  module: ModuleTypeId;
  when: number;
}

export interface RdbKeyInfo {
  db: number;
  key: Buffer;
  type: RdbValueType;
  /** The RDB type byte: says the encoding (see rdbTypeName). */
  rdbType: number;
  /** Absolute expire time in unix ms, or null. */
  expireAt: number | null;
  /** LRU idle seconds (RDB_OPCODE_IDLE), or null. */
  idle: number | null;
  /** LFU counter (RDB_OPCODE_FREQ), or null. */
  freq: number | null;
  /**
   * Element count announced up front: plain list/set/zset/hash length, or the number of nodes
   * for quicklists and streams (see lengthUnit). null for encoded blobs and strings.
   */
  length: number | null;
  lengthUnit: 'elements' | 'nodes' | null;
  /** Byte offset of the key's type byte in the RDB stream. */
  offset: number;
  module?: ModuleTypeId;
}

export interface RdbKeyStartEvent {
  kind: 'keyStart';
  key: RdbKeyInfo;
  /** With captureRaw: the value's RDB bytes consumed so far (see RdbParserOptions.captureRaw). */
  raw?: Buffer;
}

export interface RdbChunkEvent {
  kind: 'chunk';
  key: RdbKeyInfo;
  value: RdbValueChunk;
  raw?: Buffer;
}

export interface RdbKeyEndEvent {
  kind: 'keyEnd';
  key: RdbKeyInfo;
  raw?: Buffer;
}

export interface RdbEndEvent {
  kind: 'end';
  /** The 8 checksum bytes (LE) after EOF, or null before RDB v5. All zero: checksum disabled. */
  checksum: Buffer | null;
  /** true when checked and equal, false when not checked (disabled, absent, or verifyChecksum off). */
  checksumVerified: boolean;
}

export type RdbValueChunk =
  | { type: 'string'; value: Buffer }
  | { type: 'list'; elements: Buffer[] }
  | { type: 'set'; members: Buffer[] }
  | { type: 'zset'; members: Buffer[]; scores: number[] }
  /** expireAts[i] is field i's absolute expiry in ms, 0 for none; null when the encoding has no field TTLs. */
  | { type: 'hash'; fields: Buffer[]; values: Buffer[]; expireAts: number[] | null }
  | StreamEntriesChunk
  | StreamMetaChunk
  | StreamGroupChunk
  | StreamPendingChunk
  | StreamConsumerCountChunk
  | StreamConsumerChunk
  | StreamConsumerPendingChunk;

export interface StreamEntriesChunk {
  type: 'streamEntries';
  entries: StreamEntry[];
  /** The radix-tree node the entries come from, on the first chunk of each node (for re-encoding). */
  node?: { masterKey: Buffer; listpack: Buffer };
}

/** After all entries. firstId/maxDeletedId/entriesAdded are null for RDB stream v1 (type 15). */
export interface StreamMetaChunk {
  type: 'streamMeta';
  length: number;
  lastId: StreamId;
  firstId: StreamId | null;
  maxDeletedId: StreamId | null;
  entriesAdded: bigint | null;
  groupCount: number;
}

export interface StreamGroupChunk {
  type: 'streamGroup';
  name: Buffer;
  lastId: StreamId;
  /** null: not in the RDB (v1) or unknown (-1 in Redis). */
  entriesRead: bigint | null;
  pendingCount: number;
}

export interface StreamPendingEntry {
  id: StreamId;
  deliveryTime: number;
  deliveryCount: number;
}

export interface StreamPendingChunk {
  type: 'streamPending';
  group: Buffer;
  pending: StreamPendingEntry[];
}

/** After a group's PEL: how many consumers follow. */
export interface StreamConsumerCountChunk {
  type: 'streamConsumerCount';
  group: Buffer;
  count: number;
}

export interface StreamConsumerChunk {
  type: 'streamConsumer';
  group: Buffer;
  name: Buffer;
  seenTime: number;
  /** RDB stream v3 (Redis 7.2+) only. */
  activeTime: number | null;
  pendingCount: number;
}

export interface StreamConsumerPendingChunk {
  type: 'streamConsumerPending';
  group: Buffer;
  consumer: Buffer;
  ids: StreamId[];
}
