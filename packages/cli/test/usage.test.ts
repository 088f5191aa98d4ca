import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, shortTempDir } from './helpers.js';

const home = shortTempDir('cli-usage-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('exit code 2: bad usage', () => {
  it.each([
    [[], /Usage: minirs/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['db'], /Usage: minirs db/],
    [['db', 'create', 'east'], /missing required argument 'db'/],
    [['db', 'create', 'east', 'db1', '--memory', 'lots'], /--memory <size>.*"lots" is not a size/],
    [['db', 'create', 'east', 'db1', '--shards', 'two'], /--shards <n>.*"two" is not a whole number/],
    [['db', 'create', 'east', 'db1', '--tls', 'yes'], /"yes" is not a TLS mode/],
    [['db', 'list', 'east', 'extra'], /too many arguments/],
    [['db', 'list', 'east', '--bogus'], /unknown option '--bogus'/],
    [['cluster', 'create', 'east', '--nodes', '3x'], /"3x" is not a whole number/],
    [['cluster', 'create', 'east', '--api-port', '70000'], /not a TCP port/],
    [['replica-of', 'east', 'dest'], /at least one --source/],
    [['replica-of', 'east', 'dest', '--source', 'not a source'], /not a database name/],
    [['replica-of', 'east', 'dest', '--source', 'a', '--compression', '9'], /0 \(off\) to 6/],
    [['replica-of', 'east', 'dest', '--source', 'a', '--clear'], /exclude each other/],
    [['sync', 'restart', 'east', 'dest'], /unknown command 'restart'/],
    [['status', 'east', '--watch-seconds', '3'], /--watch-seconds needs --watch/],
    [['fault', 'east', 'explode', 'shard:1'], /Allowed choices are kill, pause/],
    [['fault', 'east', 'kill'], /needs a target/],
  ])('minirs %j', async (args, message) => {
    const r = await cli(home, ...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('is checked before any cluster is looked up', async () => {
    const r = await cli(home, 'replica-of', 'no-such-cluster', 'dest', '--source', 'bad form!');
    expect(r.code).toBe(2);
  });
});

describe('exit code 0: help and version', () => {
  it.each([[['--help']], [['help', 'db']], [['db', 'create', '--help']], [['--version']]])(
    'minirs %j',
    async (args) => {
      const r = await cli(home, ...(args as string[]));
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    },
  );

  it('cluster list of an empty home', async () => {
    expect(await cli(home, 'cluster', 'list', '--json')).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });
});

describe('exit code 1: failed operations, one line on stderr', () => {
  it.each([
    [['cluster', 'status', 'nope']],
    [['db', 'list', 'nope']],
    [['db', 'create', 'nope', 'db1', '--shards', '2']],
    [['cluster', 'stop', 'nope']],
    [['cluster', 'delete', 'nope']],
    [['logs', 'nope']],
    [['status', 'nope', 'db1']],
    [['replica-of', 'nope', 'dest', '--source', 'east/db1']],
  ])('unknown cluster: minirs %j', async (args) => {
    const r = await cli(home, ...(args as string[]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `minirs: unknown cluster "nope" in ${home}; create it with \`minirs cluster create nope\`\n`,
    );
    expect(r.stdout).toBe('');
  });

  it('a cluster name that could escape MINIRS_HOME names no cluster', async () => {
    mkdirSync(join(home, 'x'), { recursive: true });
    writeFileSync(join(home, 'x', 'state.json'), '{}');
    const r = await cli(home, 'db', 'list', '../' + home.split('/').pop() + '/x');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^minirs: unknown cluster/);
    rmSync(join(home, 'x'), { recursive: true });
  });

  it('an invalid name for cluster create', async () => {
    const r = await cli(home, 'cluster', 'create', 'Bad_Name');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^minirs: cluster name "Bad_Name" is invalid: use 1-31 lower-case letters/);
  });
});

describe('the built binary', () => {
  const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [main, ...args], {
      env: { ...process.env, MINIRS_HOME: home },
      encoding: 'utf8',
    });

  it('exits with the same codes as a process', () => {
    expect(run('db', 'create', 'east').status).toBe(2);
    const failed = run('cluster', 'status', 'nope');
    expect(failed.status).toBe(1);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(run('--version').status).toBe(0);
  });
});
