import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { chooseTopology } from '../src/runner.js';

describe('Rng', () => {
  it('replays the same draws from the same seed, and other draws from another', () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 20 }, () => r.int(0, 1000));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('keeps forked streams independent of draws on the parent', () => {
    const a = new Rng(3);
    const b = new Rng(3);
    const fa = a.fork('nemesis');
    const fb = b.fork('nemesis');
    expect(fa.int(0, 1e9)).toBe(fb.int(0, 1e9));
    expect(a.fork('workload').int(0, 1e9)).not.toBe(a.fork('nemesis').int(0, 1e9));
  });

  it('stays within bounds and reaches both ends', () => {
    const r = new Rng(11);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const x = r.int(2, 5);
      expect(x).toBeGreaterThanOrEqual(2);
      expect(x).toBeLessThanOrEqual(5);
      seen.add(x);
    }
    expect([...seen].sort()).toEqual([2, 3, 4, 5]);
  });

  it('draws topologies of every source kind over a few seeds, and flush rounds led by one sharded source', () => {
    const kinds = new Set<string>();
    const shards = new Set<number>();
    const policies = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      const t = chooseTopology(new Rng(seed).fork('topology'), false);
      expect(t.sources.length).toBeGreaterThan(0);
      for (const s of t.sources) kinds.add(s.kind);
      shards.add(t.destShards);
      policies.add(t.destPolicy);
      expect(t.sources.map((s) => s.prefix)).toEqual(t.sources.map((_, i) => `s${i + 1}`));
    }
    expect([...kinds].sort()).toEqual(['external', 'other-cluster', 'same-cluster', 'sharded']);
    expect([...shards].sort()).toEqual([1, 2, 3]);
    expect([...policies].sort()).toEqual(['custom', 'default']);
    const sizes = new Set<number>();
    for (let seed = 1; seed <= 12; seed++) {
      const f = chooseTopology(new Rng(seed).fork('topology'), true);
      expect(f.sources[0]!.kind).toBe('sharded');
      expect(f.sources.filter((s) => s.kind === 'sharded')).toHaveLength(1);
      expect(f.flush).toBe(true);
      sizes.add(f.sources.length);
    }
    // With one source and with a second whose keys the flushes erase on the destination.
    expect([...sizes].sort()).toEqual([1, 2]);
  });
});
