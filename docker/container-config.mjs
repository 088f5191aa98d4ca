// The container's configuration, read from the environment by the entrypoint and the healthcheck.
// Plain ESM (the image runs it as is); the packages are reached by path, as the processes are.
import { existsSync, readFileSync } from 'node:fs';
import { ErrorCodes, MinirsError } from '../packages/common/dist/index.js';

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;

/**
 * @typedef {{ name: string, shards?: number, memory?: number | string, password?: string, port?: number }} DatabaseSpec
 * @typedef {{
 *   name: string, nodes: number, apiPort: number, dbPortBase: number, home: string,
 *   username: string, passwordFile: string, password: string | undefined,
 *   databases: DatabaseSpec[], index: number | undefined, publish: boolean,
 * }} ContainerConfig
 */

/** @param {string} msg @param {string} field */
function bad(msg, field) {
  return new MinirsError(ErrorCodes.INVALID_ARGUMENT, msg, { field });
}

/** @param {NodeJS.ProcessEnv} env @param {string} key @param {number} dflt @param {number} min @param {number} max */
function int(env, key, dflt, min, max) {
  const raw = env[key];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw bad(`${key}=${raw} is invalid: use a whole number from ${min} to ${max}`, key);
  }
  return n;
}

/** @param {unknown} raw @returns {DatabaseSpec[]} */
function databases(raw) {
  if (raw === undefined || raw === '') return [];
  let parsed;
  try {
    parsed = JSON.parse(String(raw));
  } catch {
    throw bad(
      'MINIRS_DATABASES is not JSON: use e.g. [{"name":"orders","shards":2,"memory":"100mb"}]',
      'MINIRS_DATABASES',
    );
  }
  if (!Array.isArray(parsed))
    throw bad('MINIRS_DATABASES must be a JSON array of databases', 'MINIRS_DATABASES');
  const seen = new Set();
  return parsed.map((d, i) => {
    if (typeof d !== 'object' || d === null || typeof d.name !== 'string' || d.name === '') {
      throw bad(`MINIRS_DATABASES[${i}] needs a "name"`, 'MINIRS_DATABASES');
    }
    if (seen.has(d.name)) throw bad(`MINIRS_DATABASES names "${d.name}" twice`, 'MINIRS_DATABASES');
    seen.add(d.name);
    for (const k of Object.keys(d)) {
      if (!['name', 'shards', 'memory', 'password', 'port'].includes(k)) {
        throw bad(
          `MINIRS_DATABASES[${i}] has an unknown field "${k}": use name, shards, memory, password, port`,
          'MINIRS_DATABASES',
        );
      }
    }
    return d;
  });
}

/** @param {NodeJS.ProcessEnv} env @returns {ContainerConfig} */
export function readConfig(env = process.env) {
  const name = env.MINIRS_CLUSTER_NAME || 'minirs';
  if (!NAME_RE.test(name)) {
    throw bad(
      `MINIRS_CLUSTER_NAME=${name} is invalid: use 1-31 lower-case letters, digits and hyphens`,
      'MINIRS_CLUSTER_NAME',
    );
  }
  const passwordFile = env.MINIRS_ADMIN_PASSWORD_FILE || '/run/secrets/minirs_admin_password';
  let password;
  if (existsSync(passwordFile)) {
    password = readFileSync(passwordFile, 'utf8').trim();
    if (password.length < 8) {
      throw bad(
        `the admin password in ${passwordFile} is shorter than 8 characters; put a longer one in the secret`,
        'MINIRS_ADMIN_PASSWORD_FILE',
      );
    }
  } else if (env.MINIRS_ADMIN_PASSWORD_FILE) {
    throw bad(
      `MINIRS_ADMIN_PASSWORD_FILE=${passwordFile} does not exist; mount the secret there or unset the variable`,
      'MINIRS_ADMIN_PASSWORD_FILE',
    );
  }
  const publish = (env.MINIRS_PUBLISH ?? 'auto').toLowerCase();
  if (!['auto', 'off'].includes(publish)) {
    throw bad(`MINIRS_PUBLISH=${env.MINIRS_PUBLISH} is invalid: use auto or off`, 'MINIRS_PUBLISH');
  }
  return {
    name,
    nodes: int(env, 'MINIRS_NODES', 3, 1, 32),
    apiPort: int(env, 'MINIRS_API_PORT', 9443, 1024, 65535),
    dbPortBase: int(env, 'MINIRS_DB_PORT_BASE', 12000, 1024, 65535),
    home: env.MINIRS_HOME || '/var/lib/minirs',
    username: env.MINIRS_ADMIN_USERNAME || `admin@${name}.minirs.local`,
    passwordFile,
    password,
    databases: databases(env.MINIRS_DATABASES),
    index: env.MINIRS_CLUSTER_INDEX ? int(env, 'MINIRS_CLUSTER_INDEX', 0, 1, 254) : undefined,
    publish: publish === 'auto',
  };
}
