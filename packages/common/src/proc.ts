import { readFileSync } from 'node:fs';

/**
 * The one process-table helper (issue 14): liveness, state and command line of a pid from
 * /proc. The manager's supervisor, its faults and the CLI's process scanner share these rules.
 */

/**
 * The state letter of /proc/<pid>/stat (R running, S sleeping, T stopped, Z zombie...), or
 * undefined when the process is gone or there is no /proc. Field 3 comes after the
 * parenthesised command, which may hold spaces and parentheses: read after the last ')'.
 */
export function procState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  return close < 0 ? undefined : stat.slice(close + 2, close + 3);
}

/**
 * Whether `pid` is a live process: kill(0) reaches it (EPERM: it exists but belongs to another
 * user) and it is not a zombie or dead entry. Without /proc kill(0) is trusted.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'X';
}

/** The command line of `pid` with its NULs as spaces, trimmed; '' when it is gone. */
export function pidCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}
