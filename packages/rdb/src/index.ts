export * from './constants.js';
export { Crc64, crc64 } from './crc64.js';
export type { BlobElement } from './encodings/blob-error.js';
export {
  compareStreamIds,
  readStreamId,
  type StreamEntry,
  type StreamId,
  streamIdToString,
} from './encodings/stream-node.js';
export { isRdbError, printableKey, RdbError, type RdbErrorCode, RdbErrorCodes } from './errors.js';
export type * from './events.js';
export { LzfError, lzfCompress, lzfDecompress } from './lzf.js';
export { decodeModuleId, type ModuleTypeId } from './module-id.js';
export { RdbParser, type RdbParserOptions } from './parser.js';
export { parseRdbBatches, parseRdbBuffer, parseRdbStream } from './sources.js';
export { CommandConverter, type CommandConverterOptions, type RedisCommand } from './commands.js';
export { DumpBuilder, type DumpResult, dumpableFor, dumpPayload, parseDumpPayload } from './dump.js';
export { RestorePlanner, type RestorePlannerOptions, type RestorePlannerStats } from './planner.js';
export { encodeLength, encodeString, formatScore } from './rdb-encode.js';
export {
  describeLoadWrite,
  functionLibraryName,
  LOAD_MAX_PAYLOAD_BYTES,
  LOAD_MSET_BYTES,
  LOAD_MSET_KEYS,
  type RdbKeyOutcome,
  RdbLoader,
  type RdbLoaderOptions,
  type RdbLoadWrite,
  type RdbLoadWriter,
  type RdbWriteReply,
} from './loader.js';
