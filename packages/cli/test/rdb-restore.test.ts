import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, isMinirsError } from '@minirs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compareDatabases, RedisServer, type StartedRedisServer } from '@minirs/harness';
import type { CliIo } from '../src/context.js';
import { runCli } from '../src/program.js';
import { inspectRdb } from '../src/rdb-inspect.js';
import { type RestoreSummary, restoreRdb } from '../src/rdb-restore.js';
import { shortTempDir } from './helpers.js';
import {
  compareServers,
  FIXTURE_SET,
  FIXTURES,
  generateRdb,
  keyspace,
  MODULE_FIXTURES,
  uriOf,
} from './rdb-helpers.js';

const MAIN = join(import.meta.dirname, '../dist/main.js');

function minirs(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI in this process, with a stdout that may claim to be a terminal. */
async function cliRun(isTTY: boolean, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: {
      write: (s: string) => {
        stdout += s;
        return true;
      },
      isTTY,
      columns: 100,
    },
    stderr: { write: (s: string) => (stderr += s) },
    env: process.env,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

const fixtures = FIXTURE_SET.files.filter((f) => !MODULE_FIXTURES.has(f));

describe('rdb restore', () => {
  let target: StartedRedisServer;
  let dir: string;
  let gen: string;
  beforeAll(async () => {
    target = await new RedisServer().start();
    dir = shortTempDir('rdbr-');
    gen = join(dir, 'gen.rdb');
    const src = await new RedisServer().start();
    try {
      await generateRdb(src, gen);
    } finally {
      await src.stop();
    }
  });
  afterAll(async () => {
    await target?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const c = target.client();
    await c.flushall();
    await c.function('FLUSH');
    c.disconnect();
  });

  /** Restores `file` into the empty target and compares it with a server that loaded it. */
  async function restoreAndCompare(
    file: string,
    opts: Parameters<typeof restoreRdb>[2] = {},
    crossCheck = true,
  ) {
    const s = await restoreRdb(file, uriOf(target), opts);
    const ground = await new RedisServer().withRdbFile(file).start();
    try {
      const diff = await compareServers(ground, target);
      expect(diff.problems).toEqual([]);
      const loaded = [...(await keyspace(ground.client())).values()].reduce((a, b) => a + b.keys, 0);
      expect(diff.checked).toBe(loaded);
      expect(s.restored).toBe(loaded);
      // The product's own verification agrees on db 0 (it reads keys as UTF-8 text, so not for
      // files with binary keys).
      if (crossCheck) {
        const cmp = await compareDatabases([uriOf(ground)], uriOf(target));
        expect(cmp, JSON.stringify(cmp.examples)).toMatchObject({ missing: 0, extra: 0, different: 0 });
      }
    } finally {
      await ground.stop();
    }
    return s;
  }

  for (const file of fixtures) {
    it(`${file}: the target equals a redis-server that loaded the file`, async () => {
      const s = await restoreAndCompare(join(FIXTURES, file));
      expect(s.keys).toBe(s.restored + s.skipped.expired);
      expect(s.restored).toBe(s.restored_with_restore + s.restored_with_commands);
    });
  }

  it.skipIf(!FIXTURE_SET.available)(
    'keys_with_expiry.rdb: the expired key is skipped and counted',
    async () => {
      const s = await restoreRdb(join(FIXTURES, 'keys_with_expiry.rdb'), uriOf(target));
      expect(s).toMatchObject({ keys: 1, restored: 0, skipped: { expired: 1 } });
      expect(s.notes).toContain('1 keys skipped: already expired (redis-server drops them on load too)');
    },
  );

  it.skipIf(!FIXTURE_SET.available)(
    'multiple_databases.rdb into a plain redis-server keeps each key in its db',
    async () => {
      const s = await restoreRdb(join(FIXTURES, 'multiple_databases.rdb'), uriOf(target));
      expect(s).toMatchObject({ keys: 2, restored: 2, skipped: { other_dbs: {} } });
      const db2 = target.client({ db: 2 });
      expect(await db2.get('key_in_second_database')).toBe('second');
      expect(await target.client().get('key_in_zeroth_database')).toBe('zero');
      expect(await target.client().exists('key_in_second_database')).toBe(0);
    },
  );

  it('an RDB of a live redis 7 (every type and encoding, streams with PEL, functions, db 3)', async () => {
    const s = await restoreAndCompare(gen, {}, false);
    expect(s.functions).toBe(1);
    expect(s.restored_with_restore).toBeGreaterThan(0);
    expect(s.rdb_version).toBe(10);
    expect(s.target_rdb_version).toBe(10);
  });

  it('the same RDB with plain commands only, and through a tiny window', async () => {
    const s = await restoreAndCompare(
      gen,
      { mode: 'commands', maxInFlight: 2, maxInFlightBytes: 100 },
      false,
    );
    expect(s.restored_with_restore).toBe(0);
    expect(s.restored_with_commands).toBe(s.restored);
  });

  it('values whose payload would pass 1 MiB go with commands (the syncer\'s rule)', async () => {
    const src = await new RedisServer().start();
    const file = join(dir, 'big.rdb');
    try {
      const c = src.client();
      // 200 x RPUSH of 1000 50-byte elements (~10 MB); a 150k-member set (~1.3 MB).
      for (let i = 0; i < 200; i++) {
        await c.rpush('biglist', ...Array.from({ length: 1000 }, (_, j) => `${i}-${j}-`.padEnd(50, 'x')));
      }
      for (let i = 0; i < 150; i++)
        await c.sadd('bigset', ...Array.from({ length: 1000 }, (_, j) => `m${i}-${j}`));
      await c.set('small', 'v');
      await c.save();
      copyFileSync(join(src.dir, 'dump.rdb'), file);
    } finally {
      await src.stop();
    }
    const s = await restoreAndCompare(file);
    expect(s).toMatchObject({ keys: 3, restored: 3, restored_with_commands: 3 });
    expect(await target.client().llen('biglist')).toBe(200_000);
  });

  it.skipIf(!FIXTURE_SET.available)(
    'a target with only db 0 gets db 0, and the keys of other dbs are counted',
    async () => {
      const one = await new RedisServer().withArgs('--databases', '1').start();
      try {
        const s = await restoreRdb(gen, uriOf(one));
        expect(s.skipped.other_dbs).toEqual({ '3': 3 });
        expect(s.notes).toContain('3 keys of db 3 skipped: the target has only db 0');
        const c = one.client();
        expect((await keyspace(c)).get(0)!.keys).toBe(s.restored);
        expect(await c.exists('db3:a')).toBe(0);
        const single = await restoreRdb(join(FIXTURES, 'multiple_databases.rdb'), uriOf(one));
        expect(single).toMatchObject({ restored: 1, skipped: { other_dbs: { '2': 1 } } });
        expect(single.notes).toEqual(['1 keys of db 2 skipped: the target has only db 0']);
      } finally {
        await one.stop();
      }
    },
  );

  it.skipIf(!FIXTURE_SET.available)(
    'a password-protected target; a wrong password fails without showing it',
    async () => {
      const locked = await new RedisServer().withPassword('p@ss w0rd').start();
      try {
        const s = await restoreRdb(join(FIXTURES, 'parser_filters.rdb'), uriOf(locked));
        expect(s.restored).toBe(43);
        expect(s.target).toBe(`redis://:***@127.0.0.1:${locked.port}`);
        const err = await restoreRdb(
          join(FIXTURES, 'parser_filters.rdb'),
          uriOf(locked, 'wrong-secret'),
        ).catch((e: unknown) => e);
        expect(isMinirsError(err, ErrorCodes.AUTH), String(err)).toBe(true);
        expect((err as Error).message).toMatch(
          /^cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/,
        );
        expect((err as Error).message).not.toContain('wrong-secret');
      } finally {
        await locked.stop();
      }
    },
  );

  it.skipIf(!FIXTURE_SET.available)(
    'module data: the unsupported-module error, or --skip-modules counts it',
    async () => {
      const mod = join(FIXTURES, 'redis_40_with_module.rdb');
      const err = await restoreRdb(mod, uriOf(target)).catch((e: unknown) => e);
      expect(isMinirsError(err, ErrorCodes.RDB_UNSUPPORTED)).toBe(true);
      expect((err as Error).message).toMatch(/module type 'ReJSON-RL'.*key 'foo'.*--skip-modules/);
      const s = await restoreRdb(mod, uriOf(target), { skipModules: true });
      expect(s).toMatchObject({ keys: 2, restored: 1, skipped: { modules: 1 } });
      expect(await target.client().get('simplekey')).toBe('someval');

      const aux = join(FIXTURES, 'redis_60_with_module_aux.rdb');
      await expect(restoreRdb(aux, uriOf(target))).rejects.toThrow(/module 'test__rdb'.*--skip-modules/);
      expect(await restoreRdb(aux, uriOf(target), { skipModules: true })).toMatchObject({
        keys: 0,
        skipped: { module_aux: 1 },
      });
    },
  );

  it('a write error from the target (OOM) stops the restore naming the key', async () => {
    const small = await new RedisServer().start();
    try {
      const c = small.client();
      const used = Number(/used_memory:(\d+)/.exec(await c.info('memory'))![1]);
      await c.config('SET', 'maxmemory', String(used + 100_000));
      const err = await restoreRdb(gen, uriOf(small)).catch((e: unknown) => e);
      expect(isMinirsError(err, ErrorCodes.OOM)).toBe(true);
      expect((err as Error).message).toMatch(
        // Which key hits the limit depends on memory accounting; key names may hold quotes.
        /refused the write of (key '.+' \(db \d\)|\d+ keys \(MSET\) from key '.+' \(db \d\)|function library 'rdbtestlib'): OOM command not allowed when used memory > 'maxmemory'/,
      );
    } finally {
      await small.stop();
    }
  });

  it('a target that stops answering: exit 1 after the timeout, not a hang', async () => {
    const c = target.client();
    await c.call('CLIENT', 'PAUSE', '30000', 'WRITE'); // INFO still answers, RESTORE/SET wait
    try {
      const err = await restoreRdb(gen, uriOf(target), { timeoutMs: 500 }).catch((e: unknown) => e);
      expect(isMinirsError(err, ErrorCodes.TIMEOUT), String(err)).toBe(true);
      expect((err as Error).message).toMatch(
        /^lost redis:\/\/127\.0\.0\.1:\d+ while writing .*: no reply (to .+ )?within 0\.5 s \(timed out\)$/,
      );
    } finally {
      await c.call('CLIENT', 'UNPAUSE');
    }
  });

  it('a truncated file: the keys before the cut are written, then exit 1 with the offset', async () => {
    const data = readFileSync(gen);
    const cut = join(dir, 'cut.rdb');
    writeFileSync(cut, data.subarray(0, data.length - 3000));
    const err = await restoreRdb(cut, uriOf(target)).catch((e: unknown) => e);
    expect(isMinirsError(err, ErrorCodes.RDB_CORRUPT)).toBe(true);
    expect((err as Error).message).toMatch(/RDB truncated at byte \d+: expected/);
    expect(Number(/at byte (\d+)/.exec((err as Error).message)![1])).toBeLessThanOrEqual(data.length - 3000);
    // Everything the parser read before the cut reached the target.
    const before = await inspectRdb(gen, { top: 0 });
    expect(await target.client().dbsize()).toBeGreaterThan(0);
    expect(await target.client().dbsize()).toBeLessThan(before.dbs[0]!.keys);
  });

  it('progress: a bar on a terminal, plain lines in a pipe, nothing extra with --json', async () => {
    const tty = await cliRun(true, 'rdb', 'restore', gen, uriOf(target));
    expect(tty.code, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/restore \[[█░]+\] \d+%/);
    expect(tty.stdout).toMatch(/restored \d+ of \d+ keys/);

    const pipe = await cliRun(false, 'rdb', 'restore', gen, uriOf(target), '--progress-seconds', '0.000001');
    expect(pipe.code, pipe.stderr).toBe(0);
    expect(pipe.stdout).toMatch(/^restore: \d+% \(.+ of .+\), \d+ keys, \d+ keys\/s$/m);
    expect(pipe.stdout).not.toMatch(/\x1b\[/);

    const json = await cliRun(
      false,
      'rdb',
      'restore',
      gen,
      uriOf(target),
      '--json',
      '--progress-seconds',
      '0.000001',
    );
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as RestoreSummary;
    expect(s).toMatchObject({ file: gen, functions: 1, skipped: { expired: 0 } });
    expect(s.keys_per_second).toBeGreaterThan(0);
    expect(json.stderr).toBe('');
  });

  it.skipIf(!FIXTURE_SET.available)('the binary: exit codes 0, 1 (one line, password masked) and 2', () => {
    const uri = uriOf(target);
    const ok = minirs('rdb', 'restore', join(FIXTURES, 'redis_50_with_streams.rdb'), uri, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ keys: 14, restored: 14 });

    const mod = minirs('rdb', 'restore', join(FIXTURES, 'redis_40_with_module.rdb'), uri);
    expect(mod.code).toBe(1);
    expect(mod.stderr.trim().split('\n')).toHaveLength(1);
    expect(mod.stderr).toMatch(/^minirs: .*ReJSON-RL.*--skip-modules/);
    expect(
      minirs('rdb', 'restore', join(FIXTURES, 'redis_40_with_module.rdb'), uri, '--skip-modules').code,
    ).toBe(0);

    const refused = minirs('rdb', 'restore', gen, 'redis://:hunter2@127.0.0.1:1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^minirs: cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*\n$/);
    expect(refused.stderr).not.toContain('hunter2');

    expect(minirs('rdb', 'restore', join(dir, 'missing.rdb'), uri).code).toBe(1);
    const badUri = minirs('rdb', 'restore', gen, 'http://:hunter2@127.0.0.1:1');
    expect(badUri.code).toBe(2);
    expect(badUri.stderr).not.toContain('hunter2');
    expect(minirs('rdb', 'restore', gen).code).toBe(2);
    expect(minirs('rdb', 'restore', gen, uri, '--mode', 'fast').code).toBe(2);
    expect(minirs('rdb', 'restore', gen, uri, '--window', 'lots').code).toBe(2);
    expect(minirs('rdb', 'restore', gen, uri, '--target-version', 'latest').code).toBe(2);
  });
});
