// The one-shot `init` service of docker/compose.yaml: makes the destination database a Replica
// Of its sources (a database of another cluster container and an external Redis), waits until it
// is in sync, and with `compare` checks the three key by key.
//
//   node compose-init.mjs [replicate|compare]
//
// Environment: MINIRS_DEST (cluster/db), MINIRS_SOURCES (cluster/db or redis:// URIs, comma
// separated; `@/run/secrets/x` in a URI's password reads the secret), MINIRS_STATE (where the
// clusters' volumes are mounted, one folder per cluster), MINIRS_ADMIN_PASSWORD_FILE.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareDatabases, replicaStatus } from '../packages/local/dist/index.js';
import { clusterPaths, maskUri } from '../packages/common/dist/index.js';
import { rest } from './rest.mjs';

const env = process.env;
const state = env.MINIRS_STATE || '/state';
const password = readFileSync(
  env.MINIRS_ADMIN_PASSWORD_FILE || '/run/secrets/minirs_admin_password',
  'utf8',
).trim();
const [destCluster, destDb] = (env.MINIRS_DEST || 'west/copy').split('/');
const sources = (env.MINIRS_SOURCES || 'east/orders')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/** The REST API of a cluster container, reached by its service name (its certificate names localhost). */
function api(cluster) {
  const paths = clusterPaths(cluster, join(state, cluster));
  const creds = JSON.parse(readFileSync(paths.credentials, 'utf8'));
  const port = new URL(creds.api_url).port;
  const o = {
    apiUrl: `https://${cluster}:${port}`,
    username: creds.username,
    password,
    ca: readFileSync(paths.caCert),
    servername: 'localhost',
  };
  return {
    bdbByName: async (/** @type {string} */ name) => {
      const b = (await rest(o, 'GET', '/v1/bdbs')).find(
        (/** @type {{ name: string }} */ x) => x.name === name,
      );
      if (!b)
        throw new Error(
          `cluster ${cluster} has no database "${name}"; check MINIRS_DATABASES of its service`,
        );
      return b;
    },
    getBdb: (/** @type {number} */ uid) => rest(o, 'GET', `/v1/bdbs/${uid}`),
    updateBdb: (/** @type {number} */ uid, /** @type {unknown} */ body) =>
      rest(o, 'PUT', `/v1/bdbs/${uid}`, body),
  };
}

/** A `redis://` URI with `@/run/secrets/x` as its password reads it from that file. */
function withSecret(uri) {
  return uri.replace(
    /:@(\/[^@]+)@/,
    (_, file) => `:${encodeURIComponent(readFileSync(file, 'utf8').trim())}@`,
  );
}

/** cluster/db -> redis://admin:<admin pass>@<cluster service>:<port>; a URI stays as it is. */
async function sourceUri(s) {
  if (s.startsWith('redis://') || s.startsWith('rediss://')) return withSecret(s);
  const [cluster, db] = s.split('/');
  const b = await api(cluster).bdbByName(db);
  return `redis://admin:${encodeURIComponent(b.authentication_admin_pass)}@${cluster}:${b.port}`;
}

async function waitInSync(client, uid) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const view = replicaStatus(await client.getBdb(uid));
    if (view.status === 'in-sync') return view;
    if (view.status === 'stopped' || Date.now() > deadline) {
      throw new Error(
        `replica of ${destCluster}/${destDb} is ${view.status}: ${JSON.stringify(view.sources)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const uris = await Promise.all(sources.map(sourceUri));
const dest = api(destCluster);
{
  const b = await dest.bdbByName(destDb);
  const destUri = `redis://${b.authentication_redis_pass ? `:${encodeURIComponent(b.authentication_redis_pass)}@` : ''}${destCluster}:${b.port}`;
  if ((process.argv[2] ?? 'replicate') === 'compare') {
    const result = await compareDatabases(uris, destUri);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = result.missing + result.extra + result.different === 0 ? 0 : 1;
  } else {
    await dest.updateBdb(b.uid, { replica_sources: uris.map((uri) => ({ uri })) });
    process.stdout.write(
      `${destCluster}/${destDb} is a Replica Of ${uris.map((u) => maskUri(u)).join(', ')}\n`,
    );
    const view = await waitInSync(dest, b.uid);
    process.stdout.write(`${destCluster}/${destDb}: ${view.status}\n`);
  }
}
