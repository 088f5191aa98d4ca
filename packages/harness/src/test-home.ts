import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { processesOf, signal } from '@minirs/local';

/** A private, short MINIRS_HOME (Unix socket paths must stay under ~100 bytes). */
export function tmpHome(tag = 'h'): string {
  return mkdtempSync(join('/tmp', `mrs-${tag}-`));
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/**
 * Every live process whose command line, environment or working directory names `home`, whatever
 * its command: what a test's clusters left running (`expect(processesUnder(home)).toEqual([])`).
 */
export function processesUnder(home: string): number[] {
  return processesOf({ dir: home, home }, { anyCommand: true });
}

/** SIGKILLs processesUnder(home) (a test's teardown, even after a failure). Returns the pids. */
export function killProcessesUnder(home: string): number[] {
  const pids = processesUnder(home);
  for (const pid of pids) signal(pid, 'SIGKILL');
  return pids;
}

/** A raw HTTPS call to a cluster's API, for checking auth and validation answers. */
export function rest(
  apiUrl: string,
  ca: string,
  method: string,
  path: string,
  opts: { auth?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, apiUrl);
    const data = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const req = request(
      u,
      {
        method,
        ca,
        headers: {
          ...(opts.auth ? { authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { text };
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
