import {
  type BdbState,
  checkTransition,
  type ClusterState,
  invalid,
  parseSourceUri,
  type ReplicaSourceRequest,
  type ReplicaSourceState,
  redactForError,
  type SourceUri,
  transitionRestartsSync,
} from '@minirs/common';
import type { BdbUpdateRequest } from './schemas.js';

/** RS's limit on sources per destination. */
export const MAX_SOURCES = 32;

/** The bdb of this cluster a source URI points at, by endpoint address and port. */
export function localBdbOf(state: ClusterState, u: SourceUri): BdbState | undefined {
  if (u.dbName) {
    const byName = state.bdbs.find((b) => b.name === u.dbName);
    if (byName) return byName;
  }
  const local = new Set(['localhost', '127.0.0.1', ...state.cluster.nodes.map((n) => n.addr)]);
  return state.bdbs.find(
    (b) =>
      b.port === u.port &&
      (b.endpoints.some((e) => e.addr.includes(u.host)) ||
        (local.has(u.host) && state.cluster.loopback_fallback)),
  );
}

/** True when following replica sources from `from` (within this cluster) reaches `target`. */
function reaches(state: ClusterState, from: BdbState, target: number, seen = new Set<number>()): boolean {
  if (from.uid === target) return true;
  if (seen.has(from.uid)) return false;
  seen.add(from.uid);
  for (const s of from.replica_sources) {
    let u: SourceUri;
    try {
      u = parseSourceUri(s.uri);
    } catch {
      continue;
    }
    const next = localBdbOf(state, u);
    if (next && reaches(state, next, target, seen)) return true;
  }
  return false;
}

function freshSource(uid: number, input: ReplicaSourceRequest, uri: string): ReplicaSourceState {
  return {
    uid,
    uri,
    compression: input.compression ?? 0,
    encryption: input.encryption ?? false,
    server_cert: input.server_cert,
    client_cert: input.client_cert,
    client_key: input.client_key,
    replication_tls_sni: input.replication_tls_sni,
    status: 'syncing',
    rdb_size: 0,
    rdb_transferred: 0,
    lag: 0,
    last_update: null,
    last_error: '',
  };
}

/**
 * Validates a change of replica_sources / replica_sync and returns the bdb fields to set.
 * Throws a 400 naming the field; on a throw nothing has changed.
 */
export function replicaPatch(
  state: ClusterState,
  b: BdbState,
  body: Pick<BdbUpdateRequest, 'replica_sources' | 'replica_sync'>,
): Partial<BdbState> {
  const patch: Partial<BdbState> = {};
  let restart = false;
  let sources = b.replica_sources;

  if (body.replica_sources !== undefined) {
    const inputs: ReplicaSourceRequest[] = body.replica_sources;
    if (!Array.isArray(inputs))
      throw invalid('replica_sources', 'replica_sources must be an array of {uri, ...}');
    if (inputs.length > MAX_SOURCES) {
      throw invalid(
        'replica_sources',
        `a destination database can have at most ${MAX_SOURCES} sources; ${inputs.length} were given: remove ${inputs.length - MAX_SOURCES}`,
      );
    }
    const seen = new Set<string>();
    const next: ReplicaSourceState[] = [];
    inputs.forEach((input, i) => {
      const field = `replica_sources[${i}].uri`;
      const u = parseSourceUri(input.uri, field);
      const key = `${u.host}:${u.port}`;
      if (seen.has(key)) throw invalid(field, `source ${key} is listed twice; list each source once`);
      seen.add(key);
      const local = localBdbOf(state, u);
      if (u.dbName && !local) {
        throw invalid(
          field,
          `no database named "${u.dbName}" in this cluster; drop the prefix for a database of another cluster`,
        );
      }
      if (local?.uid === b.uid || (b.endpoints.some((e) => e.addr.includes(u.host)) && u.port === b.port)) {
        throw invalid(
          field,
          `database ${b.name} cannot be a replica of itself (${redactForError(input.uri)})`,
        );
      }
      if (local && reaches(state, local, b.uid)) {
        throw invalid(
          field,
          `making ${b.name} a replica of ${local.name} would create a replication cycle (${local.name} already replicates from ${b.name}); cyclic Replica Of is not supported`,
        );
      }
      if (local && u.admin && u.password !== local.authentication_admin_pass) {
        throw invalid(
          field,
          `the admin password in the URI of ${local.name} is wrong; get the current one with \`minirs db source-url\``,
        );
      }
      if (input.compression !== undefined && (input.compression < 0 || input.compression > 6)) {
        throw invalid(`replica_sources[${i}].compression`, 'compression is a gzip level from 0 (off) to 6');
      }
      const previous = b.replica_sources.find((s) => s.uri === input.uri);
      next.push(freshSource(input.uid ?? previous?.uid ?? i + 1, input, input.uri));
    });
    // uids stay unique even when the caller mixes given and generated ones.
    const used = new Set<number>();
    let n = 1;
    for (const s of next) {
      if (used.has(s.uid)) {
        while (used.has(n)) n++;
        s.uid = n;
      }
      used.add(s.uid);
    }
    const changed =
      next.length !== b.replica_sources.length ||
      next.some((s, i) => {
        const o = b.replica_sources[i];
        return (
          !o ||
          o.uri !== s.uri ||
          o.compression !== s.compression ||
          o.encryption !== s.encryption ||
          o.replication_tls_sni !== s.replication_tls_sni
        );
      });
    sources = next;
    patch.replica_sources = next;
    if (changed) restart = true;
    // Setting sources enables the sync; clearing them disables it.
    if (body.replica_sync === undefined) {
      if (next.length === 0) patch.replica_sync = 'disabled';
      else if (changed) patch.replica_sync = 'enabled';
    }
  }

  if (body.replica_sync !== undefined) {
    const to = body.replica_sync;
    const from = b.replica_sync;
    if (to !== from) {
      checkTransition(from, to);
      if (to === 'enabled' && sources.length === 0) {
        throw invalid(
          'replica_sync',
          'replica_sync cannot be enabled without replica_sources; add a source first',
        );
      }
      // Re-enabling a stopped or paused sync flushes the destination and starts over.
      if (transitionRestartsSync(from, to)) restart = true;
    }
    patch.replica_sync = to;
  }

  if (restart) {
    patch.sync_epoch = b.sync_epoch + 1;
    patch.replica_sources = (patch.replica_sources ?? b.replica_sources).map((s) => ({
      ...s,
      status: 'syncing',
      rdb_size: 0,
      rdb_transferred: 0,
      lag: 0,
      last_error: '',
      last_error_code: '',
      rejected_writes: 0,
      keys_loaded: 0,
      keys_total: undefined,
    }));
  }
  return patch;
}
