import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { junitXml, loadScenario, runScenario, type ScenarioResult } from '@minirs/cli';
import { removeHome, tmpHome } from '@minirs/harness';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every scenario shipped in scenarios/ passes (`minirs scenario run scenarios/` does the same).
 * A scenario that needs kernel faults is reported skipped where there is no root or nftables.
 */

const dir = resolve(import.meta.dirname, '../scenarios');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const results: ScenarioResult[] = [];
const homes: string[] = [];

afterAll(() => {
  for (const h of homes) removeHome(h);
  // The report CI systems read: one testsuite per scenario, one testcase per step.
  const xml = junitXml(results);
  expect(xml).toMatch(/^<\?xml/);
  expect((xml.match(/<testsuite /g) ?? []).length).toBe(results.length);
});

describe('shipped scenarios', () => {
  it('ships the scenarios the issue lists', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'partition-during-full-sync.yaml',
        'silent-partition-backlog.yaml',
        'source-restart.yaml',
        'admin-password-reset.yaml',
        'destination-oom.yaml',
        'cross-slot-transaction.yaml',
        'latency-200ms.yaml',
        'latency-200ms-compression.yaml',
        'node-kill.yaml',
      ]),
    );
  });

  // Three at a time (each in its own MINIRS_HOME, with its own cluster indexes): the whole set
  // would take minutes one by one.
  const running = new Map<string, Promise<{ r: ScenarioResult; home: string }>>();
  let slots = 3;
  const queue: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (slots > 0) {
      slots--;
      return Promise.resolve();
    }
    return new Promise<void>((res) => queue.push(res));
  };
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else slots++;
  };
  const start = (f: string) => {
    let p = running.get(f);
    if (!p) {
      p = (async () => {
        await acquire();
        try {
          const home = tmpHome('scn');
          homes.push(home);
          return { r: await runScenario(loadScenario(join(dir, f)), { home }), home };
        } finally {
          release();
        }
      })();
      running.set(f, p);
    }
    return p;
  };

  for (const f of files) {
    it(`${f} passes`, async () => {
      for (const g of files) void start(g).catch(() => {});
      const { r, home } = await start(f);
      results.push(r);
      const failed = r.steps.filter((s) => s.status === 'failed');
      if (r.status === 'skipped') console.log(`${f}: skipped (${r.skipReason})`);
      else console.log(`${f}: ${r.status} in ${(r.ms / 1000).toFixed(1)} s`);
      expect(failed.map((s) => `${s.label}: ${s.error}`)).toEqual([]);
      expect(r.status === 'passed' || r.status === 'skipped').toBe(true);
      // Nothing of the scenario's clusters is left in its home.
      expect(readdirSync(home).filter((e) => !e.startsWith('.'))).toEqual([]);
    }, 400_000);
  }
});

describe('scenario files', () => {
  it('are read as YAML with every problem naming the file and the step', async () => {
    const { parseScenario } = await import('@minirs/cli');
    expect(() => parseScenario('steps: [ {', 'a.yaml')).toThrow(/a\.yaml: not valid YAML/);
    expect(() => parseScenario('steps:\n  - explode: {}\n', 'b.yaml')).toThrow(/b\.yaml: step 1: unknown step "explode"/);
    expect(() => parseScenario('steps:\n  - wait: {}\n    heal: {}\n', 'c.yaml')).toThrow(/exactly one step key/);
    expect(() => parseScenario('name: x\n', 'd.yaml')).toThrow(/steps must be a non-empty list/);
    const sc = parseScenario(readFileSync(join(dir, 'node-kill.yaml'), 'utf8'), 'node-kill.yaml');
    expect(sc.clusters.map((c) => c.name)).toEqual(['east', 'west']);
    expect(sc.steps.some((s) => s.kind === 'fault')).toBe(true);
  });
});
