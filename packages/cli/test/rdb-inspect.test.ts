import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, isMinirsError } from '@minirs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { inspectRdb, type RdbInspection, renderInspection } from '../src/rdb-inspect.js';
import { shortTempDir } from './helpers.js';
import {
  FIXTURE_SET,
  FIXTURES,
  generateRdb,
  keyspace,
  LIBRARY,
  MODULE_FIXTURES,
  scanKeys,
  typesPerDb,
} from './rdb-helpers.js';

const MAIN = join(import.meta.dirname, '../dist/main.js');

/** The built binary, as users run it. */
function minirs(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Keys per db and type of an inspection, as `TYPE` names them. */
function inspectedTypes(r: RdbInspection): Map<number, Record<string, number>> {
  return new Map(r.dbs.filter((d) => d.keys > 0).map((d) => [d.db, d.types as Record<string, number>]));
}

const fixtures = FIXTURE_SET.files.filter((f) => !MODULE_FIXTURES.has(f));

describe('rdb inspect: the fixtures against what redis-server loads', () => {
  it.skipIf(!FIXTURE_SET.available)('finds the fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25);
  });

  for (const file of fixtures) {
    it(`${file}: keys per db and type match the server that loaded it`, async () => {
      const path = join(FIXTURES, file);
      const r = await inspectRdb(path);
      const ground = await new RedisServer().withRdbFile(path).start();
      try {
        // redis-server drops keys already expired when it loads as a master.
        const loaded = await keyspace(ground.client());
        const expected = new Map(
          r.dbs.filter((d) => d.keys - d.expired > 0).map((d) => [d.db, d.keys - d.expired]),
        );
        expect(new Map([...loaded].map(([db, s]) => [db, s.keys]))).toEqual(expected);
        if (r.expired === 0) expect(inspectedTypes(r)).toEqual(await typesPerDb(ground));
        const info = await ground.client().info('persistence');
        expect(info).toMatch(/rdb_last_load_keys_loaded:\d+/);
        expect(r.keys).toBe(Number(/rdb_last_load_keys_loaded:(\d+)/.exec(info)![1]) + r.expired);
        expect(r.rdb_version).toBe(Number(readFileSync(path).toString('latin1', 5, 9)));
      } finally {
        await ground.stop();
      }
    });
  }

  it.skipIf(!FIXTURE_SET.available)(
    'keys_with_expiry.rdb: the key is counted with a TTL and as already expired',
    async () => {
      const r = await inspectRdb(join(FIXTURES, 'keys_with_expiry.rdb'));
      expect(r).toMatchObject({ keys: 1, with_ttl: 1, expired: 1 });
      // With a clock before its expiry it is not expired yet.
      const early = await inspectRdb(join(FIXTURES, 'keys_with_expiry.rdb'), { now: () => 0 });
      expect(early).toMatchObject({ keys: 1, with_ttl: 1, expired: 0 });
    },
  );

  it.skipIf(!FIXTURE_SET.available)(
    'AUX fields as written, ctime as an ISO time; the checksum state',
    async () => {
      const r = await inspectRdb(join(FIXTURES, 'rdb_version_8_with_64b_length_and_scores.rdb'));
      expect(r.aux).toMatchObject({
        'redis-ver': '3.9.102',
        ctime: new Date(1487581044 * 1000).toISOString(),
        'used-mem': '853296',
        'repl-id': 'b7d7721a501c708e515388753aba35c5b5d48a57',
        'repl-offset': '0',
      });
      expect(r.checksum).toBe('verified');
      expect((await inspectRdb(join(FIXTURES, 'dictionary.rdb'))).checksum).toBe('absent');
      expect((await inspectRdb(join(FIXTURES, 'redis_40_with_module.rdb'))).checksum).toBe('disabled');
    },
  );

  it.skipIf(!FIXTURE_SET.available)('module data is listed with the module names, not an error', async () => {
    const r = await inspectRdb(join(FIXTURES, 'redis_40_with_module.rdb'));
    expect(r.module_keys).toEqual({
      count: 1,
      modules: { 'ReJSON-RL': 1 },
      examples: [{ db: 0, key: 'foo', module: 'ReJSON-RL' }],
    });
    expect(r.dbs[0]!.encodings).toEqual({ 'module-v2': 1, string: 1 });
    expect(renderInspection(r)).toMatch(/module keys: 1 \(ReJSON-RL 1\).*--skip-modules/);
    const aux = await inspectRdb(join(FIXTURES, 'redis_60_with_module_aux.rdb'));
    expect(aux.module_aux).toEqual([{ module: 'test__rdb', count: 1 }]);
    expect(aux.keys).toBe(0);
  });
});

describe('rdb inspect: an RDB written by a live redis-server 7', () => {
  let server: StartedRedisServer;
  let dir: string;
  let file: string;
  let gen: Awaited<ReturnType<typeof generateRdb>>;
  beforeAll(async () => {
    server = await new RedisServer().start();
    dir = shortTempDir('rdbi-');
    file = join(dir, 'gen.rdb');
    gen = await generateRdb(server, file);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('encodings per db match OBJECT ENCODING of every key; TTLs, functions, AUX, biggest keys', async () => {
    const r = await inspectRdb(file);
    expect(r.rdb_version).toBe(10);
    const info = await server.client().info('server');
    expect(r.aux['redis-ver']).toBe(/redis_version:(\S+)/.exec(info)![1]);
    expect(Math.abs(Date.parse(r.aux.ctime!) - Date.now())).toBeLessThan(120_000);
    expect(r.functions).toEqual({ count: 1, libraries: ['rdbtestlib'] });
    expect(LIBRARY).toContain('name=rdbtestlib');
    expect(r.checksum).toBe('verified');

    // The RDB type Redis 7.0 writes for each (TYPE, OBJECT ENCODING).
    const rdbType: Record<string, string> = {
      'list:quicklist': 'list-quicklist-v2',
      'set:intset': 'set-intset',
      'set:hashtable': 'set-hashtable',
      'zset:listpack': 'zset-listpack',
      'zset:skiplist': 'zset-skiplist-v2',
      'hash:listpack': 'hash-listpack',
      'hash:hashtable': 'hash-hashtable',
      'stream:stream': 'stream-v2',
    };
    const space = await keyspace(server.client());
    expect(new Map(r.dbs.map((d) => [d.db, d.keys]))).toEqual(gen.perDb);
    for (const d of r.dbs) {
      const c = server.client({ db: d.db });
      const encodings: Record<string, number> = {};
      for (const k of await scanKeys(c)) {
        const type = await c.type(k);
        const name = type === 'string' ? 'string' : rdbType[`${type}:${await c.object('ENCODING', k)}`];
        expect(name, `${type} ${k}`).toBeDefined();
        encodings[name!] = (encodings[name!] ?? 0) + 1;
      }
      expect(d.encodings).toEqual(encodings);
      expect(d.with_ttl).toBe(space.get(d.db)!.expires);
      expect(d.resize_db).toEqual({ db_size: d.keys, expires_size: d.with_ttl });
      c.disconnect();
    }
    expect(r.expired).toBe(0);
    expect(r.with_ttl).toBe(2);

    expect(r.biggest).toHaveLength(10);
    expect(r.biggest[0]).toMatchObject({ db: 0, key: gen.biggest, type: 'string', encoding: 'string' });
    // Type byte + key + length prefix + the value: a few bytes more than the value itself.
    expect(r.biggest[0]!.bytes).toBeGreaterThan(gen.bigBytes);
    expect(r.biggest[0]!.bytes).toBeLessThan(gen.bigBytes + 32);
    for (let i = 1; i < r.biggest.length; i++)
      expect(r.biggest[i]!.bytes).toBeLessThanOrEqual(r.biggest[i - 1]!.bytes);
    expect((await inspectRdb(file, { top: 3 })).biggest).toEqual(r.biggest.slice(0, 3));

    const text = renderInspection(r);
    expect(text).toMatch(/RDB version 10, CRC64 verified/);
    expect(text).toMatch(/functions: 1 library \(rdbtestlib\)/);
    expect(text).toMatch(/^3\s+3\s+0\s+0\s+/m); // db 3: 3 keys, none with a TTL
  });

  it('a truncated file: MINIRS_ERR_RDB_CORRUPT with the byte offset and what was expected', async () => {
    const data = readFileSync(file);
    const cut = join(dir, 'cut.rdb');
    writeFileSync(cut, data.subarray(0, Math.floor(data.length / 2)));
    const err = await inspectRdb(cut).catch((e: unknown) => e);
    expect(isMinirsError(err, ErrorCodes.RDB_CORRUPT)).toBe(true);
    const m = /RDB truncated at byte (\d+): expected (.+)/.exec((err as Error).message);
    expect(m, (err as Error).message).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(data.length / 2);
  });

  it.skipIf(!FIXTURE_SET.available)(
    'the binary: exit 0 with --json, 1 with one line for a bad file, 2 for bad usage',
    () => {
      const ok = minirs('rdb', 'inspect', file, '--json');
      expect(ok.code, ok.stderr).toBe(0);
      const r = JSON.parse(ok.stdout) as RdbInspection;
      expect(r.keys).toBe([...gen.perDb.values()].reduce((a, b) => a + b, 0));

      const text = minirs('rdb', 'inspect', join(FIXTURES, 'parser_filters.rdb'));
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/keys: 43 in 1 db/);

      const cut = join(dir, 'cut2.rdb');
      writeFileSync(cut, readFileSync(join(FIXTURES, 'regular_sorted_set.rdb')).subarray(0, 1000));
      const bad = minirs('rdb', 'inspect', cut);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      expect(bad.stderr).toMatch(
        /^minirs: .*cut2\.rdb: RDB truncated at byte \d+: expected .*key 'force_sorted_set'/,
      );

      const missing = minirs('rdb', 'inspect', join(dir, 'nope.rdb'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^minirs: cannot read .*nope\.rdb: no such file\n$/);

      const notRdb = join(dir, 'text.rdb');
      writeFileSync(notRdb, 'hello world, not an RDB');
      const garbage = minirs('rdb', 'inspect', notRdb);
      expect(garbage.code).toBe(1);
      expect(garbage.stderr).toMatch(/RDB corrupt at byte 0: not an RDB file/);

      expect(minirs('rdb', 'inspect').code).toBe(2);
      expect(minirs('rdb', 'inspect', file, '--top', 'many').code).toBe(2);
      expect(minirs('rdb', 'frobnicate').code).toBe(2);
    },
  );
});
