import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive, pidCmdline } from '@minirs/common';

export { pidAlive };

/**
 * The process table as the CLI needs it: pid files written by the manager, and which live pids
 * are one of ours (a recycled pid is not). Liveness and /proc reads are common's (proc.ts).
 */

export function readPidFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
  const pid = Number(text);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

/** /proc/<pid>/cmdline with NULs as spaces; '' when unknown (gone, or not Linux). */
export const processCmdline = pidCmdline;

const HAVE_PROC = existsSync('/proc/self/cmdline');

function procText(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return '';
  }
}

export interface Owner {
  /** The cluster folder ($MINIRS_HOME/<name>). */
  dir: string;
  /** MINIRS_HOME itself. */
  home: string;
}

/**
 * True when `pid` is alive and is one of this cluster's processes: node or redis-server, and
 * tied to the cluster by its command line, its environment (MINIRS_HOME, or configs naming the
 * folder) or its working directory (redis-server chdirs to its data dir). A pid file can outlive
 * its process and the pid be recycled; this keeps the CLI from signalling a stranger. Without
 * /proc (not Linux) liveness is all there is to go on.
 */
export function isClusterProcess(pid: number, owner: Owner): boolean {
  if (!pidAlive(pid)) return false;
  if (!HAVE_PROC) return true;
  const cmd = processCmdline(pid);
  if (!/(^|\/)(node|redis-server)(\s|$)|minirs/.test(cmd)) return false;
  if (cmd.includes(owner.dir)) return true;
  const env = procText(pid, 'environ');
  if (env.includes(owner.dir) || env.split('\0').includes(`MINIRS_HOME=${owner.home}`)) return true;
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === owner.dir || cwd.startsWith(`${owner.dir}/`);
  } catch {
    return false;
  }
}

/** True when `text` names `dir` itself or a path inside it (not `dir2`, a sibling with a longer name). */
function mentions(text: string, dir: string): boolean {
  for (let at = text.indexOf(dir); at >= 0; at = text.indexOf(dir, at + 1)) {
    const next = text[at + dir.length];
    if (next === undefined || next === '/' || next === '\0' || next === ' ' || next === '\n') return true;
  }
  return false;
}

/**
 * Every live process of this one cluster, found in the process table rather than in pid files
 * (a child being spawned, or one whose pid file was never written, has none): node or
 * redis-server whose command line or environment names the cluster folder, or whose working
 * directory is inside it. Empty without /proc. `anyCommand` drops the node/redis-server rule
 * (a test's teardown kills whatever names its private home, a helper shell included).
 */
export function processesOf(owner: Owner, o: { anyCommand?: boolean } = {}): number[] {
  if (!HAVE_PROC) return [];
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid || !pidAlive(pid)) continue;
    const cmd = processCmdline(pid);
    if (!o.anyCommand && !/(^|\/)(node|redis-server)(\s|$)|minirs/.test(cmd)) continue;
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone, or not ours to read
    }
    if (mentions(cmd, owner.dir) || mentions(procText(pid, 'environ'), owner.dir) || mentions(cwd, owner.dir))
      out.push(pid);
  }
  return out;
}

/** Every `<name>.pid` of a run/ folder: name -> pid. */
export function pidFiles(runDir: string): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = readdirSync(runDir);
  } catch {
    return out;
  }
  for (const f of names) {
    if (!f.endsWith('.pid')) continue;
    const pid = readPidFile(join(runDir, f));
    if (pid !== undefined) out.set(f.slice(0, -4), pid);
  }
  return out;
}

/** Waits until none of `pids` is alive; resolves with the ones still alive at the deadline. */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(pidAlive);
  while (alive.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = alive.filter(pidAlive);
  }
  return alive;
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
