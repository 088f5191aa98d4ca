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

export function groupTag(prefix: string, g: number): string {
  return `${prefix}:{g${g}}`;
}

export function dataKey(prefix: string, g: number, kind: KeyKind, n: number): string {
  return `${groupTag(prefix, g)}:${kind}:${n}`;
}

/** INCR-only counter: its value must equal the INCRs the source applied. */
export function counterKey(prefix: string, g: number): string {
  return `${groupTag(prefix, g)}:ctr`;
}

/** RPUSH-only list of sequence numbers: strictly increasing, and equal on the destination. */
export function historyKey(prefix: string, g: number): string {
  return `${groupTag(prefix, g)}:hist`;
}

/** Changed only inside MULTI/EVAL, together: GET txc must equal LLEN txh everywhere. */
export function txCounterKey(prefix: string, g: number): string {
  return `${groupTag(prefix, g)}:txc`;
}

export function txHistoryKey(prefix: string, g: number): string {
  return `${groupTag(prefix, g)}:txh`;
}

/** The destination's custom hash policy: the tag is "<prefix>:<group>", not the braces. */
export const CUSTOM_SHARD_KEY_REGEX = ['^(?<tag>[^:]+:[^:]+):', '(?<tag>.*)'];
