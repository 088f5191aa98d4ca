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
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * docker/compose.yaml is for users' machines (a user-defined network, published ports); CI does
 * not run it, so its structure is checked here: what each service needs from the image and from
 * the others. `docker compose config` checks it too where the compose plugin is installed.
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

function composePlugin(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
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
    // A copy with the secret files the README makes, so nothing is written into the repository.
    const dir = mkdtempSync(join(tmpdir(), 'minirs-compose-'));
    try {
      mkdirSync(join(dir, 'docker/secrets'), { recursive: true });
      copyFileSync(file, join(dir, 'docker/compose.yaml'));
      copyFileSync(join(root, 'docker/Dockerfile'), join(dir, 'docker/Dockerfile'));
      for (const s of Object.values(compose.secrets))
        writeFileSync(join(dir, 'docker', s.file), 'x'.repeat(32));
      execFileSync('docker', ['compose', '-f', join(dir, 'docker/compose.yaml'), 'config', '-q'], {
        timeout: 30_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
