import { describe, expect, it } from 'vitest';
import { counterKey, dataKey, genOf, historyKey, txCounterKey, txHistoryKey } from '../src/keyspace.js';
import { compareKeys, historyEvidence, sequenceEvidence } from '../src/oracle.js';
import type { KeyState, Snapshot } from '../src/snapshot.js';

const str = (v: string, pttl = -1): KeyState => ({ type: 'string', pttl, value: JSON.stringify(v) });
const list = (xs: (string | number)[]): KeyState => ({
  type: 'list',
  pttl: -1,
  value: JSON.stringify(xs.map(String)),
  list: xs.map(String),
});
const snap = (o: Record<string, KeyState>): Snapshot => new Map(Object.entries(o));

describe('compareKeys', () => {
  it('finds the union of disjoint sources equal to a destination that holds it', () => {
    const s1 = snap({ 's1:{g0}:s:1': str('a', 60_000) });
    const s2 = snap({ 's2:{g0}:s:1': str('b') });
    const d = snap({ 's1:{g0}:s:1': str('a', 59_000), 's2:{g0}:s:1': str('b') });
    const r = compareKeys(
      [
        { prefix: 's1', snap: s1 },
        { prefix: 's2', snap: s2 },
      ],
      d,
    );
    expect(r).toMatchObject({ checked: 2, missing: 0, extra: 0, different: 0 });
  });

  it("compares only a source's last key generation after another source's flush", () => {
    const old = dataKey('s2', 3, 'l', 1);
    const cur = dataKey('s2', 3, 'l', 1, 2);
    expect([genOf(old), genOf(cur), genOf('s1:{gm}:mark')]).toEqual([0, 2, 0]);
    // Old keys: gone from the destination, or there in part; neither is a finding.
    const s2 = snap({ [old]: list([1, 2, 3]), [dataKey('s2', 0, 's', 0, 1)]: str('x'), [cur]: list([7]) });
    const d = snap({ [dataKey('s2', 0, 's', 0, 1)]: str('partial'), [dataKey('s2', 5, 's', 5, 1)]: str('y'), [cur]: list([7]) });
    const r = compareKeys([{ prefix: 's2', snap: s2, gen: 2 }], d);
    expect(r).toMatchObject({ checked: 1, missing: 0, extra: 0, different: 0 });
    // Keys of the last generation are compared as any key.
    const bad = compareKeys([{ prefix: 's2', snap: s2, gen: 2 }], snap({ [cur]: list([7, 7]) }));
    expect(bad.different).toBe(1);
    // And so is the sequence evidence, on that generation's counters and histories.
    const h = historyKey('s2', 0, 2);
    const seq = sequenceEvidence([{ prefix: 's2', snap: snap({ [h]: list([1, 2, 3]) }), gen: 2 }], snap({ [h]: list([1, 3]) }));
    expect(seq.map((f) => f.key)).toEqual([h]);
  });

  it('names missing, extra, differing values, types and TTLs', () => {
    const s1 = snap({
      's1:a': str('x'),
      's1:b': str('y'),
      's1:c': str('z', 60_000),
      's1:d': str('w'),
    });
    const d = snap({
      's1:b': str('Y'),
      's1:c': str('z'),
      's1:d': list(['w']),
      's1:e': str('extra'),
      's9:x': str('nobody'),
    });
    const r = compareKeys([{ prefix: 's1', snap: s1 }], d);
    expect(r).toMatchObject({ missing: 1, extra: 2, different: 3 });
    const byKey = Object.fromEntries(r.findings.map((f) => [f.key, f.detail]));
    expect(byKey['s1:a']).toMatch(/missing/);
    expect(byKey['s1:b']).toMatch(/value differs/);
    expect(byKey['s1:c']).toMatch(/TTL 60000 ms at the source, -1/);
    expect(byKey['s1:d']).toMatch(/type string at the source, list/);
    expect(byKey['s9:x']).toMatch(/no source has prefix s9/);
  });

  it('compares TTLs as expiry times, so two databases read seconds apart agree', () => {
    const a: KeyState = { ...str('x', 60_000), readAt: 1_000_000 };
    const b: KeyState = { ...str('x', 57_000), readAt: 1_003_000 };
    const ok = compareKeys([{ prefix: 's1', snap: snap({ 's1:a': a }) }], snap({ 's1:a': b }));
    expect(ok.different).toBe(0);
    const late = compareKeys(
      [{ prefix: 's1', snap: snap({ 's1:a': a }) }],
      snap({ 's1:a': { ...b, readAt: 1_000_000 } }),
    );
    expect(late.different).toBe(1);
  });

  it('finds two keys without a TTL equal however far apart the reads were (seed 1: 1,267 false findings)', () => {
    const a: KeyState = { ...str('x'), readAt: 1_000_000 };
    const b: KeyState = { ...str('x'), readAt: 1_030_000 };
    const r = compareKeys([{ prefix: 's1', snap: snap({ 's1:a': a }) }], snap({ 's1:a': b }));
    expect(r.different).toBe(0);
  });

  it('leaves out keys about to expire on either side', () => {
    const r = compareKeys(
      [{ prefix: 's1', snap: snap({ 's1:a': str('x', 1000) }) }],
      snap({ 's1:b': str('y', 500) }),
    );
    expect(r).toMatchObject({ checked: 0, missing: 0, extra: 0, different: 0 });
  });
});

describe('sequence evidence', () => {
  it('tells a duplicated write from a skipped one', () => {
    expect(historyEvidence([1, 2, 3, 4], [1, 2, 3, 4])).toBeUndefined();
    expect(historyEvidence([1, 2, 3], [1, 2, 2, 3])).toMatch(/seq 2 applied twice/);
    expect(historyEvidence([1, 2, 3, 4], [1, 2, 4])).toMatch(/seq 3 missing.*skipped/);
    expect(historyEvidence([5, 6], [5, 6, 7])).toMatch(/seq 7 on the destination but not at the source/);
  });

  it('checks counters both ways and against what the writer saw acknowledged', () => {
    const ck = counterKey('s1', 0);
    const src = snap({ [ck]: str('10') });
    const f = sequenceEvidence(
      [{ prefix: 's1', snap: src, counters: new Map([[ck, { ok: 11, unknown: 0 }]]) }],
      snap({ [ck]: str('11') }),
    );
    expect(f.map((x) => x.check).sort()).toEqual(['sequence', 'source']);
    expect(f.find((x) => x.check === 'sequence')!.detail).toMatch(/duplicated INCR/);
    expect(f.find((x) => x.check === 'source')!.detail).toMatch(/11 INCRs acknowledged/);
    const within = sequenceEvidence(
      [{ prefix: 's1', snap: src, counters: new Map([[ck, { ok: 8, unknown: 3 }]]) }],
      snap({ [ck]: str('10') }),
    );
    expect(within).toEqual([]);
  });

  it('finds a split transaction and a history that is not increasing at the source', () => {
    const txc = txCounterKey('s1', 2);
    const txh = txHistoryKey('s1', 2);
    const hk = historyKey('s1', 1);
    const src = snap({ [txc]: str('2'), [txh]: list([4, 9]), [hk]: list([3, 3]) });
    const dst = snap({ [txc]: str('2'), [txh]: list([4]), [hk]: list([3, 3]) });
    const f = sequenceEvidence([{ prefix: 's1', snap: src }], dst);
    expect(f.some((x) => x.key === txc && /transaction was split/.test(x.detail))).toBe(true);
    expect(f.some((x) => x.key === hk && x.check === 'source' && /not increasing/.test(x.detail))).toBe(true);
  });
});
