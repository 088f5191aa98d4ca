import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { isClusterProcess, pidAlive, processCmdline } from '@minirs/harness';
import { CLI_MAIN, HAVE_MANAGER, MANAGER_MAIN } from './e2e-helpers.js';
import { cli, shortTempDir } from './helpers.js';

if (!HAVE_MANAGER) {
  console.warn(
    `demo test skipped: the cluster-manager is not built (${MANAGER_MAIN} is missing); run pnpm build`,
  );
}

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The demo's private MINIRS_HOME, from its second line. */
  home: string;
}

const live = new Set<ChildProcess>();
/** A quick demo takes under a minute; a machine shared with other test runs may triple that. */
const DEMO_TIMEOUT_MS = 300_000;

/**
 * The built CLI's `demo --quick` as a subprocess without a TTY (like CI), with TMPDIR pointing
 * into `tmp` so the demo's private home is found there. `onStdout` may act on the output so far
 * (e.g. interrupt it).
 */
function runDemo(
  tmp: string,
  args: string[],
  onStdout?: (sofar: string, p: ChildProcess) => void,
  timeoutMs = DEMO_TIMEOUT_MS - 10_000,
): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI_MAIN, 'demo', '--quick', ...args], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c: Buffer) => {
      stdout += c;
      onStdout?.(stdout, p);
    });
    p.stderr!.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`minirs demo did not end within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      live.delete(p);
      const home = /^home: (\S+) /m.exec(stdout)?.[1] ?? '';
      resolve({ code, stdout, stderr, home });
    });
  });
}

/**
 * Live processes of a demo's home as "pid command": node and redis-server tied to it by
 * environment, command line or working directory (redis-server overwrites its environment, but
 * works in its data dir under the home).
 */
function leftovers(home: string): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .map(Number)
    .filter((pid) => isClusterProcess(pid, { dir: home, home }))
    .map((pid) => `${pid} ${processCmdline(pid)}`);
}

function sh(cmd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c));
    p.stderr.on('data', (c: Buffer) => (out += c));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}

const HEADINGS = [
  '== 1/6 Two clusters and an external Redis ==',
  '== 2/6 Data of every type, with TTLs, in both sources ==',
  '== 3/6 Replica Of: west/replica <- east/orders + external Redis, full sync ==',
  '== 4/6 Live writes',
  '== 5/6 Faults while the writer goes on',
  '== 6/6 Compare',
];

describe('minirs demo: usage', () => {
  it('refuses an unknown option with exit 2, before starting anything', async () => {
    const home = shortTempDir('dmu-');
    try {
      const r = await cli(home, 'demo', '--bogus');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unknown option '--bogus'/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!HAVE_MANAGER)('minirs demo --quick (real clusters, redis-server, syncer)', () => {
  const tmp = shortTempDir('dmt-');
  const homes: string[] = [];
  afterAll(async () => {
    for (const p of live) p.kill('SIGKILL');
    // A failed assertion may leave a demo's processes behind; its home is private, so all of
    // them are the test's to end.
    for (const h of homes) {
      for (const pid of leftovers(h).map((l) => Number.parseInt(l, 10))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs every step, finds the destination identical, exits 0 and leaves nothing behind', {
    timeout: DEMO_TIMEOUT_MS,
  }, async () => {
    const r = await runDemo(tmp, []);
    homes.push(r.home);
    expect(r.stderr, r.stdout).toBe('');
    expect(r.code, r.stdout).toBe(0);
    let at = -1;
    for (const h of HEADINGS) {
      const i = r.stdout.indexOf(h);
      expect(i, `heading "${h}" in order`).toBeGreaterThan(at);
      at = i;
    }
    expect(r.home.startsWith(`${tmp}/minirs-demo-`)).toBe(true);
    // Every type loaded, the full sync reached both sources, the faults were seen and healed.
    expect(r.stdout).toMatch(/hash, list, string, string \(int\), set, zset, stream, hyperloglog, geo/);
    expect(r.stdout).toMatch(/full sync done in [\d.]+ s: west\/replica holds 5,000 keys/);
    expect(r.stdout).toMatch(/east\/orders: Synced \(lag \d+ ms\)\s+\|\s+external: Synced \(lag \d+ ms\)/);
    expect(r.stdout).toMatch(/east\/orders: Out of sync/);
    expect(r.stdout).toMatch(/recovered [\d.]+ s after the heal/);
    expect(r.stdout).toMatch(/recovered [\d.]+ s after the kill/);
    expect(r.stdout).toMatch(/writer stopped: [\d,]+ writes, no errors/);
    expect(r.stdout).toMatch(/checked [\d,]+ keys in [\d.]+ s: 0 missing, 0 extra, 0 different/);
    expect(r.stdout).toMatch(/^VERDICT: identical\. west\/replica equals its 2 sources key by key/m);
    // No TTY: plain lines, no escape codes of the progress bar.
    expect(r.stdout).not.toContain('\x1b');
    // The external source's password needs URL-encoding and is never printed in a URI.
    expect(r.stdout).toMatch(/source external:\s+redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/);
    expect(r.stdout).toContain('== Clean up ==');
    expect(r.stdout).toMatch(/clusters deleted: east, west/);
    expect(existsSync(r.home)).toBe(false);
    expect(leftovers(r.home)).toEqual([]);
  });

  it('cleans up on Ctrl-C (SIGINT) and exits 130', { timeout: DEMO_TIMEOUT_MS }, async () => {
    let sent = false;
    const r = await runDemo(tmp, [], (sofar, p) => {
      // While both clusters and the external redis-server are still starting: the hardest
      // moment to clean up after.
      if (!sent && sofar.includes('== 1/6')) {
        sent = true;
        p.kill('SIGINT');
      }
    });
    homes.push(r.home);
    expect(sent).toBe(true);
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted; cleaning up');
    expect(r.stdout).toContain('Interrupted.');
    expect(r.stdout).not.toContain('VERDICT');
    expect(r.stdout).toMatch(/clusters deleted: (east, west|west, east)/);
    expect(existsSync(r.home)).toBe(false);
    expect(leftovers(r.home)).toEqual([]);
  });

  it('--keep leaves everything running and prints cleanup commands that work', {
    timeout: DEMO_TIMEOUT_MS,
  }, async () => {
    const r = await runDemo(tmp, ['--keep']);
    homes.push(r.home);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^VERDICT: identical/m);
    expect(r.stdout).toContain('== Kept: everything is still running ==');
    expect(r.stdout).not.toContain('== Clean up ==');
    expect(existsSync(r.home)).toBe(true);
    const externalPid = Number(
      /^ {4}kill (\d+) && while kill -0 \1 2>\/dev\/null; do sleep 0\.1; done {3}# the external redis-server$/m.exec(
        r.stdout,
      )?.[1],
    );
    expect(pidAlive(externalPid)).toBe(true);
    const running = leftovers(r.home);
    expect(running.filter((l) => l.includes('cluster-manager/dist/main.js'))).toHaveLength(2);
    expect(running.filter((l) => l.includes('syncer/dist/main.js'))).toHaveLength(1);
    // 2 + 3 shards' redis-servers, and the external one.
    expect(running.filter((l) => /redis-server/.test(l)).length).toBeGreaterThanOrEqual(6);

    // The printed status command works against the kept clusters.
    const status = /^ {4}(MINIRS_HOME=\S+ node \S+) status west replica --watch$/m.exec(r.stdout);
    expect(status, r.stdout).not.toBeNull();
    const st = await sh(`${status![1]} status west replica --json`);
    expect(st.code, st.out).toBe(0);
    expect(JSON.parse(st.out)).toMatchObject({ status: 'in-sync', replica_sync: 'enabled' });

    // The printed cleanup commands leave nothing behind.
    const cleanup = r.stdout.slice(r.stdout.indexOf('Clean up:')).split('\n').slice(1);
    const cmds = cleanup
      .filter((l) => l.startsWith('    '))
      .map((l) => l.trim().replace(/\s+#.*$/, ''))
      .filter(Boolean);
    expect(cmds).toHaveLength(3);
    for (const c of cmds) {
      const res = await sh(c);
      expect(res.code, `${c}\n${res.out}`).toBe(0);
    }
    // kill sends SIGTERM: wait (bounded) for the external redis-server to go.
    const deadline = Date.now() + 10_000;
    while (pidAlive(externalPid) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(pidAlive(externalPid)).toBe(false);
    expect(leftovers(r.home)).toEqual([]);
    expect(existsSync(r.home)).toBe(false);
  });
});
