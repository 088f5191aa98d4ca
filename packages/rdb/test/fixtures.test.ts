import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSet, RedisServer, type StartedRedisServer } from '@minirs/harness';
import { isRdbError, parseRdbBuffer, RdbError, RdbErrorCodes, RestorePlanner } from '../src/index.js';
import { applyCommands, compareServers } from './helpers/compare.js';
import { planRestore } from './helpers/restore.js';

const fx = fixtureSet('rdb');
const FIXTURES = fx.dir;
const files = fx.files;
const MODULE_FILES = new Set(['redis_40_with_module.rdb', 'redis_60_with_module_aux.rdb']);
const DEBUG = ['--enable-debug-command', 'yes'];

/** Ways of restoring: byte-exact payloads, re-encoded payloads, commands, and a mid-key fallback. */
const VARIANTS = [
  { name: 'raw DUMP payloads', parser: { captureRaw: true }, planner: { mode: 'restore' as const } },
  { name: 're-encoded DUMP payloads', parser: {}, planner: { mode: 'restore' as const } },
  {
    name: 'commands',
    parser: { maxChunkItems: 5 },
    planner: { mode: 'commands' as const, maxElementsPerCommand: 3 },
  },
  {
    name: 'auto with payload limit (fallback mid-key)',
    parser: { captureRaw: true, maxChunkItems: 7 },
    planner: { mode: 'auto' as const, maxPayloadBytes: 300 },
  },
];

describe('RDB fixtures (redis-rdb-tools dumps, RDB 2-9)', () => {
  let target: StartedRedisServer;
  let tc: Redis;
  beforeAll(async () => {
    target = await new RedisServer().withArgs(...DEBUG).start();
    tc = target.client();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it.skipIf(!fx.available)('finds the fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(28);
  });

  for (const file of files.filter((f) => !MODULE_FILES.has(f))) {
    it(`${file}: parses, and every restore path matches redis-server's own load`, async () => {
      const data = readFileSync(join(FIXTURES, file));
      const events = [...parseRdbBuffer(data)];
      expect(events[0].kind).toBe('header');
      expect(events.at(-1)?.kind).toBe('end');
      const ground = await new RedisServer().withRdbFile(join(FIXTURES, file)).withArgs(...DEBUG).start();
      try {
        const gc = ground.client();
        for (const v of VARIANTS) {
          await tc.flushall();
          const { commands, planner } = planRestore(data, v.parser, {
            targetRdbVersion: 10,
            now: Date.now,
            ...v.planner,
          });
          await applyCommands(tc, commands);
          const n = await compareServers(gc, tc, { consumerTimes: v.planner.mode === 'restore' });
          expect(n, v.name).toBe(planner.stats.keys - planner.stats.expiredSkipped);
        }
      } finally {
        await ground.stop();
      }
    });
  }

  it.skipIf(!fx.available)(
    'module values: a clear unsupported-module error naming the module (ReJSON-RL)',
    () => {
      const data = readFileSync(join(FIXTURES, 'redis_40_with_module.rdb'));
      let err: unknown;
      try {
        for (const _ of parseRdbBuffer(data));
      } catch (e) {
        err = e;
      }
      expect(isRdbError(err, RdbErrorCodes.UNSUPPORTED)).toBe(true);
      expect((err as RdbError).module).toBe('ReJSON-RL');
      expect((err as RdbError).key).toBe('foo');
      expect((err as RdbError).message).toMatch(/module type 'ReJSON-RL'/);
      // Skipped by its opcodes instead, the rest of the file still parses and the key is reported.
      const events = [...parseRdbBuffer(data, { modules: 'skip' })];
      const mod = events.find((e) => e.kind === 'keyStart' && e.key.type === 'module');
      expect(mod?.kind === 'keyStart' && mod.key.module?.name).toBe('ReJSON-RL');
      expect(events.filter((e) => e.kind === 'keyStart').length).toBe(2);
      const planner = new RestorePlanner({ targetRdbVersion: 10 });
      expect(() => {
        for (const ev of parseRdbBuffer(data, { modules: 'skip' })) planner.push(ev);
      }).toThrow(/module type 'ReJSON-RL'/);
      const skipping = new RestorePlanner({ targetRdbVersion: 10, modules: 'skip' });
      for (const ev of parseRdbBuffer(data, { modules: 'skip' })) skipping.push(ev);
      expect(skipping.stats.modulesSkipped).toEqual([{ key: 'foo', db: 0, module: 'ReJSON-RL' }]);
    },
  );

  it.skipIf(!fx.available)(
    'module AUX data: a clear unsupported-module error naming the module (test__rdb)',
    () => {
      const data = readFileSync(join(FIXTURES, 'redis_60_with_module_aux.rdb'));
      expect(() => [...parseRdbBuffer(data)]).toThrow(RdbError);
      try {
        for (const _ of parseRdbBuffer(data));
      } catch (e) {
        expect((e as RdbError).code).toBe(RdbErrorCodes.UNSUPPORTED);
        expect((e as RdbError).module).toBe('test__rdb');
      }
      const events = [...parseRdbBuffer(data, { modules: 'skip' })];
      const aux = events.find((e) => e.kind === 'moduleAux');
      expect(aux?.kind === 'moduleAux' && aux.module.name).toBe('test__rdb');
      expect(events.at(-1)).toMatchObject({ kind: 'end', checksumVerified: true });
    },
  );
});
