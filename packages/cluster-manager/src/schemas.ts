/** JSON schemas of the REST bodies; fastify validates them and we turn failures into 400s naming the field. */

import type { BdbCreateRequest } from '@minirs/common';

/**
 * Body of `PUT /v1/bdbs/{uid}` (and of `.../flush`, `.../reset_admin_pass`) once bdbUpdateSchema
 * validated it: the create fields minus those fixed at creation. The schema's `properties` must
 * name exactly these keys (checked by `satisfies` below), so the type and the schema cannot drift.
 * A body may also repeat read-only and fixed fields (rs-fields.ts checks them); the manager reads
 * only these.
 */
export type BdbUpdateRequest = Partial<Omit<BdbCreateRequest, 'uid' | 'type' | 'sharding' | 'port'>>;

const shardKeyRegex = {
  type: 'array',
  items: {
    type: 'object',
    required: ['regex'],
    properties: { regex: { type: 'string' } },
    additionalProperties: false,
  },
};
const clientCerts = {
  type: 'array',
  items: {
    type: 'object',
    required: ['client_cert'],
    properties: { client_cert: { type: 'string' } },
    additionalProperties: false,
  },
};
const replicaSource = {
  type: 'object',
  required: ['uri'],
  properties: {
    uid: { type: 'integer' },
    uri: { type: 'string', minLength: 1 },
    compression: { type: 'integer', minimum: 0, maximum: 6 },
    encryption: { type: 'boolean' },
    server_cert: { type: 'string' },
    client_cert: { type: 'string' },
    client_key: { type: 'string' },
    replication_tls_sni: { type: 'string', maxLength: 253 },
  },
};
const persistence = {
  data_persistence: { type: 'string', enum: ['disabled', 'aof', 'snapshot'] },
  aof_policy: { type: 'string', enum: ['appendfsync-every-sec', 'appendfsync-always'] },
  snapshot_policy: {
    type: 'array',
    items: {
      type: 'object',
      required: ['secs', 'writes'],
      properties: { secs: { type: 'integer', minimum: 1 }, writes: { type: 'integer', minimum: 1 } },
      additionalProperties: false,
    },
  },
};

/** `:uid` of a path: a positive integer (fastify coerces it). */
export const uidParams = {
  type: 'object',
  required: ['uid'],
  properties: { uid: { type: 'integer', minimum: 1 } },
};

export const bdbCreateSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    memory_size: { type: 'integer' },
    shards_count: { type: 'integer' },
    sharding: { type: 'boolean' },
    shard_key_regex: shardKeyRegex,
    port: { type: 'integer', minimum: 1024, maximum: 65535 },
    authentication_redis_pass: { type: 'string' },
    tls_mode: { type: 'string', enum: ['disabled', 'enabled', 'replica_ssl'] },
    enforce_client_authentication: { type: 'string', enum: ['enabled', 'disabled'] },
    authentication_ssl_client_certs: clientCerts,
    replica_sources: { type: 'array', items: replicaSource },
    replica_sync: { type: 'string', enum: ['disabled', 'enabled', 'paused', 'stopped'] },
    replication: { type: 'boolean' },
    hash_slots_policy: { type: 'string', enum: ['16k'] },
    type: { type: 'string', enum: ['redis'] },
    uid: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 },
    ...persistence,
  } satisfies Record<keyof BdbCreateRequest | 'hash_slots_policy', object>,
};

export const bdbUpdateSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    memory_size: { type: 'integer' },
    shards_count: { type: 'integer' },
    shard_key_regex: shardKeyRegex,
    authentication_redis_pass: { type: 'string' },
    tls_mode: { type: 'string', enum: ['disabled', 'enabled', 'replica_ssl'] },
    enforce_client_authentication: { type: 'string', enum: ['enabled', 'disabled'] },
    authentication_ssl_client_certs: clientCerts,
    replica_sources: { type: 'array', items: replicaSource },
    replica_sync: { type: 'string', enum: ['disabled', 'enabled', 'paused', 'stopped'] },
    replication: { type: 'boolean' },
    ...persistence,
  } satisfies Record<keyof BdbUpdateRequest, object>,
};

export const faultSchema = {
  type: 'object',
  required: ['kind', 'target'],
  properties: {
    kind: {
      type: 'string',
      enum: ['kill', 'pause', 'restart', 'partition', 'loss', 'latency', 'bandwidth', 'reset', 'oom'],
    },
    target: { type: 'string', minLength: 1 },
    ms: { type: 'integer', minimum: 0 },
    jitter_ms: { type: 'integer', minimum: 0 },
    kbps: { type: 'integer', minimum: 1 },
    bytes: { type: 'integer', minimum: 1 },
    percent: { type: 'integer', minimum: 1, maximum: 100 },
    mode: { type: 'string', enum: ['drop', 'reject'] },
    direction: { type: 'string', enum: ['both', 'in', 'out'] },
    client: { type: 'string' },
    peer: { type: 'string' },
    duration_ms: { type: 'integer', minimum: 1 },
    mechanism: { type: 'string', enum: ['kernel', 'socket'] },
  },
};
