import { closeSync, openSync, readdirSync, readSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import PinoPretty from 'pino-pretty';

/**
 * The logs of a cluster's processes: pino JSON lines (manager, shard-*, proxy-*, syncer-*) and
 * redis-server's own text logs (redis-*), merged by time and pretty-printed.
 */

export interface LogSource {
  /** Process name: the file's name without `.log`. */
  proc: string;
  file: string;
  kind: 'pino' | 'text';
}

export interface LogLine {
  /** ms since the epoch; lines without a time of their own take the previous line's. */
  time: number;
  proc: string;
  kind: 'pino' | 'text';
  text: string;
}

export function logSources(logsDir: string): LogSource[] {
  let names: string[];
  try {
    names = readdirSync(logsDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => {
      const proc = n.slice(0, -4);
      return { proc, file: join(logsDir, n), kind: proc.startsWith('redis-') ? 'text' : 'pino' };
    });
}

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/** redis-server's "1234:M 26 Nov 2026 17:41:00.123 * ..." prefix, in local time; NaN otherwise. */
export function redisLogTime(line: string): number {
  const m = /^\d+:[A-Z] (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) /.exec(line);
  if (!m || MONTHS[m[2]!] === undefined) return Number.NaN;
  return new Date(+m[3]!, MONTHS[m[2]!]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!).getTime();
}

/** pino's `time`: epoch ms (pino's default) or an ISO string (stdTimeFunctions.isoTime). */
export function pinoLogTime(line: string): number {
  try {
    const t = (JSON.parse(line) as { time?: unknown }).time;
    if (typeof t === 'number') return t;
    if (typeof t === 'string') return Date.parse(t);
  } catch {
    // Not JSON: a stray line (a crash trace written to the log).
  }
  return Number.NaN;
}

export function parseLogLines(
  text: string,
  src: Pick<LogSource, 'proc' | 'kind'>,
  previousTime = 0,
): LogLine[] {
  const out: LogLine[] = [];
  let last = previousTime;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = src.kind === 'pino' ? pinoLogTime(line) : redisLogTime(line);
    if (!Number.isNaN(t)) last = t;
    out.push({ time: last, proc: src.proc, kind: src.kind, text: line });
  }
  return out;
}

/** Merges per-file lists (each in time order) into one; ties keep file order. */
export function mergeByTime(lists: LogLine[][]): LogLine[] {
  const idx = lists.map(() => 0);
  const out: LogLine[] = [];
  for (;;) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const l = lists[i]![idx[i]!];
      if (l && (best < 0 || l.time < lists[best]![idx[best]!]!.time)) best = i;
    }
    if (best < 0) return out;
    out.push(lists[best]![idx[best]!++]!);
  }
}

export interface FormatOptions {
  colorize: boolean;
  /** Prefix text lines with their process when several processes are interleaved. */
  prefixText: boolean;
}

/** pino-pretty for JSON lines (a line that is not JSON is printed as is), text lines verbatim. */
export function logFormatter(o: FormatOptions): (l: LogLine) => string {
  const pretty = PinoPretty.prettyFactory({
    colorize: o.colorize,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return (l) => {
    if (l.kind === 'pino' && l.text.startsWith('{')) {
      const s = pretty(l.text);
      return s.endsWith('\n') ? s : `${s}\n`;
    }
    return o.prefixText ? `(${l.proc}) ${l.text}\n` : `${l.text}\n`;
  };
}

/** Reads what was appended to each file since the last call; complete lines only. */
export class LogTail {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private readonly lastTime = new Map<string, number>();

  constructor(
    private readonly logsDir: string,
    private readonly only?: string,
  ) {}

  sources(): LogSource[] {
    const all = logSources(this.logsDir);
    return this.only ? all.filter((s) => s.proc === this.only) : all;
  }

  /** Every file's new lines, each list in time order. */
  read(): LogLine[][] {
    const lists: LogLine[][] = [];
    for (const src of this.sources()) {
      let size: number;
      try {
        size = statSync(src.file).size;
      } catch {
        continue;
      }
      let offset = this.offsets.get(src.file) ?? 0;
      // Truncated (a restarted process recreated it): start over.
      if (size < offset) offset = 0;
      if (size === offset) continue;
      const buf = Buffer.alloc(size - offset);
      const fd = openSync(src.file, 'r');
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, offset);
      } finally {
        closeSync(fd);
      }
      this.offsets.set(src.file, offset + n);
      const text = (this.partial.get(src.file) ?? '') + buf.subarray(0, n).toString('utf8');
      const nl = text.lastIndexOf('\n');
      this.partial.set(src.file, text.slice(nl + 1));
      const lines = parseLogLines(text.slice(0, nl + 1), src, this.lastTime.get(src.file) ?? 0);
      if (lines.length) this.lastTime.set(src.file, lines[lines.length - 1]!.time);
      lists.push(lines);
    }
    return lists;
  }

  /**
   * Calls `emit` with new lines whenever a file of the folder changes (inotify where there is
   * one, and a 1 s rescan for filesystems without it) until `signal` aborts.
   */
  async follow(emit: (lines: LogLine[]) => void, signal: AbortSignal): Promise<void> {
    const flush = () => {
      const lines = mergeByTime(this.read());
      if (lines.length) emit(lines);
    };
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(this.logsDir, () => flush());
    } catch {
      // No inotify: the rescan below is enough.
    }
    const timer = setInterval(flush, 1000);
    try {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      clearInterval(timer);
      watcher?.close();
    }
  }
}
