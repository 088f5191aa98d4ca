import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';

/** A private, short MINIRS_HOME (Unix socket paths must stay under ~100 bytes). */
export function tmpHome(tag = 'h'): string {
  return mkdtempSync(join('/tmp', `mrs-${tag}-`));
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/** Poll `check` until it returns a truthy value; fail with `what` after timeoutMs. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  what: string,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every live process whose command line or environment mentions `home` (our clusters' processes do). */
export function processesUnder(home: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z') continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let env = '';
      try {
        env = readFileSync(`/proc/${d}/environ`, 'utf8');
      } catch {
        // not ours to read
      }
      let cwd = '';
      try {
        // redis-server rewrites its environ; its working dir is its shard's data dir.
        cwd = readlinkSync(`/proc/${d}/cwd`);
      } catch {
        // not ours to read
      }
      if (cmd.includes(home) || env.includes(`MINIRS_HOME=${home}`) || cwd.startsWith(`${home}/`)) {
        out.push({ pid: Number(d), cmd: cmd.trim() });
      }
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** SIGKILL whatever of a test's clusters is still running under `home` (teardown, even on failure). */
export function killProcessesUnder(home: string): void {
  for (const p of processesUnder(home)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
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
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
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
