import {
  type AofPolicy,
  BDB_NAME_RE,
  type BdbCreateRequest,
  type BdbState,
  type DataPersistence,
  invalid,
  type ShardKeyRule,
  type SnapshotRule,
} from '@minirs/common';

export const MAX_SHARDS = 512;
export const MIN_SHARD_MEMORY = 1024 * 1024;
export const DEFAULT_MEMORY = 100 * 1024 * 1024;
/** RS's default hashing policy: the part in braces, else the whole key. */
export const DEFAULT_SHARD_KEY_REGEX: ShardKeyRule[] = [
  { regex: '.*\\{(?<tag>.*)\\}.*' },
  { regex: '(?<tag>.*)' },
];

export function validateName(name: string): void {
  if (!BDB_NAME_RE.test(name)) {
    throw invalid(
      'name',
      `database name "${name}" is invalid: use letters, digits and hyphens (1-63), starting with a letter or digit`,
    );
  }
}

export function validateShards(shards: number, memory: number, sharding: boolean | undefined): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw invalid('shards_count', `shards_count ${shards} is out of range: use 1 to ${MAX_SHARDS}`);
  }
  if (shards > 1 && sharding === false) {
    throw invalid(
      'sharding',
      `sharding is false but shards_count is ${shards}: set sharding true or use 1 shard`,
    );
  }
  if (!Number.isInteger(memory) || memory < 1) {
    throw invalid('memory_size', `memory_size ${memory} is invalid: give a positive number of bytes`);
  }
  if (memory / shards < MIN_SHARD_MEMORY) {
    throw invalid(
      'memory_size',
      `memory_size ${memory} bytes gives each of ${shards} shards ${Math.floor(memory / shards)} bytes; a shard needs at least 1mb: raise the memory or lower the shard count`,
    );
  }
}

export function validateShardKeyRegex(rules: ShardKeyRule[]): void {
  if (rules.length === 0)
    throw invalid('shard_key_regex', 'shard_key_regex is empty: give at least one rule, or omit it');
  rules.forEach((r, i) => {
    let re: RegExp;
    try {
      re = new RegExp(r.regex);
    } catch (err) {
      throw invalid(
        'shard_key_regex',
        `shard_key_regex[${i}] "${r.regex}" does not compile: ${(err as Error).message}`,
      );
    }
    if (!/\(\?<tag>/.test(r.regex)) {
      throw invalid(
        'shard_key_regex',
        `shard_key_regex[${i}] "${r.regex}" has no named group (?<tag>...): RS hashes the tag group`,
      );
    }
    void re;
  });
}

export function validateTls(b: Partial<BdbState> | BdbCreateRequest): void {
  const certs = b.authentication_ssl_client_certs ?? [];
  for (const [i, c] of certs.entries()) {
    if (typeof c.client_cert !== 'string' || !c.client_cert.includes('BEGIN CERTIFICATE')) {
      throw invalid(
        'authentication_ssl_client_certs',
        `authentication_ssl_client_certs[${i}] is not a PEM certificate`,
      );
    }
  }
}

/**
 * RS's persistence fields of a create (current undefined) or an update, merged over the current
 * values. Snapshot persistence needs a snapshot_policy (RS: "must be provided").
 */
export function validatePersistence(
  body: Pick<BdbCreateRequest, 'data_persistence' | 'aof_policy' | 'snapshot_policy'>,
  current: BdbState | undefined,
): { data_persistence: DataPersistence; aof_policy: AofPolicy; snapshot_policy: SnapshotRule[] } {
  const mode = body.data_persistence ?? current?.data_persistence ?? 'disabled';
  const aof = body.aof_policy ?? current?.aof_policy ?? 'appendfsync-every-sec';
  const rules = body.snapshot_policy ?? current?.snapshot_policy ?? [];
  rules.forEach((r, i) => {
    if (!Number.isSafeInteger(r.secs) || r.secs < 1 || !Number.isSafeInteger(r.writes) || r.writes < 1) {
      throw invalid(
        'snapshot_policy',
        `snapshot_policy[${i}] needs secs >= 1 and writes >= 1 (a snapshot every secs seconds after writes changes)`,
      );
    }
  });
  if (mode === 'snapshot' && rules.length === 0) {
    throw invalid(
      'snapshot_policy',
      'data_persistence snapshot needs a snapshot_policy, e.g. [{"secs": 3600, "writes": 1}]',
    );
  }
  return { data_persistence: mode, aof_policy: aof, snapshot_policy: rules };
}
