import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from './e2e-helpers.js';

// `cluster create` and `db create` are on the critical path of every scripted cluster: their
// command lines must not load the libraries only other commands use (ioredis alone is ~100 ms of
// CPU). A preloaded hook lists, at exit, the packages in the CommonJS cache (where ESM imports of
// CommonJS packages land too).
const dir = mkdtempSync(join(tmpdir(), 'minirs-cli-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hook = join(dir, 'hook.cjs');
writeFileSync(
  hook,
  `process.on('exit', () => {
    const names = new Set();
    for (const f of Object.keys(require.cache)) {
      const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/(?!.*node_modules)/.exec(f);
      if (m) names.add(m[1]);
    }
    process.stderr.write('LOADED ' + JSON.stringify([...names].sort()) + '\\n');
  });`,
);

function loaded(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--require', hook, CLI_MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MINIRS_HOME: dir },
  });
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (!line) throw new Error(`no LOADED line; stderr: ${r.stderr}`);
  return JSON.parse(line.slice(7)) as string[];
}

describe('CLI start-up', () => {
  for (const cmd of ['cluster', 'db']) {
    it(`${cmd} commands load neither ioredis, pino, yaml nor the checker's libraries`, () => {
      const names = loaded([cmd, '--help']);
      for (const heavy of ['ioredis', 'pino', 'pino-pretty', 'yaml', 'cli-progress', 'node-forge']) {
        expect(names).not.toContain(heavy);
      }
    });
  }

  it('the hook does see ioredis once a command opens a connection (compare of a closed port)', () => {
    expect(loaded(['compare', 'redis://127.0.0.1:1', 'redis://127.0.0.1:1'])).toContain('ioredis');
  });
});
