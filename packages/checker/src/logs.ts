import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Log lines of a moment, for a failure report: the pino lines of every process of a cluster,
 * those at or above warn, those that name a differing key, and those near a given time.
 */

export interface LogPick {
  /** Epoch ms windows [from, to] of interest. */
  windows: [number, number][];
  /** Substrings worth a line (differing keys). */
  mentions: string[];
  max: number;
}

interface Line {
  time: number;
  text: string;
}

function readLines(dir: string): Line[] {
  const out: Line[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.log'));
  } catch {
    return out;
  }
  for (const f of files) {
    const proc = f.replace(/\.log$/, '');
    let text = '';
    try {
      text = readFileSync(join(dir, f), 'utf8');
    } catch {
      continue;
    }
    for (const l of text.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        const o = JSON.parse(l) as { time?: string | number; level?: number; msg?: string };
        const time = typeof o.time === 'number' ? o.time : Date.parse(String(o.time));
        out.push({
          time,
          text: `${proc} ${new Date(time).toISOString().slice(11, 23)} L${o.level ?? '?'} ${l.slice(0, 600)}`,
        });
      } catch {
        // a partial line being written
      }
    }
  }
  return out;
}

export function pickLogLines(dirs: string[], pick: LogPick): string[] {
  const lines = dirs.flatMap(readLines).sort((a, b) => a.time - b.time);
  const chosen = lines.filter(
    (l) =>
      pick.mentions.some((m) => m && l.text.includes(m)) ||
      pick.windows.some(([a, b]) => l.time >= a && l.time <= b && /"level":(4|5|6)0/.test(l.text)) ||
      pick.windows.some(([a, b]) => l.time >= a && l.time <= b && /syncer|manager/.test(l.text.slice(0, 12))),
  );
  const warn = lines.filter((l) => /"level":(4|5|6)0/.test(l.text));
  const all = [...new Set([...chosen, ...warn.slice(-15)])].sort((a, b) => a.time - b.time);
  return all.slice(-pick.max).map((l) => l.text);
}
