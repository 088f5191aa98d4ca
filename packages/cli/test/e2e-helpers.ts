import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/** Every live process whose environment carries MINIRS_HOME=home: what a cluster left running. */
export function processesOfHome(home: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, 'latin1').split('\0').includes(`MINIRS_HOME=${home}`)) {
        const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
        if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(d));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export { freePort };
