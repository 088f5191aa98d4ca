import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from '../src/context.js';
import { runCli } from '../src/program.js';

/** A short temp dir (unix socket paths under it must stay < 100 chars). */
export function shortTempDir(prefix: string): string {
  return mkdtempSync(join(process.env.MINIRS_TEST_HOME ?? tmpdir(), prefix));
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with captured output and MINIRS_HOME = home. */
export async function cli(home: string, ...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...process.env, MINIRS_HOME: home },
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
