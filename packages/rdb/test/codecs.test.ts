import { rng as prng } from '@minirs/harness';
import { describe, expect, it } from 'vitest';
import {
  Crc64,
  crc64,
  decodeModuleId,
  dumpPayload,
  LzfError,
  lzfCompress,
  lzfDecompress,
  parseDumpPayload,
  rdbVersionForRedis,
} from '../src/index.js';
import { moduleId } from './helpers/rdb-writer.js';

describe('CRC64 (Jones, reflected)', () => {
  it('matches the check value', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0xe9c6d914c4b8d9can);
    expect(crc64(Buffer.alloc(0))).toBe(0n);
  });

  it('gives the same result however the input is split (slice-by-8 vs byte loop)', () => {
    const rnd = prng(1);
    const data = Buffer.alloc(1000);
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rnd() * 256);
    const whole = crc64(data);
    for (const step of [1, 3, 7, 8, 9, 64, 999]) {
      const c = new Crc64();
      for (let i = 0; i < data.length; i += step) c.update(data, i, Math.min(data.length, i + step));
      expect(c.digest()).toBe(whole);
    }
  });
});

describe('LZF', () => {
  it('round-trips compressible and random data', () => {
    const rnd = prng(2);
    const samples = [
      Buffer.from('a'.repeat(10_000)),
      Buffer.from('abcabcabcabcabcabcabcabc hello hello hello hello'),
      Buffer.from(Array.from({ length: 5000 }, (_, i) => `key:${i % 97};`).join('')),
    ];
    for (const s of samples) {
      const c = lzfCompress(s);
      expect(c).not.toBeNull();
      expect(c!.length).toBeLessThan(s.length);
      expect(lzfDecompress(c!, s.length)).toEqual(s);
    }
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256);
    expect(lzfCompress(noise)).toBeNull();
    const tiny = Buffer.from('abc');
    expect(lzfCompress(tiny)).toBeNull();
  });

  it('rejects bad input with an LzfError, never reading out of bounds', () => {
    expect(() => lzfDecompress(Buffer.from([0x05, 0x61]), 6)).toThrow(LzfError);
    expect(() => lzfDecompress(Buffer.from([0x00, 0x61, 0x20, 0x05]), 10)).toThrow(
      /before the start|overflows/,
    );
    expect(() => lzfDecompress(Buffer.from([0x00, 0x61]), 2)).toThrow(/declared 2/);
  });
});

describe('small helpers', () => {
  it('DUMP payload framing round-trips and detects corruption', () => {
    const p = dumpPayload(0, Buffer.from([3, 0x66, 0x6f, 0x6f]), 10);
    expect(p.subarray(-10, -8)).toEqual(Buffer.from([10, 0]));
    expect(parseDumpPayload(p)).toEqual({
      rdbType: 0,
      body: Buffer.from([3, 0x66, 0x6f, 0x6f]),
      rdbVersion: 10,
    });
    p[2] ^= 1;
    expect(parseDumpPayload(p)).toBeNull();
  });

  it('module ids decode to the 9-character name and encoding version', () => {
    for (const [name, ver] of [
      ['ReJSON-RL', 0],
      ['MBbloom--', 3],
      ['search-ix', 1023],
    ] as const) {
      expect(decodeModuleId(moduleId(name, ver))).toEqual({ id: moduleId(name, ver), name, encver: ver });
    }
  });

  it('maps Redis versions to RDB versions', () => {
    expect(rdbVersionForRedis('7.0.15')).toBe(10);
    expect(rdbVersionForRedis('7.2.4')).toBe(11);
    expect(rdbVersionForRedis('7.4.1')).toBe(12);
    expect(rdbVersionForRedis('8.0.0')).toBe(12);
    expect(rdbVersionForRedis('6.2.14')).toBe(9);
    expect(rdbVersionForRedis('4.0.9')).toBe(8);
    expect(() => rdbVersionForRedis('x')).toThrow(RangeError);
  });
});
