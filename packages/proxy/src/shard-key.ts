// The shard-key rules are a library (they live in @minirs/common, shared with the syncer's routing).
export { DEFAULT_SHARD_KEY_REGEX, NO_RULE_MATCHED, ShardKeyRules } from '@minirs/common';
