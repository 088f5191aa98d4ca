import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { dockerReadiness, freeLoopbackPort, MINIRS_IMAGE, REDIS_IMAGE } from '@minirs/harness/containers';

/**
 * docker/compose.yaml is for users' machines (a user-defined network, published ports). Its
 * structure is checked here (what each service needs from the image and from the others), and
 * where a Docker engine, the images and a compose tool (`docker compose` or Debian's
 * `docker-compose`) are present, it is run: up, init's Replica Of in sync, a write through a
 * published port, `run --rm init compare`, down.
 */

const root = resolve(import.meta.dirname, '..');
const file = join(root, 'docker/compose.yaml');
const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  networks: Record<string, unknown>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
};
interface Service {
  image: string;
  build?: { context: string; dockerfile: string };
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  networks?: string[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
}

function works(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function composePlugin(): boolean {
  return works('docker', ['compose', 'version']);
}

/** The compose command here: the plugin, else Debian's docker-compose (1.29). */
function composeCommand(): string[] | undefined {
  if (composePlugin()) return ['docker', 'compose'];
  if (works('docker-compose', ['version'])) return ['docker-compose'];
  return undefined;
}

/** A copy of docker/ with the secret files the README makes, so nothing is written into the repository. */
function composeCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'minirs-compose-'));
  mkdirSync(join(dir, 'docker/secrets'), { recursive: true });
  copyFileSync(file, join(dir, 'docker/compose.yaml'));
  copyFileSync(join(root, 'docker/Dockerfile'), join(dir, 'docker/Dockerfile'));
  for (const s of Object.values(compose.secrets)) writeFileSync(join(dir, 'docker', s.file), 'x'.repeat(32));
  return dir;
}

const clusters = Object.entries(compose.services).filter(([, s]) => s.environment?.MINIRS_CLUSTER_NAME);

describe('docker/compose.yaml', () => {
  it('has two clusters, an external Redis and a one-shot init on one user-defined network', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['east', 'init', 'redis', 'west']);
    expect(clusters.map(([n]) => n).sort()).toEqual(['east', 'west']);
    expect(Object.keys(compose.networks)).toEqual(['minirs']);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.networks, name).toEqual(['minirs']);
      expect(JSON.stringify(s), name).not.toContain('network_mode');
    }
  });

  it('each cluster is built from docker/Dockerfile, names itself after its service and keeps its state in a volume', async () => {
    const { readConfig } = await import('../docker/container-config.mjs');
    for (const [name, s] of clusters) {
      expect(existsSync(join(root, 'docker', s.build!.context, s.build!.dockerfile))).toBe(true);
      // init reaches a cluster by its service name and finds its files under /state/<name>.
      const cfg = readConfig({ ...s.environment, MINIRS_ADMIN_PASSWORD_FILE: '' });
      expect(cfg.name).toBe(name);
      expect(cfg.databases.length).toBeGreaterThan(0);
      expect(s.volumes).toEqual([`${name}-state:/var/lib/minirs`]);
      expect(compose.volumes).toHaveProperty(`${name}-state`);
      expect(s.secrets).toContain('minirs_admin_password');
    }
  });

  it('init makes a declared database a Replica Of declared sources once everything is healthy', async () => {
    const { readConfig } = await import('../docker/container-config.mjs');
    const init = compose.services.init!;
    expect(existsSync(join(root, init.entrypoint![1]!.replace('/opt/minirs/', '')))).toBe(true);
    const dbsOf = (cluster: string) =>
      readConfig({ ...compose.services[cluster]!.environment, MINIRS_ADMIN_PASSWORD_FILE: '' }).databases.map(
        (d: { name: string }) => d.name,
      );
    const env = init.environment!;
    const refs = [
      env.MINIRS_DEST!,
      ...env.MINIRS_SOURCES!.split(',').filter((s) => !s.startsWith('redis://')),
    ];
    for (const ref of refs) {
      const [cluster, db] = ref.split('/');
      expect(dbsOf(cluster!), ref).toContain(db);
      expect(init.volumes).toContain(`${cluster}-state:/state/${cluster}:ro`);
    }
    expect(env.MINIRS_SOURCES).toMatch(/redis:\/\/:@\/run\/secrets\/redis_password@redis:6379/);
    for (const dep of ['east', 'west', 'redis'])
      expect(init.depends_on?.[dep]?.condition).toBe('service_healthy');
    expect(compose.services.redis!.healthcheck).toBeDefined();
    for (const s of Object.values(compose.services)) {
      for (const secret of s.secrets ?? []) expect(compose.secrets).toHaveProperty(secret);
    }
  });

  const plugin = composePlugin();
  if (!plugin)
    console.warn('container-compose.test.ts: `docker compose` is not installed here; its own check skips');
  it.skipIf(!plugin)('docker compose config accepts it', () => {
    const dir = composeCopy();
    try {
      execFileSync('docker', ['compose', '-f', join(dir, 'docker/compose.yaml'), 'config', '-q'], {
        timeout: 30_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const composeCmd = composeCommand();
const engine = await dockerReadiness([MINIRS_IMAGE, REDIS_IMAGE]);
const runSkip = !composeCmd
  ? 'no compose tool (`docker compose` or `docker-compose`; scripts/docker-engine installs docker-compose)'
  : !engine.ok
    ? engine.reason
    : '';
if (runSkip) console.warn(`container-compose.test.ts: running the compose file skipped: ${runSkip}`);

describe.skipIf(!!runSkip)('docker/compose.yaml, run', () => {
  it('comes up, init makes west/copy a Replica Of east/orders and the Redis, a write through a published port reaches it, compare is clean, down leaves nothing', async () => {
    const dir = composeCopy();
    const project = `minirsct${process.pid}`;
    const [cmd, ...pre] = composeCmd!;
    const ports = {
      EAST_API_PORT: await freeLoopbackPort(),
      EAST_DB_PORT: await freeLoopbackPort(),
      WEST_API_PORT: await freeLoopbackPort(),
      WEST_DB_PORT: await freeLoopbackPort(),
    };
    const env = {
      ...process.env,
      MINIRS_IMAGE,
      MINIRS_REDIS_IMAGE: REDIS_IMAGE,
      MINIRS_PUBLISH_ADDR: '127.0.0.1',
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    const run = (args: string[], timeout = 240_000) =>
      execFileSync(cmd!, [...pre, '-p', project, '-f', join(dir, 'docker/compose.yaml'), ...args], {
        env,
        timeout,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    try {
      run(['up', '-d', '--no-build']);
      // init is one-shot: wait for it to exit, then read its code and its lines.
      const initId = run(['ps', '-a', '-q', 'init']).trim();
      expect(initId).not.toBe('');
      const code = execFileSync('docker', ['wait', initId], {
        env,
        timeout: 240_000,
        encoding: 'utf8',
      }).trim();
      const logs = run(['logs', '--no-color', 'init']);
      expect(code, logs).toBe('0');
      expect(logs).toMatch(/west\/copy: in-sync/);

      // A client on the host writes to east/orders through its published port.
      const east = new Redis({
        host: '127.0.0.1',
        port: ports.EAST_DB_PORT,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
      });
      try {
        await east.connect();
        for (let i = 0; i < 100; i++) await east.set(`compose:k${i}`, `v${i}`);
      } finally {
        east.disconnect();
      }
      const west = new Redis({
        host: '127.0.0.1',
        port: ports.WEST_DB_PORT,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
      });
      try {
        await west.connect();
        await expect.poll(() => west.get('compose:k99'), { timeout: 30_000, interval: 200 }).toBe('v99');
      } finally {
        west.disconnect();
      }
      const out = run(['run', '--rm', 'init', 'compare']);
      const result = JSON.parse(out.trim().split('\n').pop()!) as {
        missing: number;
        extra: number;
        different: number;
      };
      expect(result).toMatchObject({ missing: 0, extra: 0, different: 0 });
    } finally {
      try {
        run(['down', '-v', '--timeout', '10'], 120_000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const left = execFileSync(
      'docker',
      ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`],
      {
        env,
        encoding: 'utf8',
      },
    ).trim();
    expect(left).toBe('');
  }, 420_000);
});
