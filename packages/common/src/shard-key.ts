import { slotOfTag } from './crc16.js';
import type { ShardKeyRule } from './types.js';

/** RS's default hash policy: the text inside the last `{...}`, else the whole key. */
export const DEFAULT_SHARD_KEY_REGEX: ShardKeyRule[] = [
  { regex: '.*\\{(?<tag>.*)\\}.*' },
  { regex: '(?<tag>.*)' },
];

export const NO_RULE_MATCHED = -1;

/**
 * A database's shard_key_regex rules: the first rule that matches a key picks its tag (named
 * group `tag`, else the whole match), and the slot is CRC16(tag) mod 16384.
 *
 * Rules are JavaScript regexes (RS's `(?<tag>...)` is the same syntax) matched against the key
 * decoded as latin1, one character per byte, so match positions are byte offsets and binary
 * keys hash exactly; a non-ASCII literal in a rule must be written as its UTF-8 bytes.
 *
 * RS's default rules are greedy: `a{b}c{d}` has tag `d` and `{}x` has the empty tag, unlike OSS
 * Redis Cluster. They get a byte-level fast path equal to the regexes on every key without CR
 * or LF (where `.` stops); keys with those go through the regexes themselves.
 */
export class ShardKeyRules {
  readonly isDefault: boolean;
  private readonly regexes: RegExp[];

  private constructor(
    readonly rules: ShardKeyRule[],
    regexes: RegExp[],
  ) {
    this.regexes = regexes;
    this.isDefault =
      rules.length === DEFAULT_SHARD_KEY_REGEX.length &&
      rules.every((r, i) => r.regex === DEFAULT_SHARD_KEY_REGEX[i]!.regex);
  }

  /** Compile rules; throws a SyntaxError naming the rule that is not a valid regex. */
  static compile(rules: ShardKeyRule[] | undefined): ShardKeyRules {
    const list = rules && rules.length > 0 ? rules : DEFAULT_SHARD_KEY_REGEX;
    const regexes = list.map((r, i) => {
      try {
        return new RegExp(r.regex, 'd');
      } catch (err) {
        throw new SyntaxError(
          `shard_key_regex rule ${i} (${r.regex}) is not a valid regex: ${(err as Error).message}`,
        );
      }
    });
    return new ShardKeyRules(list, regexes);
  }

  /** Slot of the key buf[start, end), or NO_RULE_MATCHED. */
  slot(buf: Buffer, start: number, end: number): number {
    if (this.tag(buf, start, end) < 0) return NO_RULE_MATCHED;
    return slotOfTag(buf, this.lastTagStart, this.lastTagEnd);
  }

  // Result of the last tag(): the tag's byte range (kept in fields to avoid an allocation).
  private lastTagStart = 0;
  private lastTagEnd = 0;

  /**
   * Find the tag of buf[start, end); on success leaves it in lastTagStart/lastTagEnd and
   * returns 0, else -1.
   */
  private tag(buf: Buffer, start: number, end: number): number {
    if (this.isDefault) {
      let close = -1;
      let newline = false;
      for (let i = start; i < end; i++) {
        const c = buf[i]!;
        if (c === 0x7d) close = i;
        else if (c === 0x0a || c === 0x0d) newline = true;
      }
      if (!newline) {
        if (close >= 0) {
          for (let i = close - 1; i >= start; i--) {
            if (buf[i] === 0x7b) {
              this.lastTagStart = i + 1;
              this.lastTagEnd = close;
              return 0;
            }
          }
        }
        this.lastTagStart = start;
        this.lastTagEnd = end;
        return 0;
      }
    }
    const text = buf.toString('latin1', start, end);
    for (const re of this.regexes) {
      const m = re.exec(text);
      if (!m) continue;
      const range = m.indices?.groups ? m.indices.groups.tag : m.indices?.[0];
      if (!range) continue; // the tag group did not take part in this match
      this.lastTagStart = start + range[0];
      this.lastTagEnd = start + range[1];
      return 0;
    }
    return -1;
  }

  /** The tag of a key as bytes (a view), or null when no rule matches. */
  tagOf(key: Buffer): Buffer | null {
    return this.tag(key, 0, key.length) < 0 ? null : key.subarray(this.lastTagStart, this.lastTagEnd);
  }
}
