import { isDeepStrictEqual } from 'node:util';
import type { BdbState } from '@minirs/common';
import { unknownField, unsupportedField } from './rs-errors.js';

/**
 * Which bdb fields a request may carry. Every field RS documents is in one of four sets:
 * honored (minirs implements it), fixed (minirs behaves one way; that value is accepted, any other
 * refused), read-only (GET returns it; a body may only repeat the current value) or the rest of
 * RS_BDB_FIELDS (RS has it, minirs does not: refused with a 400 naming it). Anything else is unknown
 * (refused too). Nothing is ever accepted and ignored.
 */

/** Every field of RS's bdb object (redis/docs rest-api/objects/bdb). */
export const RS_BDB_FIELDS = new Set(
  (
    'uid account_id action_uid active_defrag_cycle_max active_defrag_cycle_min active_defrag_ignore_bytes ' +
    'active_defrag_max_scan_fields active_defrag_threshold_lower active_defrag_threshold_upper activedefrag ' +
    'aof_policy audit_settings authentication_admin_pass authentication_redis_pass authentication_sasl_pass ' +
    'authentication_sasl_uname authentication_ssl_client_certs authentication_ssl_crdt_certs authorized_names ' +
    'authorized_subjects auto_shards_balancing auto_upgrade avoid_nodes background_op backup ' +
    'backup_failure_reason backup_history backup_interval backup_interval_offset backup_location ' +
    'backup_progress backup_status bigstore bigstore_ram_size bigstore_ram_weights bigstore_version ' +
    'client_cert_subject_validation_type conns conns_minimum_dedicated conns_type crdt ' +
    'crdt_causal_consistency crdt_config_version crdt_featureset_version crdt_ghost_replica_ids crdt_guid ' +
    'crdt_modules crdt_protocol_version crdt_repl_backlog_size crdt_replica_id crdt_replicas crdt_sources ' +
    'crdt_sync crdt_sync_dist crdt_syncer_auto_oom_unlatch crdt_xadd_id_uniqueness_mode created_time ' +
    'data_internode_encryption data_persistence dataset_import_sources db_conns_auditing default_user ' +
    'disabled_commands dns_address_master email_alerts endpoint endpoint_ip endpoint_node endpoints ' +
    'enforce_client_authentication eviction_policy export_failure_reason export_progress export_status ' +
    'generate_text_monitor gradual_src_max_sources gradual_src_mode gradual_sync_max_shards_per_source ' +
    'gradual_sync_mode gradual_sync_policy hash_slots_policy implicit_shard_key import_failure_reason ' +
    'import_progress import_status internal last_backup_time last_changed_time last_export_time ' +
    'max_aof_file_size max_aof_load_time max_client_pipeline max_connections max_pipelined maxclients ' +
    'master_persistence memory_size metrics_export_all mkms module_list mtls_allow_outdated_certs ' +
    'mtls_allow_weak_hashing multi_commands_opt name oss_cluster oss_sharding port probabilistic ' +
    'proxy_policy query_performance_factor rack_aware recovery_wait_time redis_version repl_backlog_size ' +
    'replica_read_only replica_sconns_on_demand replica_sources replica_sync replica_sync_dist replication ' +
    'replication_oom_threshold_percent resp3 roles_permissions sched_policy search search_on_bigstore ' +
    'shard_block_crossslot_keys shard_block_foreign_keys shard_key_regex shard_list sharding shards_count ' +
    'shards_placement skip_import_analyze slave_buffer slave_ha slave_ha_priority snapshot_policy ssl ' +
    'status support_syncer_reconf sync sync_dedicated_threads sync_sources syncer_log_level syncer_mode ' +
    'tags timeseries tls_mode tracking_table_max_keys traffic_manually_disabled type use_nodes ' +
    'use_selective_flush version wait_command'
  ).split(' '),
);

const COMMON_HONORED = [
  'name',
  'memory_size',
  'shard_key_regex',
  'authentication_redis_pass',
  'tls_mode',
  'enforce_client_authentication',
  'authentication_ssl_client_certs',
  'replica_sources',
  'replica_sync',
  'data_persistence',
  'aof_policy',
  'snapshot_policy',
  'replication',
];
/** Fields POST /v1/bdbs honors. */
export const CREATE_FIELDS = new Set([
  ...COMMON_HONORED,
  'uid',
  'type',
  'shards_count',
  'sharding',
  'port',
  'hash_slots_policy',
]);
/** Fields PUT /v1/bdbs/{uid} honors (shards_count only unchanged: resharding is not implemented). */
export const UPDATE_FIELDS = new Set([...COMMON_HONORED, 'shards_count']);

/** RS fields whose only minirs behaviour is this value. */
export const FIXED_FIELDS: Record<string, { value: unknown; why: string }> = {
  replica_sync_dist: {
    value: false,
    why: 'minirs runs one centralized syncer per destination database; omit it or send false',
  },
  syncer_mode: {
    value: 'centralized',
    why: "minirs's syncer is centralized (one process per destination database); omit it or send centralized",
  },
  eviction_policy: {
    value: 'noeviction',
    why: 'minirs shards never evict (a full shard answers -OOM); omit it or send noeviction',
  },
  oss_cluster: {
    value: false,
    why: 'the OSS Cluster API is not implemented by minirs; omit it or send false',
  },
  type: { value: 'redis', why: 'minirs databases are Redis databases; omit it or send redis' },
  hash_slots_policy: { value: '16k', why: 'minirs hashes over 16384 slots; omit it or send 16k' },
};

/** Fields GET returns that a request cannot set. `uid` is settable on create only. */
export const READ_ONLY_FIELDS = new Set([
  'uid',
  'action_uid',
  'status',
  'endpoints',
  'shard_list',
  'created_time',
  'authentication_admin_pass',
  'sharding',
  'port',
  'sync_epoch',
  'failovers',
  'rereplications',
]);

const SOURCE_FIELDS = new Set([
  'uid',
  'uri',
  'compression',
  'encryption',
  'server_cert',
  'client_cert',
  'client_key',
  'replication_tls_sni',
]);
const SOURCE_READ_ONLY = new Set([
  'status',
  'rdb_size',
  'rdb_transferred',
  'lag',
  'last_update',
  'last_error',
]);

function checkSources(value: unknown, current: BdbState['replica_sources']): void {
  if (!Array.isArray(value)) return; // the schema names the type error
  value.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) return;
    const o = s as Record<string, unknown>;
    // A source sent back as GET returned it may repeat its status fields unchanged.
    const same = current.find((c) => c.uri === o.uri) as unknown as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(o)) {
      const path = `replica_sources[${i}].${k}`;
      if (SOURCE_FIELDS.has(k)) continue;
      if (SOURCE_READ_ONLY.has(k)) {
        if (same && isDeepStrictEqual(same[k], v)) continue;
        throw unsupportedField(path, `${k} is read-only status the syncer reports; remove it`);
      }
      throw unknownField(
        path,
        ' (a source has uid, uri, compression, encryption, server_cert, client_cert, client_key, replication_tls_sni)',
      );
    }
  });
}

/**
 * Throws a 400 naming the first field the body may not carry. `current` is the bdb a PUT
 * changes (undefined on create): a read-only or fixed field equal to its current value is a no-op.
 */
export function checkBdbFields(body: unknown, current: BdbState | undefined): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const honored = current ? UPDATE_FIELDS : CREATE_FIELDS;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (honored.has(k)) {
      if (k === 'replica_sources') checkSources(v, current?.replica_sources ?? []);
      continue;
    }
    const fixed = FIXED_FIELDS[k];
    if (fixed) {
      if (isDeepStrictEqual(v, fixed.value)) continue;
      throw unsupportedField(k, `${k}=${JSON.stringify(v)}: ${fixed.why}`);
    }
    if (READ_ONLY_FIELDS.has(k)) {
      const cur = current ? (current as unknown as Record<string, unknown>)[k] : undefined;
      if (current && isDeepStrictEqual(v, cur)) continue;
      throw unsupportedField(
        k,
        `${k} is read-only${current ? ` (it is ${JSON.stringify(cur)})` : ''}; remove it`,
      );
    }
    if (RS_BDB_FIELDS.has(k)) {
      throw unsupportedField(
        k,
        `${k} is an RS field minirs does not implement; remove it (see the cluster-manager README for what minirs honors)`,
      );
    }
    throw unknownField(k, '');
  }
}
