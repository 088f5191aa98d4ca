// The image's HEALTHCHECK: healthy when the REST API answers an authenticated request and every
// database MINIRS_DATABASES names exists and is active. Exit 0 healthy, 1 not (one line says why).
import { readFileSync } from 'node:fs';
import { clusterPaths } from '../packages/common/dist/index.js';
import { readConfig } from './container-config.mjs';
import { rest } from './rest.mjs';

/** @param {string} why */
function unhealthy(why) {
  process.stdout.write(`unhealthy: ${why}\n`);
  process.exit(1);
}

try {
  const cfg = readConfig();
  const paths = clusterPaths(cfg.name, cfg.home);
  let creds;
  let ca;
  try {
    creds = JSON.parse(readFileSync(paths.credentials, 'utf8'));
    ca = readFileSync(paths.caCert);
  } catch {
    unhealthy(`cluster "${cfg.name}" is not created yet in ${cfg.home}`);
  }
  const bdbs = await rest(
    { apiUrl: creds.api_url, username: creds.username, password: creds.password, ca },
    'GET',
    '/v1/bdbs',
  );
  for (const d of cfg.databases) {
    const b = bdbs.find((x) => x.name === d.name);
    if (!b) unhealthy(`database "${d.name}" does not exist yet`);
    if (b.status !== 'active') unhealthy(`database "${d.name}" is ${b.status}`);
  }
  process.stdout.write(`healthy: ${bdbs.length} database(s)\n`);
} catch (err) {
  unhealthy(err instanceof Error ? err.message : String(err));
}
