/**
 * The key space of one source: every key starts with the source's prefix ("s1:"), then a hash
 * tag group ("{g3}"), so a MULTI or a script on one group hashes to one slot on the source and on
 * the destination, under the default policy and under the checker's custom shard_key_regex alike.
 * Sources have disjoint prefixes, so the destination is the union of their key spaces.
 */

export const GROUPS = 8;
/** Keys of each kind per group. */
export const PER_GROUP = 10;

export type KeyKind = 's' | 'a' | 'l' | 'h' | 'set' | 'z' | 'x' | 'big' | 'pre';

/**
 * `gen`: the writer's key generation. A source whose keys another source's flush erased on the
 * destination (several sources, one of them flushing) writes a new generation from then on, so
 * the oracle compares only keys written after the flush was applied (see genOf).
 */
export function groupTag(prefix: string, g: number, gen = 0): string {
  return gen ? `${prefix}:{g${g}v${gen}}` : `${prefix}:{g${g}}`;
}

/** The generation a key was written in (0 when it has none). */
export function genOf(key: string): number {
  const m = /^[^:]*:\{g\d+v(\d+)\}/.exec(key);
  return m ? Number(m[1]) : 0;
}

export function dataKey(prefix: string, g: number, kind: KeyKind, n: number, gen = 0): string {
  return `${groupTag(prefix, g, gen)}:${kind}:${n}`;
}

/** INCR-only counter: its value must equal the INCRs the source applied. */
export function counterKey(prefix: string, g: number, gen = 0): string {
  return `${groupTag(prefix, g, gen)}:ctr`;
}

/** RPUSH-only list of sequence numbers: strictly increasing, and equal on the destination. */
export function historyKey(prefix: string, g: number, gen = 0): string {
  return `${groupTag(prefix, g, gen)}:hist`;
}

/** Changed only inside MULTI/EVAL, together: GET txc must equal LLEN txh everywhere. */
export function txCounterKey(prefix: string, g: number, gen = 0): string {
  return `${groupTag(prefix, g, gen)}:txc`;
}

export function txHistoryKey(prefix: string, g: number, gen = 0): string {
  return `${groupTag(prefix, g, gen)}:txh`;
}

/** The destination's custom hash policy: the tag is "<prefix>:<group>", not the braces. */
export const CUSTOM_SHARD_KEY_REGEX = ['^(?<tag>[^:]+:[^:]+):', '(?<tag>.*)'];
