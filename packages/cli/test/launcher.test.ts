import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, MinirsError } from '@minirs/common';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { launchManager, pidAlive, waitForExit } from '@minirs/harness';
import { shortTempDir } from './helpers.js';

const scripted = fileURLToPath(new URL('./fixtures/scripted-manager.mjs', import.meta.url));
const home = shortTempDir('cli-launch-');
const started: number[] = [];
afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitForExit([pid], 5000);
  }
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

function launch(mode: string, name: string, timeoutMs = 10_000) {
  return launchManager({
    name,
    home,
    mode: 'create',
    nodes: 2,
    managerMain: scripted,
    env: { ...process.env, SCRIPTED_MODE: mode },
    timeoutMs,
  });
}

async function failure(p: Promise<unknown>): Promise<MinirsError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MinirsError);
    return err as MinirsError;
  }
  throw new Error('expected a failure');
}

describe('launchManager (fd 3 protocol)', () => {
  it('returns the ready line and leaves the manager running, its output moved into the cluster', async () => {
    const ready = await launch('ready', 'ok1');
    started.push(ready.pid);
    expect(ready).toMatchObject({
      name: 'ok1',
      api_url: 'https://127.0.0.1:1',
      username: 'admin',
      password: 'pw',
      ca_cert: join(home, 'ok1', 'ca.pem'),
      nodes: [{ uid: 1, addr: '127.0.0.1' }],
    });
    expect(pidAlive(ready.pid)).toBe(true);
    const out = join(home, 'ok1', 'logs', 'manager.out');
    expect(readFileSync(out, 'utf8')).toContain(`scripted manager create ok1 pid ${ready.pid}`);
    expect(readdirSync(home).filter((f) => f.startsWith('.launch'))).toEqual([]);
  });

  it("passes on the manager's own error code and message", async () => {
    const err = await failure(launch('fail', 'f1'));
    expect(err.code).toBe(ErrorCodes.PORT_IN_USE);
    expect(err.message).toBe('port 9443 is in use; pass another --api-port');
    expect(readdirSync(home).filter((f) => f.startsWith('.launch'))).toEqual([]);
  });

  it('a manager that dies before reporting: the reason and the tail of its output', async () => {
    const err = await failure(launch('crash', 'c1'));
    expect(err.code).toBe(ErrorCodes.MANAGER_DOWN);
    expect(err.message.split('\n')[0]).toBe(
      'the manager of cluster "c1" failed before it was ready (exit code 3)',
    );
    expect(err.message).toContain('Error: boom at startup');
    expect(existsSync(join(home, 'c1'))).toBe(false);
  });

  it('a manager that never reports is stopped at the timeout', async () => {
    const err = await failure(launch('silent', 's1', 500));
    expect(err.code).toBe(ErrorCodes.TIMEOUT);
    expect(err.message).toMatch(/did not report ready within 0.5 s; it was stopped/);
    const pid = Number(/pid (\d+)/.exec(err.message)?.[1]);
    expect(await waitForExit([pid], 5000)).toEqual([]);
  });

  it('says what to do when the manager is not built', async () => {
    const err = await failure(
      launchManager({ name: 'x', home, mode: 'start', managerMain: join(home, 'missing.js') }),
    );
    expect(err.message).toMatch(/cluster-manager is not built .* run `pnpm build`/);
  });
});
