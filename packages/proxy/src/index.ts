export { CommandInfo, CommandTable, keyPositions } from './command-table.js';
export { crc16, SLOTS, slotOfTag } from './crc16.js';
export type { EndpointStats } from './endpoint.js';
export {
  DEFAULT_SHARD_TIMEOUT_MS,
  type ProxyConfigMessage,
  ProxyProcess,
  type ProxyStats,
} from './proxy-process.js';
export { DEFAULT_SHARD_KEY_REGEX, NO_RULE_MATCHED, ShardKeyRules } from './shard-key.js';
export { SHARD_RADIX } from './commands/span.js';
