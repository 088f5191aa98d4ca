import { BDB_NAME_RE, CLUSTER_NAME_RE, ErrorCodes, MinirsError } from '@minirs/common';
import type { ApiClient, Bdb, ReplicaSourceRequest } from './api-client.js';
import { UsageError } from './usage-error.js';

/**
 * Replica Of source URIs. RS's three forms: a db of the same cluster as
 * `<db name>:redis://admin:<admin pass>@host:port`, a db of another cluster as the same URI
 * without the prefix, an external Redis as `redis://[:pass@]host:port` (password URL-encoded).
 */

/** "Get Replica of source URL": the db's endpoint with its internal admin password. */
export function sourceUrl(
  bdb: Pick<Bdb, 'authentication_admin_pass' | 'endpoints' | 'port' | 'name'>,
): string {
  const ep = bdb.endpoints?.[0];
  const host = ep?.addr?.[0];
  if (!host) {
    throw new MinirsError(
      ErrorCodes.INTERNAL,
      `database ${bdb.name} has no endpoint yet; wait until it is active`,
    );
  }
  const port = ep.port ?? bdb.port;
  return `redis://admin:${encodeURIComponent(bdb.authentication_admin_pass)}@${host}:${port}`;
}

export type SourceSpec =
  | { kind: 'uri'; uri: string }
  | { kind: 'db'; db: string }
  | { kind: 'cluster-db'; cluster: string; db: string };

const URI_RE = /^(?:([A-Za-z0-9][A-Za-z0-9-]*):)?(rediss?:\/\/.*)$/;

/** What a `--source` argument names, by its form alone; UsageError (exit 2) when it has none. */
export function parseSourceSpec(text: string): SourceSpec {
  const hint =
    'give a URI (redis://[user:pass@]host:port, optionally prefixed "<db>:"), "<cluster>/<db>", or a db name of the same cluster';
  if (text.includes('://')) {
    const m = URI_RE.exec(text);
    if (!m) throw new UsageError(`--source "${text}" is not a redis:// URI; ${hint}`, 'source');
    let url: URL;
    try {
      url = new URL(m[2]!);
    } catch {
      throw new UsageError(`--source "${text}" is not a valid URI; ${hint}`, 'source');
    }
    if (!url.hostname) throw new UsageError(`--source "${text}" has no host; ${hint}`, 'source');
    return { kind: 'uri', uri: text };
  }
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const cluster = text.slice(0, slash);
    const db = text.slice(slash + 1);
    if (!CLUSTER_NAME_RE.test(cluster) || !BDB_NAME_RE.test(db)) {
      throw new UsageError(`--source "${text}" is not "<cluster>/<db>"; ${hint}`, 'source');
    }
    return { kind: 'cluster-db', cluster, db };
  }
  if (!BDB_NAME_RE.test(text))
    throw new UsageError(`--source "${text}" is not a database name; ${hint}`, 'source');
  return { kind: 'db', db: text };
}

export interface SourceResolver {
  /** The destination's cluster and API: `<db>` sources live there. */
  cluster: string;
  api: ApiClient;
  /** Opens the API of another cluster, for `<cluster>/<db>` sources. */
  connect: (cluster: string) => Promise<ApiClient>;
}

export interface SourceOptions {
  compression?: number;
  /** TLS to the source; the source cluster's proxy certificate becomes `server_cert`. */
  encryption?: boolean;
  serverCert?: string;
}

/** Turns `--source` arguments into the `replica_sources` of PUT /v1/bdbs/{uid}. */
export async function resolveSources(
  specs: string[],
  r: SourceResolver,
  o: SourceOptions = {},
): Promise<ReplicaSourceRequest[]> {
  const parsed = specs.map(parseSourceSpec);
  const out: ReplicaSourceRequest[] = [];
  for (const spec of parsed) {
    let uri: string;
    let api: ApiClient | undefined;
    if (spec.kind === 'uri') {
      uri = spec.uri;
    } else if (spec.kind === 'db' || spec.cluster === r.cluster) {
      api = r.api;
      const bdb = await r.api.bdbByName(spec.db, r.cluster);
      uri = `${bdb.name}:${sourceUrl(bdb)}`;
    } else {
      api = await r.connect(spec.cluster);
      const bdb = await api.bdbByName(spec.db, spec.cluster);
      uri = sourceUrl(bdb);
    }
    const src: ReplicaSourceRequest = { uri };
    if (o.compression !== undefined) src.compression = o.compression;
    if (o.encryption) {
      src.encryption = true;
      const cert = o.serverCert ?? (api ? (await api.getCertificates()).proxy_cert : undefined);
      if (cert) src.server_cert = cert;
    }
    out.push(src);
  }
  return out;
}
