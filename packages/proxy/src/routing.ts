import type { RequestView } from '@minirs/resp';
import { type CommandInfo, keyPositions } from './command-table.js';
import type { EndpointView } from './session.js';
import { NO_RULE_MATCHED } from './shard-key.js';

/** route() results that are not a pool index. */
export const KEYLESS = -2;
export const CROSSSLOT = -3;
export const NO_RULE = -4;
export const NO_SHARD = -5;

export const CROSSSLOT_ERROR = "CROSSSLOT Keys in request don't hash to the same slot";
export const NO_SHARDS_YET = 'ERR this database has no shards yet; retry later';

/** The error for a key (argument `arg` of the request) that matches no shard_key_regex rule. */
export function noRuleError(v: RequestView, arg: number): string {
  const key = v
    .argString(arg)
    .slice(0, 64)
    .replace(/[^\x20-\x7e]/g, '?');
  return `ERR key '${key}' matches no shard_key_regex rule of this database`;
}

/** Routes one client's commands by their keys: the slot and pool they go to. */
export class KeyRouter {
  /** Slot found by the last route(); the argument whose key matched no rule. */
  slot = -1;
  badKey = -1;
  private readonly keyPos: number[] = [];

  /**
   * The pool index the keys of the request hash to: every key must be in one slot (sharded
   * databases), else CROSSSLOT. KEYLESS when the command has no keys.
   */
  route(ep: EndpointView, v: RequestView, info: CommandInfo | undefined): number {
    if (!ep.sharded) return ep.pools.length > 0 ? 0 : NO_SHARD;
    const pos = this.keyPos;
    pos.length = 0;
    if (!info || keyPositions(v, info, pos) === 0) return KEYLESS;
    const rules = ep.rules;
    let slot = -1;
    for (let i = 0; i < pos.length; i++) {
      const a = pos[i]!;
      const s = rules.slot(v.buf, v.argStart(a), v.argEnd(a));
      if (s === NO_RULE_MATCHED) {
        this.badKey = a;
        return NO_RULE;
      }
      if (slot === -1) slot = s;
      else if (s !== slot) return CROSSSLOT;
    }
    this.slot = slot;
    const owner = ep.slotOwner[slot]!;
    return owner < 0 ? NO_SHARD : owner;
  }

  /** The error of a failed route(), or null when `target` is a pool index or KEYLESS. */
  error(ep: EndpointView, v: RequestView, target: number): string | null {
    if (target >= 0 || target === KEYLESS) return null;
    if (target === CROSSSLOT) return CROSSSLOT_ERROR;
    if (target === NO_RULE) return noRuleError(v, this.badKey);
    if (ep.pools.length === 0) return NO_SHARDS_YET;
    return `ERR slot ${this.slot} of this database is not served by any shard; retry later`;
  }
}
