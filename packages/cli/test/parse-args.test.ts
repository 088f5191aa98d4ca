import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  parseCompression,
  parseInteger,
  parseMemorySize,
  parsePort,
  parseSeconds,
} from '../src/parse-args.js';

describe('parseMemorySize', () => {
  it.each([
    ['100mb', 100 * 1024 * 1024],
    ['100MB', 100 * 1024 * 1024],
    ['100Mb', 100 * 1024 * 1024],
    ['1gb', 1024 ** 3],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['512kb', 512 * 1024],
    ['512k', 512 * 1024],
    ['2m', 2 * 1024 * 1024],
    ['4096', 4096],
    ['4096b', 4096],
    [' 64 mb ', 64 * 1024 * 1024],
    ['0', 0],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseMemorySize(text)).toBe(bytes);
  });

  it.each(['', 'abc', 'mb', '10tb', '-1mb', '1e3', '1,5gb', '0x10', '100 megabytes', '1.mb'])(
    'rejects %j as a usage error that shows the expected form',
    (text) => {
      expect(() => parseMemorySize(text)).toThrow(InvalidArgumentError);
      expect(() => parseMemorySize(text)).toThrow(/b, kb, mb or gb/);
    },
  );

  it('rejects sizes beyond exact integers', () => {
    expect(() => parseMemorySize('99999999999999gb')).toThrow(/too large/);
  });
});

describe('integer options', () => {
  it('accepts digits only', () => {
    expect(parseInteger('3')).toBe(3);
    expect(parseInteger('0')).toBe(0);
    expect(parseInteger('512')).toBe(512);
    for (const bad of ['', 'x', '3.0', '-1', '0x3', '3 shards', '1e2']) {
      expect(() => parseInteger(bad), bad).toThrow(InvalidArgumentError);
    }
  });

  it('ports are 1-65535', () => {
    expect(parsePort('9443')).toBe(9443);
    expect(() => parsePort('0')).toThrow(/not a TCP port/);
    expect(() => parsePort('65536')).toThrow(/not a TCP port/);
  });

  it('compression is 0-6', () => {
    expect(parseCompression('0')).toBe(0);
    expect(parseCompression('6')).toBe(6);
    expect(() => parseCompression('7')).toThrow(/0 \(off\) to 6/);
  });

  it('watch seconds are positive', () => {
    expect(parseSeconds('2.5')).toBe(2.5);
    expect(() => parseSeconds('0')).toThrow(InvalidArgumentError);
    expect(() => parseSeconds('soon')).toThrow(InvalidArgumentError);
  });
});
