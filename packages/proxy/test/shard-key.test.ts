import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { crc16, DEFAULT_SHARD_KEY_REGEX, NO_RULE_MATCHED, ShardKeyRules, slotOfTag } from '../src/index.js';

const slotOf = (rules: ShardKeyRules, key: string | Buffer) => {
  const b = typeof key === 'string' ? Buffer.from(key, 'latin1') : key;
  return rules.slot(b, 0, b.length);
};
const crcSlot = (s: string) => slotOfTag(Buffer.from(s, 'latin1'), 0, Buffer.byteLength(s, 'latin1'));

describe('crc16', () => {
  it('is CRC16-XMODEM', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
  });

  it('agrees with cluster-key-slot wherever its brace rule cannot apply', () => {
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 48271) % 2147483647;
      const key = Buffer.from(`k:${seed.toString(36)}:${i}`);
      expect(slotOfTag(key, 0, key.length)).toBe(calculateSlot(key));
    }
    // With braces cluster-key-slot hashes the inside again; slotOfTag hashes what it is given.
    expect(calculateSlot('{a}b')).toBe(crcSlot('a'));
    expect(crcSlot('{a}b')).not.toBe(crcSlot('a'));
  });
});

describe('ShardKeyRules', () => {
  const rs = ShardKeyRules.compile(DEFAULT_SHARD_KEY_REGEX);

  it("uses RS's greedy default rules", () => {
    expect(rs.isDefault).toBe(true);
    expect(rs.tagOf(Buffer.from('user:{42}:name'))?.toString()).toBe('42');
    expect(rs.tagOf(Buffer.from('a{b}c{d}'))?.toString()).toBe('d');
    expect(rs.tagOf(Buffer.from('{}x'))?.toString()).toBe('');
    expect(rs.tagOf(Buffer.from('x{a{b}c}'))?.toString()).toBe('b}c');
    expect(rs.tagOf(Buffer.from('a{b'))?.toString()).toBe('a{b');
    expect(slotOf(rs, 'a{b}c{d}')).toBe(crcSlot('d'));
    expect(slotOf(rs, '{}x')).toBe(0);
  });

  it('fast path equals the regexes themselves on random keys', () => {
    // Same rules with a trailing space in a regex: not "default", so they go through RegExp.
    const viaRegex = ShardKeyRules.compile([{ regex: '.*\\{(?<tag>.*)\\}.*' }, { regex: '(?<tag>.*)(?:)' }]);
    expect(viaRegex.isDefault).toBe(false);
    const alphabet = 'ab{}\n\r:x\u00ff';
    let seed = 3;
    for (let i = 0; i < 5000; i++) {
      let key = '';
      const len = i % 12;
      for (let j = 0; j < len; j++) {
        seed = (seed * 48271) % 2147483647;
        key += alphabet[seed % alphabet.length];
      }
      expect(slotOf(rs, key), JSON.stringify(key)).toBe(slotOf(viaRegex, key));
    }
  });

  it('routes by custom rules in order, with named group tag', () => {
    const rules = ShardKeyRules.compile([
      { regex: '^user:(?<tag>\\d+):' },
      { regex: '^order-(?<tag>[a-z]+)' },
    ]);
    expect(rules.tagOf(Buffer.from('user:17:profile'))?.toString()).toBe('17');
    expect(rules.tagOf(Buffer.from('order-abc-1'))?.toString()).toBe('abc');
    expect(slotOf(rules, 'user:17:a')).toBe(slotOf(rules, 'user:17:b'));
    expect(slotOf(rules, 'other')).toBe(NO_RULE_MATCHED);
  });

  it('hashes binary keys byte for byte', () => {
    const key = Buffer.from([0xff, 0x7b, 0x00, 0xfe, 0x7d]);
    expect(ShardKeyRules.compile(undefined).slot(key, 0, key.length)).toBe(slotOfTag(key, 2, 4));
  });

  it('rejects a rule that is not a regex, naming it', () => {
    expect(() => ShardKeyRules.compile([{ regex: '(?<tag>' }])).toThrow(/rule 0/);
  });
});
