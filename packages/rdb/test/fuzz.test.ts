import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureSet, rng as prng } from '@minirs/harness';
import { describe, expect, it } from 'vitest';
import { parseRdbBuffer, RdbError, RdbErrorCodes, type RdbParserOptions } from '../src/index.js';

const fx = fixtureSet('rdb');
const FIXTURES = fx.dir;
const files = fx.files;

/** Parse to the end; returns the error, if any. Anything but an RdbError fails the test. */
function outcome(data: Buffer, opts: RdbParserOptions & { chunkSize?: number }): RdbError | null {
  try {
    for (const _ of parseRdbBuffer(data, opts));
    return null;
  } catch (e) {
    if (e instanceof RdbError) return e;
    throw new Error(`non-RdbError ${String(e)}`, { cause: e });
  }
}

describe('fuzz: truncations and bit flips', () => {
  for (const file of files) {
    it(`${file}: only RdbErrors with an offset, never a hang or a crash`, () => {
      const data = readFileSync(join(FIXTURES, file));
      const rnd = prng(file.length * 7919 + data.length);
      const opts = { modules: 'skip' as const, captureRaw: true };
      expect(outcome(data, opts)).toBeNull();
      for (let i = 0; i < 60; i++) {
        const cut = Math.floor(rnd() * data.length);
        const e = outcome(data.subarray(0, cut), { ...opts, chunkSize: 1 + Math.floor(rnd() * 300) });
        // A file cut inside a trailer after the checksum (module fixture) still parses whole.
        if (e === null) continue;
        expect(e.code).toBe(RdbErrorCodes.CORRUPT);
        expect(e.offset).toBeLessThanOrEqual(cut);
        expect(e.message).toMatch(/truncated at byte \d+: expected /);
      }
      for (let i = 0; i < 150; i++) {
        const copy = Buffer.from(data);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let f = 0; f < flips; f++) copy[Math.floor(rnd() * copy.length)] ^= 1 << Math.floor(rnd() * 8);
        const e = outcome(copy, { ...opts, chunkSize: 1 + Math.floor(rnd() * 300) });
        if (e) {
          expect(typeof e.offset).toBe('number');
          expect([RdbErrorCodes.CORRUPT, RdbErrorCodes.UNSUPPORTED]).toContain(e.code);
        }
      }
    });
  }

  it.skipIf(!fx.available)('names what it expected and where', () => {
    const data = readFileSync(join(FIXTURES, 'regular_set.rdb'));
    const e = outcome(data.subarray(0, 30), {});
    expect(e?.message).toMatch(
      /^RDB truncated at byte \d+: expected a set member \(key 'regular_set' in db 0\)/,
    );
    const bad = Buffer.from(data);
    bad.write('RIDES', 0);
    expect(outcome(bad, {})?.message).toMatch(/^RDB corrupt at byte 0: not an RDB file/);
    const v = Buffer.from(data);
    v.write('0099', 5);
    const ve = outcome(v, {});
    expect(ve?.code).toBe(RdbErrorCodes.UNSUPPORTED);
    expect(ve?.message).toMatch(/RDB version 99 is not supported/);
  });

  it.skipIf(!fx.available)('a flipped checksum is a checksum mismatch at the end', () => {
    const data = Buffer.from(readFileSync(join(FIXTURES, 'rdb_version_5_with_checksum.rdb')));
    data[data.length - 1] ^= 0x10;
    const e = outcome(data, {});
    expect(e?.message).toMatch(/checksum mismatch/);
    expect(outcome(data, { verifyChecksum: false })).toBeNull();
  });
});
