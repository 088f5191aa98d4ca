// Memory and CPU time of a process, from /proc (Linux). No dependencies, so the syncer child
// can import it without loading a Redis client.
import { readFileSync } from 'node:fs';

/** `Vm...` fields of /proc/<pid>/status in bytes (VmHWM = peak RSS, VmRSS = current). */
export function procMemory(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat. Unlike wall
 * time it hardly depends on what else the machine runs, so it compares variants fairly.
 */
export function procCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
// USER_HZ is 100 on every Linux architecture Node supports.
const CLOCK_TICKS = 100;
