import { counterKey, GROUPS, genOf, historyKey, txCounterKey, txHistoryKey } from './keyspace.js';
import type { KeyState, Snapshot } from './snapshot.js';
import type { CounterFate } from './workload.js';

/**
 * The judge of a round, as pure functions over snapshots taken after healing and quiescing:
 *  - every key of every source on the destination with the same type, value and TTL (within a
 *    tolerance), and no key on the destination that no source has (the destination is the union
 *    of the sources' disjoint key spaces);
 *  - sequence evidence per source: counters equal on both sides and within what the writer saw
 *    acknowledged; RPUSH histories strictly increasing at the source and, on the destination,
 *    neither a duplicated nor a skipped element; MULTI/EVAL pairs (txc == LLEN txh) intact;
 *  - Replica Of stops: none without a stop-worthy fault (false stop), one after each fault that
 *    must stop the sync (missed stop).
 * Keys about to expire on either side are left out: their expiry races the comparison.
 */

export interface Finding {
  check: 'key' | 'sequence' | 'false-stop' | 'missed-stop' | 'no-sync' | 'source';
  key?: string;
  detail: string;
}

export interface SourceView {
  prefix: string;
  snap: Snapshot;
  /** The writer's INCR fates per counter key; unused when the source lost data outside the workload. */
  counters?: Map<string, CounterFate>;
  /**
   * The source's key generation at the end (0: it never changed). Another source's flush erased
   * this source's keys on the destination (it replays as a flush of the whole destination), and
   * what reached the destination of the keys written before it was applied is not modelled:
   * only keys of this generation, written after the flush was applied, are compared.
   */
  gen?: number;
}

export interface CompareOutcome {
  checked: number;
  missing: number;
  extra: number;
  different: number;
  findings: Finding[];
}

export interface OracleOptions {
  ttlToleranceMs: number;
  /** Keys whose PTTL is below this on either side are not compared. */
  nearExpiryMs: number;
}

export const DEFAULT_ORACLE: OracleOptions = { ttlToleranceMs: 2500, nearExpiryMs: 4000 };

function prefixOf(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? key : key.slice(0, i);
}

/** When the key expires, on the clock of the reads (both sides are read on this machine). */
function expireAt(k: KeyState): number {
  return (k.readAt ?? 0) + k.pttl;
}

function nearExpiry(pttl: number | undefined, o: OracleOptions): boolean {
  return pttl !== undefined && pttl >= 0 && pttl < o.nearExpiryMs;
}

export function compareKeys(
  sources: SourceView[],
  dest: Snapshot,
  o: OracleOptions = DEFAULT_ORACLE,
): CompareOutcome {
  const out: CompareOutcome = { checked: 0, missing: 0, extra: 0, different: 0, findings: [] };
  const byPrefix = new Map(sources.map((s) => [s.prefix, s.snap]));
  const genByPrefix = new Map(sources.map((s) => [s.prefix, s.gen ?? 0]));
  for (const s of sources) {
    for (const [key, a] of s.snap) {
      if (genOf(key) < (s.gen ?? 0)) continue;
      const b = dest.get(key);
      if (nearExpiry(a.pttl, o) || nearExpiry(b?.pttl, o)) continue;
      out.checked++;
      if (!b) {
        out.missing++;
        out.findings.push({
          check: 'key',
          key,
          detail: `missing on the destination (source ${s.prefix}: ${a.type}, PTTL ${a.pttl}, ${a.value.slice(0, 80)})`,
        });
        continue;
      }
      if (a.type !== b.type) {
        out.different++;
        out.findings.push({
          check: 'key',
          key,
          detail: `type ${a.type} at the source, ${b.type} on the destination`,
        });
      } else if (a.value !== b.value) {
        out.different++;
        out.findings.push({
          check: 'key',
          key,
          detail: `${a.type} value differs: source ${a.value.slice(0, 160)} / destination ${b.value.slice(0, 160)}`,
        });
      } else if (
        a.pttl < 0 !== b.pttl < 0 ||
        // Both without a TTL: equal, however far apart the two reads were.
        (a.pttl >= 0 && Math.abs(expireAt(a) - expireAt(b)) > o.ttlToleranceMs)
      ) {
        out.different++;
        out.findings.push({
          check: 'key',
          key,
          detail: `TTL ${a.pttl} ms at the source, ${b.pttl} ms on the destination`,
        });
      }
    }
  }
  for (const [key, b] of dest) {
    const src = byPrefix.get(prefixOf(key));
    if (src?.has(key) || nearExpiry(b.pttl, o) || genOf(key) < (genByPrefix.get(prefixOf(key)) ?? 0)) continue;
    out.extra++;
    out.findings.push({
      check: 'key',
      key,
      detail: src
        ? `extra on the destination (${b.type}, PTTL ${b.pttl}, ${b.value.slice(0, 80)}; the source ${prefixOf(key)} has no such key)`
        : `extra on the destination (${b.type}; no source has prefix ${prefixOf(key)})`,
    });
  }
  out.findings.sort((x, y) => (x.key ?? '').localeCompare(y.key ?? ''));
  return out;
}

function ints(list: string[] | undefined): number[] {
  return (list ?? []).map((x) => Number(x));
}

function firstNonIncreasing(xs: number[]): number {
  for (let i = 1; i < xs.length; i++) if (!(xs[i]! > xs[i - 1]!)) return i;
  return -1;
}

/** What a destination history has that a source's does not, in the words of the evidence. */
export function historyEvidence(src: number[], dst: number[]): string | undefined {
  const seen = new Set<number>();
  for (const x of dst) {
    if (seen.has(x)) return `write seq ${x} applied twice on the destination (duplicate)`;
    seen.add(x);
  }
  const s = new Set(src);
  const lo = Math.max(src[0] ?? Infinity, dst[0] ?? Infinity);
  for (const x of src)
    if (x >= lo && !seen.has(x)) return `write seq ${x} missing on the destination (skipped)`;
  for (const x of dst)
    if (x >= lo && !s.has(x)) return `write seq ${x} on the destination but not at the source`;
  if (src.length !== dst.length)
    return `history of ${src.length} elements at the source, ${dst.length} on the destination`;
  return undefined;
}

export function sequenceEvidence(sources: SourceView[], dest: Snapshot): Finding[] {
  const f: Finding[] = [];
  for (const s of sources) {
    const gen = s.gen ?? 0;
    for (let g = 0; g < GROUPS; g++) {
      const ck = counterKey(s.prefix, g, gen);
      const a = s.snap.get(ck);
      const b = dest.get(ck);
      const av = a ? Number(JSON.parse(a.value)) : 0;
      const bv = b ? Number(JSON.parse(b.value)) : 0;
      if (av !== bv)
        f.push({
          check: 'sequence',
          key: ck,
          detail: `counter ${av} at the source, ${bv} on the destination (${bv > av ? 'a duplicated' : 'a skipped'} INCR)`,
        });
      const fate = s.counters?.get(ck);
      if (fate && (av < fate.ok || av > fate.ok + fate.unknown)) {
        f.push({
          check: 'source',
          key: ck,
          detail: `counter ${av} at the source, but its writer had ${fate.ok} INCRs acknowledged and ${fate.unknown} of unknown fate`,
        });
      }
      for (const hk of [historyKey(s.prefix, g, gen), txHistoryKey(s.prefix, g, gen)]) {
        const sh = ints(s.snap.get(hk)?.list);
        const dh = ints(dest.get(hk)?.list);
        const bad = firstNonIncreasing(sh);
        if (bad >= 0)
          f.push({
            check: 'source',
            key: hk,
            detail: `history not increasing at the source: ${sh[bad - 1]} then ${sh[bad]}`,
          });
        const ev = historyEvidence(sh, dh);
        if (ev) f.push({ check: 'sequence', key: hk, detail: ev });
      }
      const txc = txCounterKey(s.prefix, g, gen);
      const txh = txHistoryKey(s.prefix, g, gen);
      for (const [side, snap] of [
        ['source', s.snap],
        ['destination', dest],
      ] as const) {
        const c = snap.get(txc);
        const n = Number(c ? JSON.parse(c.value) : 0);
        const len = snap.get(txh)?.list?.length ?? 0;
        if (n !== len)
          f.push({
            check: side === 'source' ? 'source' : 'sequence',
            key: txc,
            detail: `on the ${side} ${txc} is ${n} but ${txh} holds ${len}: a transaction was split`,
          });
      }
    }
  }
  return f;
}
