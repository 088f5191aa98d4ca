import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { clusterPaths, type ErrorCode, ErrorCodes, MinirsError } from '@minirs/common';

/**
 * Starts a cluster-manager process, detached so it outlives the CLI. The manager reports on
 * fd 3 with exactly one JSON line — ready (API listening, children started) or the reason it
 * failed — and closes it; the CLI waits for that line, then lets go of the process.
 */

export interface LaunchOptions {
  name: string;
  /** MINIRS_HOME of the cluster; handed to the manager's environment. */
  home: string;
  mode: 'create' | 'start';
  /** `create` only; the manager applies its own defaults for what is left out. */
  nodes?: number;
  apiPort?: number;
  dbPortBase?: number;
  /** --net auto|netns|loopback (create). */
  net?: string;
  /** Environment of the manager (default: this process's), MINIRS_HOME always set to `home`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** The manager's entry point; default: the cluster-manager package next to this one. */
  managerMain?: string;
}

export interface ManagerReady {
  name: string;
  api_url: string;
  username: string;
  password: string;
  /** Path of the CA certificate file (the contract's `ca_cert`). */
  ca_cert: string;
  nodes: { uid: number; addr: string }[];
  pid: number;
  /** (minirs) How nodes are hosts: loopback addresses or the loopback fallback; kernel faults or not. */
  network?: { mode: string; kernel_faults: boolean; detail: string };
}

type ReadyLine =
  | ({ ok: true; already_running?: boolean; pid?: number } & Omit<ManagerReady, 'pid'>)
  | { ok: false; error_code?: string; message?: string };

export function defaultManagerMain(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../cluster-manager/dist/main.js');
}

export function logTail(file: string, lines = 15): string {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    while (all.length && all[all.length - 1] === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Reads the single status line of fd 3: resolves with it, or undefined if fd 3 closed empty. */
function readReadyLine(pipe: Readable, timeoutMs: number): Promise<string | undefined | 'timeout'> {
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const finish = (v: string | undefined | 'timeout') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    });
    pipe.on('end', () => finish(buf.trim() === '' ? undefined : buf.trim()));
    pipe.on('close', () => finish(buf.trim() === '' ? undefined : buf.trim()));
    pipe.on('error', () => finish(buf.trim() === '' ? undefined : buf.trim()));
  });
}

export async function launchManager(o: LaunchOptions): Promise<ManagerReady> {
  const main = o.managerMain ?? defaultManagerMain();
  if (!existsSync(main)) {
    throw new MinirsError(
      ErrorCodes.INTERNAL,
      `the cluster-manager is not built (${main} is missing); run \`pnpm build\` in the repository`,
    );
  }
  const paths = clusterPaths(o.name, o.home);
  // `create`: the manager makes the cluster folder itself and refuses one that exists, so its
  // output goes to a launch file in MINIRS_HOME first, moved into the folder once it exists.
  let outFile: string;
  if (o.mode === 'create') {
    mkdirSync(o.home, { recursive: true });
    outFile = join(o.home, `.launch-${o.name}-${process.pid}.out`);
  } else {
    mkdirSync(paths.logs, { recursive: true });
    outFile = join(paths.logs, 'manager.out');
  }
  const args = [main, o.mode, o.name];
  if (o.mode === 'create') {
    if (o.nodes !== undefined) args.push('--nodes', String(o.nodes));
    if (o.apiPort !== undefined) args.push('--api-port', String(o.apiPort));
    if (o.dbPortBase !== undefined) args.push('--db-port-base', String(o.dbPortBase));
    if (o.net !== undefined) args.push('--net', o.net);
  }
  const fd = openSync(outFile, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, args, {
      detached: true,
      env: { ...(o.env ?? process.env), MINIRS_HOME: o.home },
      stdio: ['ignore', fd, fd, 'pipe'],
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(sig ? `killed by ${sig}` : `exit code ${code}`));
    child.once('error', (err) => resolve(`could not start: ${err.message}`));
  });
  const pipe = child.stdio[3] as Readable;
  const line = await readReadyLine(pipe, o.timeoutMs ?? 30_000);
  pipe.destroy();

  const fail = async (code: ErrorCode, reason: string): Promise<never> => {
    const tail = logTail(outFile) || (o.mode === 'start' ? logTail(paths.managerLog) : '');
    if (o.mode === 'create') rmSync(outFile, { force: true });
    const where = o.mode === 'create' ? 'its output' : outFile;
    throw new MinirsError(code, tail ? `${reason}\n--- last lines of ${where} ---\n${tail}` : reason, {
      op: `${o.mode} cluster ${o.name}`,
    });
  };

  if (line === 'timeout') {
    child.kill('SIGTERM');
    return fail(
      ErrorCodes.TIMEOUT,
      `the manager of cluster "${o.name}" did not report ready within ${(o.timeoutMs ?? 30_000) / 1000} s; it was stopped`,
    );
  }
  if (line === undefined) {
    const how = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r('still running'), 2000)),
    ]);
    if (how === 'still running') child.kill('SIGTERM');
    return fail(
      ErrorCodes.MANAGER_DOWN,
      `the manager of cluster "${o.name}" failed before it was ready (${how})`,
    );
  }
  let msg: ReadyLine;
  try {
    msg = JSON.parse(line) as ReadyLine;
  } catch {
    child.kill('SIGTERM');
    return fail(
      ErrorCodes.PROTOCOL,
      `the manager of cluster "${o.name}" reported something that is not JSON: ${line.slice(0, 200)}`,
    );
  }
  if (!msg.ok) {
    child.unref();
    // Its own words are the one-line reason; the log tail would only repeat them.
    if (o.mode === 'create') rmSync(outFile, { force: true });
    throw new MinirsError(
      (msg.error_code as ErrorCode | undefined) ?? ErrorCodes.INTERNAL,
      msg.message ?? `the manager of cluster "${o.name}" failed without a reason; see ${paths.managerLog}`,
    );
  }
  child.unref();
  if (o.mode === 'create') {
    // The manager keeps writing to the same inode: the move keeps its output with the cluster.
    try {
      mkdirSync(paths.logs, { recursive: true });
      renameSync(outFile, join(paths.logs, 'manager.out'));
    } catch {
      // The launch file stays in MINIRS_HOME; nothing depends on its name.
    }
  }
  return {
    name: msg.name,
    api_url: msg.api_url,
    username: msg.username,
    password: msg.password,
    // The manager may send the PEM or the path; the contract's field is the file.
    ca_cert: paths.caCert,
    nodes: (msg.nodes ?? []).map((n) => ({ uid: n.uid, addr: n.addr })),
    ...(msg.network ? { network: msg.network } : {}),
    // `start` of a cluster whose manager runs: that one answers, with its pid.
    pid: msg.already_running && msg.pid ? msg.pid : (child.pid ?? 0),
  };
}
