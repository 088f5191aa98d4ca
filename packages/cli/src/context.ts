import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type ApiClient,
  type ClusterConnection,
  connectCluster,
  type LifecycleOptions,
} from '@minirs/local';

/** Where a command writes; process.stdout/stderr in the binary, buffers in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** What every command shares: MINIRS_HOME, output, and the API clients it opened. */
export class CliContext {
  readonly home: string;
  private readonly clients: ApiClient[] = [];
  /** Set by a command that completed but must still exit non-zero. */
  exitCode = 0;

  constructor(readonly io: CliIo) {
    this.home = resolve(io.env.MINIRS_HOME || join(homedir(), '.minirs'));
  }

  get lifecycle(): LifecycleOptions {
    return { home: this.home, env: { ...this.io.env, MINIRS_HOME: this.home } };
  }

  /** A line of human output. */
  print(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** The `--json` output of a command: one JSON document. */
  json(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Out-of-band notes (not the command's result): stderr, so `--json` output stays clean. */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }

  /** The cluster's API; a manager that died is brought back first, with a note saying so. */
  async connect(cluster: string): Promise<ClusterConnection> {
    const c = await connectCluster(cluster, {
      ...this.lifecycle,
      autoStart: true,
      notify: (line) => this.note(line),
    });
    this.clients.push(c.api);
    return c;
  }

  close(): void {
    for (const c of this.clients.splice(0)) c.close();
  }
}

/** Fixed-width columns for human tables. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatBytes(n: number): string {
  const units = ['b', 'kb', 'mb', 'gb', 'tb'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    u++;
  }
  if (v >= 1024 && u < units.length - 1) {
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return `${v.toFixed(1)}${units[u]}`;
  }
  return `${v}${units[u]}`;
}
