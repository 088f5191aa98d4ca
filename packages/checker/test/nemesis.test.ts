import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, faultCatalogue } from '../src/nemesis.js';

const input = {
  destUid: 1,
  destShards: [1, 2, 3],
  westNodes: [1, 2],
  eastNodes: [1, 2],
  sources: [
    { prefix: 's1', uid: 1, where: 'external' as const, shards: [] },
    { prefix: 's2', uid: 2, where: 'west' as const, shards: [4] },
    { prefix: 's3', uid: 3, where: 'east' as const, shards: [1, 2] },
  ],
  kinds: FAULT_KINDS,
};

describe('faultCatalogue', () => {
  it('has every fault kind on every process and link it applies to', () => {
    const c = faultCatalogue(input);
    const has = (kind: string, where: string, target: string) =>
      c.some((f) => f.kind === kind && f.where === where && f.target === target);
    for (const kind of ['kill', 'pause']) {
      expect(has(kind, 'west', 'syncer:1')).toBe(true);
      for (const n of [1, 2]) {
        expect(has(kind, 'west', `proxy:${n}`)).toBe(true);
        expect(has(kind, 'east', `proxy:${n}`)).toBe(true);
      }
      for (const u of [1, 2, 3, 4]) {
        expect(has(kind, 'west', `shard:${u}`)).toBe(true);
        expect(has(kind, 'west', `redis:${u}`)).toBe(true);
      }
      for (const u of [1, 2]) expect(has(kind, 'east', `redis:${u}`)).toBe(true);
      expect(has(kind, 'external', 'redis-server')).toBe(true);
    }
    for (const kind of ['partition', 'reset', 'latency', 'bandwidth']) {
      for (const t of ['syncer:1', 'source:1/1', 'source:1/2', 'source:1/3'])
        expect(has(kind, 'west', t)).toBe(true);
    }
    expect(c.find((f) => f.kind === 'oom' && f.target === 'bdb:1')?.stop).toBe('must');
    expect(c.filter((f) => f.kind === 'oom' && f.stop === 'may').map((f) => f.target)).toEqual([
      'shard:4',
      'shard:1',
      'shard:2',
    ]);
    expect(new Set(c.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
  });

  it('marks the faults that lose a source data set, and keeps only the kinds asked for', () => {
    const c = faultCatalogue(input);
    expect(c.filter((f) => f.losesSource).every((f) => f.kind === 'kill' && f.target !== 'syncer:1')).toBe(
      true,
    );
    expect(c.find((f) => f.kind === 'kill' && f.where === 'external')?.losesSource).toBe('s1');
    expect(
      c.find((f) => f.kind === 'kill' && f.where === 'east' && f.target === 'redis:2')?.losesSource,
    ).toBe('s3');
    expect(
      c.find((f) => f.kind === 'kill' && f.target === 'redis:1' && f.where === 'west')?.losesSource,
    ).toBeUndefined();
    const only = faultCatalogue({ ...input, kinds: ['reset', 'kill'] });
    expect(new Set(only.map((f) => f.kind))).toEqual(new Set(['reset', 'kill']));
  });
});
