import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '@minirs/common';

export const CLI_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
export const MANAGER_MAIN = fileURLToPath(new URL('../../cluster-manager/dist/main.js', import.meta.url));
export const HAVE_MANAGER = existsSync(MANAGER_MAIN);

export interface ProcRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built `minirs` as a subprocess, with MINIRS_HOME = home; killed if it outlives timeoutMs. */
export function minirs(home: string, args: string[], timeoutMs = 60_000): Promise<ProcRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { ...process.env, MINIRS_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c));
    p.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`minirs ${args.join(' ')} did not end within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** What a cluster left running under `home` (the harness's process-table rule). */
export { processesUnder as processesOfHome } from '@minirs/harness';

export { freePort };
