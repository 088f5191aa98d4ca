import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@minirs/harness';
import {
  dockerReadiness,
  MINIRS_IMAGE,
  MinirsContainer,
  releaseIndex,
  type StartedMinirsContainer,
} from '@minirs/harness/containers';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The image itself: its healthcheck, a clean stop on SIGTERM (every process of the cluster
 * stopped by the entrypoint, none left behind), and a restart from the same state volume.
 */

const docker = await dockerReadiness([MINIRS_IMAGE]);
if (!docker.ok) console.warn(`container-image.test.ts skipped: ${docker.reason}`);

/** Host pids of a process and all its descendants (through /proc/<pid>/task/<tid>/children). */
function processTree(root: number): number[] {
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ').filter(Boolean)) walk(Number(c));
    }
  };
  walk(root);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!docker.ok)('the minirs image', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'minirs-image-test-'));
  let first: StartedMinirsContainer | undefined;
  let second: StartedMinirsContainer | undefined;
  let index: number | undefined;

  beforeAll(async () => {
    first = await new MinirsContainer(MINIRS_IMAGE)
      .withClusterName('img')
      .withNodes(2)
      .withDatabase({ name: 'keep', shards: 2, memory: '50mb' })
      .withStateDir(stateDir)
      .start();
    index = first.clusterIndex;
  }, 180_000);

  afterAll(async () => {
    await first?.stop().catch(() => {});
    await second?.stop().catch(() => {});
    if (index !== undefined) releaseIndex(index, stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('answers its healthcheck', async () => {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await getContainerRuntimeClient();
    const c = client.container.getById(first!.getId());
    const health = await waitFor(
      async () => {
        const s = (await client.container.inspect(c)).State.Health;
        return s?.Status === 'healthy' ? s : undefined;
      },
      'the container to be healthy',
      60_000,
      500,
    );
    expect(health.Log.at(-1)?.Output).toMatch(/^healthy: 1 database/);
  });

  it('stops on SIGTERM within the 10 s grace, with no process left', async () => {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await getContainerRuntimeClient();
    const c = client.container.getById(first!.getId());
    const info = await client.container.inspect(c);
    const tree = processTree(info.State.Pid);
    const cmdlines = tree.map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    });
    // tini, the entrypoint, the manager, proxies, shards and their redis-servers.
    expect(cmdlines.filter((c) => c.includes('redis-server')).length).toBe(2);
    expect(cmdlines.some((c) => c.includes('cluster-manager'))).toBe(true);

    const ep = await first!.getEndpoint('keep');
    const r = new Redis(ep.url);
    await r.set('k', 'v');
    r.disconnect();

    // docker stop: SIGTERM, then SIGKILL after 10 s. Exit code 0 is the entrypoint's own
    // (a kill would be 137); its last line lists what was still running (nothing).
    await first!.stop({ timeout: 10_000, remove: false });
    const stopped = await client.container.inspect(c);
    expect(stopped.State.ExitCode).toBe(0);
    expect(stopped.State.OOMKilled).toBe(false);
    const logs = await new Promise<string>((resolve, reject) => {
      c.logs({ stdout: true, stderr: true }, (err, data) => (err ? reject(err) : resolve(String(data))));
    });
    const last = logs
      .split('\n')
      .filter((l) => l.includes('"msg":"container stopped"'))
      .at(-1);
    expect(last).toContain('"left":[]');
    expect(tree.filter(alive)).toEqual([]);
    await client.container.remove(c);
    first = undefined;
  });

  it('a new container on the same state volume keeps the databases', async () => {
    second = await new MinirsContainer(MINIRS_IMAGE).withClusterName('img').withStateDir(stateDir).start();
    const bdbs = await second.api.listBdbs();
    expect(bdbs.map((b) => ({ name: b.name, shards: b.shards_count, memory: b.memory_size }))).toEqual([
      { name: 'keep', shards: 2, memory: 50 * 1024 * 1024 },
    ]);
    const ep = await second.getEndpoint('keep');
    expect(second.clusterIndex).toBe(index);
    expect(ep.host).toBe(`127.0.${index}.1`);
    const r = new Redis(ep.url);
    expect(await r.ping()).toBe('PONG');
    await r.set('again', '1');
    expect(await r.get('again')).toBe('1');
    r.disconnect();
  });
});
