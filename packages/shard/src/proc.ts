import { readFileSync } from 'node:fs';

/**
 * What /proc says about a pid. A process is identified by (pid, start time): a pid alone can be
 * reused by an unrelated process after the one we knew is gone.
 */
export interface ProcInfo {
  pid: number;
  /** R running, S sleeping, D disk, T stopped (SIGSTOP), Z zombie, X dead, ... */
  state: string;
  /** Clock ticks since boot when the process started (field 22 of /proc/<pid>/stat). */
  startTime: string;
  /** argv joined by spaces; redis-server rewrites its own to "redis-server <addr>:<port>". */
  cmdline: string;
}

export function hasProcfs(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** undefined when the pid does not exist (or /proc is not there). */
export function readProc(pid: number): ProcInfo | undefined {
  let stat: string;
  let cmdline: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may itself hold spaces or parentheses.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: rest[0] ?? '?',
    startTime: rest[19] ?? '',
    cmdline: cmdline.split('\0').filter(Boolean).join(' '),
  };
}

/** kill(pid, 0): true while the pid exists (a zombie counts; readProc tells those apart). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and still the same process we saw (not a zombie, not a reused pid). */
export function isSameProcessAlive(pid: number, startTime: string | undefined): boolean {
  if (!pidExists(pid)) return false;
  const info = readProc(pid);
  if (!info) return !hasProcfs();
  if (info.state === 'Z' || info.state === 'X') return false;
  return startTime === undefined || info.startTime === startTime;
}

export function readPidFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}
