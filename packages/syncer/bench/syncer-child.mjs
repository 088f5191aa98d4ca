// The parent side of syncer-process.mjs: spawn the syncer alone in a child process, point it at a
// destination, await in-sync, read its memory from /proc.
import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** The runtime config the manager would send: one destination endpoint, external sources. */
export function syncerConfig(dest, sourceUris) {
  return {
    bdb_uid: 1,
    epoch: 1,
    replica_sync: 'enabled',
    destination: { host: dest.host, port: dest.port, password: dest.password ?? '', shards: [] },
    sources: sourceUris.map((uri, i) => ({ uid: i + 1, uri, compression: 0, encryption: false })),
    faults: [],
  };
}

/**
 * Starts the child; `profileName` (with BENCH_CPU_PROF=<dir>) runs it under --cpu-prof.
 * Returns { pid, readyMem, start(config) -> Promise<{ms, report, mem}>, report(), exit() }.
 */
export async function startSyncerChild(profileName, env) {
  const execArgv = [];
  const profDir = process.env.BENCH_CPU_PROF;
  if (profDir && profileName) {
    mkdirSync(profDir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profileName}.cpuprofile`);
  }
  const child = track(
    fork(join(here, 'syncer-process.mjs'), [], {
      execArgv,
      stdio: 'inherit',
      env: env ? { ...process.env, ...env } : process.env,
    }),
  );
  const next = (type) =>
    new Promise((resolve, reject) => {
      const onMsg = (m) => {
        if (m.type === type) {
          cleanup();
          resolve(m);
        } else if (m.type === 'stopped') {
          cleanup();
          reject(new Error(`syncer stopped: ${m.error}`));
        }
      };
      const onExit = (code) => {
        cleanup();
        reject(new Error(`syncer child exited (${code}) while waiting for ${type}`));
      };
      const cleanup = () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  const ready = await next('ready');
  return {
    pid: child.pid,
    /** kill -9 (resolves once it is gone). */
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
    readyMem: ready.mem,
    start(config) {
      const done = next('in-sync');
      child.send({ type: 'go', config });
      return done;
    },
    async report() {
      const r = next('report');
      child.send({ type: 'report' });
      return (await r).report;
    },
    /** Largest heap / Buffer figures of the child so far (process.memoryUsage(), bytes). */
    async peakUsage() {
      const r = next('report');
      child.send({ type: 'report' });
      return (await r).peakUsage;
    },
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
