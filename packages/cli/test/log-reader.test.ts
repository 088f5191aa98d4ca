import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterPaths } from '@minirs/common';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type LogLine,
  LogTail,
  logFormatter,
  mergeByTime,
  parseLogLines,
  pinoLogTime,
  redisLogTime,
} from '../src/log-reader.js';
import { cli, shortTempDir } from './helpers.js';

const home = shortTempDir('cli-logs-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

const pino = (iso: string, name: string, msg: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ level: 30, time: iso, pid: 1, hostname: 'h', name, msg, ...extra });

/** redis-server's local-time prefix for a given instant. */
function redisLine(t: Date, text: string): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    t.getMonth()
  ];
  const p2 = (n: number) => String(n).padStart(2, '0');
  const ms = String(t.getMilliseconds()).padStart(3, '0');
  return `4242:M ${t.getDate()} ${mon} ${t.getFullYear()} ${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}.${ms} * ${text}`;
}

describe('log times', () => {
  it('reads pino ISO and epoch times, and redis-server local times', () => {
    expect(pinoLogTime(pino('2026-01-02T03:04:05.678Z', 'm', 'x'))).toBe(
      Date.parse('2026-01-02T03:04:05.678Z'),
    );
    expect(pinoLogTime(JSON.stringify({ time: 1700000000123 }))).toBe(1700000000123);
    expect(pinoLogTime('not json')).toBeNaN();
    const t = new Date(2026, 10, 26, 17, 41, 0, 123);
    expect(redisLogTime(redisLine(t, 'Ready'))).toBe(t.getTime());
    expect(redisLogTime('just text')).toBeNaN();
  });

  it('lines without a time take the previous one, so a stack trace stays with its event', () => {
    const lines = parseLogLines(`${pino('2026-01-01T00:00:01Z', 'm', 'a')}\n  at foo\n`, {
      proc: 'manager',
      kind: 'pino',
    });
    expect(lines.map((l) => l.time)).toEqual([
      Date.parse('2026-01-01T00:00:01Z'),
      Date.parse('2026-01-01T00:00:01Z'),
    ]);
  });
});

describe('mergeByTime', () => {
  it('interleaves per-file lists by time and keeps file order on ties', () => {
    const l = (time: number, proc: string): LogLine => ({
      time,
      proc,
      kind: 'pino',
      text: `${proc}@${time}`,
    });
    const merged = mergeByTime([[l(1, 'a'), l(5, 'a'), l(9, 'a')], [l(2, 'b'), l(5, 'b')], [], [l(0, 'c')]]);
    expect(merged.map((m) => m.text)).toEqual(['c@0', 'a@1', 'b@2', 'a@5', 'b@5', 'a@9']);
  });
});

describe('minirs logs', () => {
  const paths = clusterPaths('logs1', home);
  mkdirSync(paths.logs, { recursive: true });
  writeFileSync(paths.state, '{}');
  const t0 = Date.parse('2026-03-01T10:00:00.000Z');
  writeFileSync(
    join(paths.logs, 'manager.log'),
    [
      pino(new Date(t0).toISOString(), 'manager', 'manager started', { api_port: 9443 }),
      pino(new Date(t0 + 3000).toISOString(), 'manager', 'bdb created'),
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(paths.logs, 'shard-1.log'),
    `${pino(new Date(t0 + 1000).toISOString(), 'shard-1', 'redis-server up')}\n`,
  );
  writeFileSync(
    join(paths.logs, 'redis-1.log'),
    `${redisLine(new Date(t0 + 2000), 'Ready to accept connections')}\n`,
  );

  it('interleaves every process by time, pretty-printed; redis text lines as they are', async () => {
    const r = await cli(home, 'logs', 'logs1');
    expect(r.code).toBe(0);
    const order = ['manager started', 'redis-server up', 'Ready to accept connections', 'bdb created'].map(
      (m) => r.stdout.indexOf(m),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(r.stdout).toMatch(/INFO.*\(manager\): manager started/);
    expect(r.stdout).toContain('api_port: 9443');
    expect(r.stdout).toContain(`(redis-1) ${redisLine(new Date(t0 + 2000), 'Ready to accept connections')}`);
    expect(r.stdout).not.toContain('"msg"');
  });

  it('one process; -n keeps the last lines; --json gives the raw lines', async () => {
    const one = await cli(home, 'logs', 'logs1', 'manager', '-n', '1');
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('bdb created');
    expect(one.stdout).not.toContain('manager started');
    const redis = await cli(home, 'logs', 'logs1', 'redis-1');
    expect(redis.stdout).toBe(`${redisLine(new Date(t0 + 2000), 'Ready to accept connections')}\n`);
    const json = await cli(home, 'logs', 'logs1', '--json');
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; msg: string });
    expect(records.map((x) => x.name)).toEqual(['manager', 'shard-1', 'redis-1', 'manager']);
  });

  it('an unknown process names the ones there are', async () => {
    const r = await cli(home, 'logs', 'logs1', 'shard-9');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'minirs: no log of process "shard-9" in cluster logs1; there are: manager, redis-1, shard-1\n',
    );
  });
});

describe('LogTail', () => {
  it('reads only complete appended lines, across appends, truncation and new files', async () => {
    const dir = join(home, 'tail');
    mkdirSync(dir);
    const f = join(dir, 'proxy-1.log');
    writeFileSync(f, `${pino('2026-01-01T00:00:00Z', 'proxy-1', 'one')}\n{"partial":`);
    const tail = new LogTail(dir);
    expect(
      tail
        .read()
        .flat()
        .map((l) => l.text),
    ).toHaveLength(1);
    appendFileSync(f, `true,"time":"2026-01-01T00:00:01Z"}\n`);
    expect(
      tail
        .read()
        .flat()
        .map((l) => l.text),
    ).toEqual(['{"partial":true,"time":"2026-01-01T00:00:01Z"}']);
    expect(tail.read().flat()).toEqual([]);
    writeFileSync(join(dir, 'syncer-2.log'), `${pino('2026-01-01T00:00:02Z', 'syncer-2', 'new file')}\n`);
    expect(
      tail
        .read()
        .flat()
        .map((l) => l.proc),
    ).toEqual(['syncer-2']);
    writeFileSync(f, `${pino('2026-01-01T00:00:03Z', 'proxy-1', 'restarted')}\n`);
    expect(
      tail
        .read()
        .flat()
        .map((l) => l.text),
    ).toEqual([pino('2026-01-01T00:00:03Z', 'proxy-1', 'restarted')]);
  });

  it('follow() emits what is appended until aborted', async () => {
    const dir = join(home, 'follow');
    mkdirSync(dir);
    const f = join(dir, 'manager.log');
    writeFileSync(f, '');
    const tail = new LogTail(dir);
    tail.read();
    const stop = new AbortController();
    const seen: string[] = [];
    const got = new Promise<void>((resolve) => {
      void tail.follow((lines) => {
        seen.push(...lines.map((l) => l.text));
        if (seen.length >= 2) resolve();
      }, stop.signal);
    });
    appendFileSync(f, `${pino('2026-01-01T00:00:00Z', 'manager', 'a')}\n`);
    appendFileSync(f, `${pino('2026-01-01T00:00:01Z', 'manager', 'b')}\n`);
    await got;
    stop.abort();
    expect(seen.map((s) => (JSON.parse(s) as { msg: string }).msg)).toEqual(['a', 'b']);
  });

  it('the formatter leaves non-JSON lines of a pino file alone', () => {
    const format = logFormatter({ colorize: false, prefixText: true });
    expect(format({ time: 0, proc: 'manager', kind: 'pino', text: 'Error: boom' })).toBe(
      '(manager) Error: boom\n',
    );
  });
});
