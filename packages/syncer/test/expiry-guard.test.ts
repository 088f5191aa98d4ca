import { describe, expect, it } from 'vitest';
import { ExpiryGuard, GUARD_EXTEND_MS, GUARD_MARGIN_MS } from '../src/expiry-guard.js';
import { SourceClock } from '../src/stream-expiry.js';

const k = (s: string) => Buffer.from(s);
const keys = (xs: { key: Buffer }[]) => xs.map((x) => x.key.toString());

describe('SourceClock.offsetAtOrAfter', () => {
  it('gives the first sampled offset at or after a time, the newest sample when offsets stood still', () => {
    const c = new SourceClock();
    c.anchor(100, 1000);
    c.note(150, 2000);
    c.note(150, 3000); // offset unchanged: only `latest` moves
    expect(c.offsetAtOrAfter(500)).toBe(100);
    expect(c.offsetAtOrAfter(1500)).toBe(150);
    expect(c.offsetAtOrAfter(2500)).toBe(150);
    expect(c.offsetAtOrAfter(3500)).toBeUndefined();
  });
});

describe('ExpiryGuard', () => {
  it('extends a key about to expire until the destination applied the stream up to its source expiry', () => {
    const c = new SourceClock();
    c.anchor(0, 0);
    const g = new ExpiryGuard(c);
    g.note(k('a'), 10_000, 10_000);
    g.note(k('far'), 60_000, 60_000);
    // Far from expiry: nothing to do.
    expect(g.due(1000, 0)).toEqual([]);
    // Within the margin, and no sample shows the source past 10 s: extended.
    const now = 10_000 - GUARD_MARGIN_MS + 10;
    expect(g.due(now, 0)).toEqual([{ key: k('a'), at: now + GUARD_EXTEND_MS }]);
    // Extended again when that comes near, as long as the stream has not caught up.
    c.note(500, 10_500);
    const later = now + GUARD_EXTEND_MS - GUARD_MARGIN_MS + 10;
    expect(keys(g.due(later, 400))).toEqual(['a']);
    // The destination applied offset 500, which the source had reached after 10 s: let go.
    expect(g.due(later + GUARD_EXTEND_MS, 500)).toEqual([]);
    expect(g.size).toBe(1);
  });

  it('follows a newer expiry of the same key, forgets deleted keys, and counts what it cannot hold', () => {
    const c = new SourceClock();
    const g = new ExpiryGuard(c, 2);
    g.note(k('a'), 5000, 5000);
    g.note(k('a'), 50_000, 50_000);
    expect(g.due(5000, 0)).toEqual([]);
    g.note(k('b'), 5000, 5000);
    g.forget([k('b')]);
    expect(g.due(5000, 0)).toEqual([]);
    g.note(k('c'), 5000, 5000);
    g.note(k('d'), 5000, 5000);
    expect(g.untracked).toBe(1);
    expect(keys(g.due(5000, 0))).toEqual(['c']);
  });

  it('gives back binary keys byte for byte (it keeps them as latin1 ids, not Buffers)', () => {
    const c = new SourceClock();
    c.anchor(0, 0);
    const g = new ExpiryGuard(c);
    const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    const utf8 = Buffer.from('clé-😀');
    g.note(bin, 10_000, 10_000);
    g.note(utf8, 10_000, 10_000);
    const out = g.due(10_000 - GUARD_MARGIN_MS + 10, 0).map((x) => x.key);
    expect(out).toHaveLength(2);
    expect(out.find((b) => b.length === 256)!.equals(bin)).toBe(true);
    expect(out.find((b) => b.length !== 256)!.equals(utf8)).toBe(true);
    g.forget([bin]);
    expect(g.size).toBe(1);
  });
});
