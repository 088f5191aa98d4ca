import type { RequestView } from './command.js';
import type { RespFrame } from './frame.js';
import { RespType } from './types.js';

/**
 * The shard's own command table, from its `COMMAND` reply: arity, flags and key
 * specifications of every command and subcommand redis-server knows. Routing reads key
 * positions from here, so commands added in later Redis versions route without proxy changes.
 */

export const CommandFlag = {
  Write: 1 << 0,
  Readonly: 1 << 1,
  Blocking: 1 << 2,
  Pubsub: 1 << 3,
  Noscript: 1 << 4,
  Movablekeys: 1 << 5,
  Admin: 1 << 6,
  NoMulti: 1 << 7,
} as const;

const FLAG_NAMES: Record<string, number> = {
  write: CommandFlag.Write,
  readonly: CommandFlag.Readonly,
  blocking: CommandFlag.Blocking,
  pubsub: CommandFlag.Pubsub,
  noscript: CommandFlag.Noscript,
  movablekeys: CommandFlag.Movablekeys,
  admin: CommandFlag.Admin,
  no_multi: CommandFlag.NoMulti,
};

const BS_INDEX = 0;
const BS_KEYWORD = 1;
const BS_UNKNOWN = 2;
const FK_RANGE = 0;
const FK_KEYNUM = 1;
const FK_UNKNOWN = 2;

/** One key specification (Redis 7 COMMAND INFO, "key_specifications"). */
export interface KeySpec {
  notKey: boolean;
  incomplete: boolean;
  bs: number;
  /** index: position; keyword: startfrom (negative = from the end). */
  bsPos: number;
  /** keyword, lower case. */
  bsKeyword: string;
  fk: number;
  /** range: lastkey, keystep, limit; keynum: keynumidx, firstkey, keystep. */
  fk1: number;
  fk2: number;
  fk3: number;
}

export class CommandInfo {
  subcommands: Map<string, CommandInfo> | null = null;

  constructor(
    readonly name: string,
    readonly arity: number,
    readonly flags: number,
    readonly legacyFirst: number,
    readonly legacyLast: number,
    readonly legacyStep: number,
    readonly specs: KeySpec[],
  ) {}

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  /** Redis's arity rule: exact when positive, a minimum when negative. */
  arityOk(argc: number): boolean {
    return this.arity >= 0 ? argc === this.arity : argc >= -this.arity;
  }
}

export class CommandTable {
  private constructor(
    readonly commands: Map<string, CommandInfo>,
    /** redis_version of the shard that described them. */
    readonly version: string,
  ) {}

  get size(): number {
    return this.commands.size;
  }

  /** Parse a `COMMAND` reply (RESP2 or RESP3). */
  static fromReply(reply: RespFrame, version = ''): CommandTable {
    const commands = new Map<string, CommandInfo>();
    for (const entry of reply.elements) {
      const info = parseEntry(entry);
      if (info) commands.set(info.name, info);
    }
    return new CommandTable(commands, version);
  }

  /** The command (or subcommand, `object|encoding`) a request names; undefined if unknown. */
  lookup(view: RequestView): CommandInfo | undefined {
    const info = this.commands.get(view.name);
    if (!info?.subcommands || view.argc < 2) return info;
    return info.subcommands.get(view.argString(1, 'latin1').toLowerCase()) ?? info;
  }

  get(name: string): CommandInfo | undefined {
    return this.commands.get(name);
  }
}

function parseEntry(entry: RespFrame): CommandInfo | null {
  const f = entry.elements;
  if (f.length < 6) return null;
  const fullName = f[0]!.str().toLowerCase();
  let flags = 0;
  for (const fl of f[2]!.elements) flags |= FLAG_NAMES[fl.str()] ?? 0;
  const specs: KeySpec[] = [];
  if (f.length > 8) for (const s of f[8]!.elements) specs.push(parseSpec(s));
  const info = new CommandInfo(fullName, f[1]!.int(), flags, f[3]!.int(), f[4]!.int(), f[5]!.int(), specs);
  if (f.length > 9 && f[9]!.length > 0) {
    info.subcommands = new Map();
    for (const sub of f[9]!.elements) {
      const s = parseEntry(sub);
      if (!s) continue;
      const bar = s.name.indexOf('|');
      info.subcommands.set(bar < 0 ? s.name : s.name.slice(bar + 1), s);
    }
  }
  return info;
}

/** Key/value pairs of a RESP3 map or a RESP2 flat array. */
function pairs(frame: RespFrame): Map<string, RespFrame> {
  const out = new Map<string, RespFrame>();
  const els = frame.elements;
  for (let i = 0; i + 1 < els.length; i += 2) out.set(els[i]!.str().toLowerCase(), els[i + 1]!);
  return out;
}

function num(m: Map<string, RespFrame>, k: string): number {
  const f = m.get(k);
  return f ? f.int() : 0;
}

function parseSpec(frame: RespFrame): KeySpec {
  const m = pairs(frame);
  const flags = (m.get('flags')?.elements ?? []).map((x) => x.str().toLowerCase());
  const spec: KeySpec = {
    notKey: flags.includes('not_key'),
    incomplete: flags.includes('incomplete'),
    bs: BS_UNKNOWN,
    bsPos: 0,
    bsKeyword: '',
    fk: FK_UNKNOWN,
    fk1: 0,
    fk2: 0,
    fk3: 0,
  };
  const bs = m.get('begin_search');
  if (bs) {
    const b = pairs(bs);
    const type = b.get('type')?.str();
    const detail = b.get('spec');
    const d = detail && detail.type !== RespType.Null && detail.length > 0 ? pairs(detail) : new Map();
    if (type === 'index') {
      spec.bs = BS_INDEX;
      spec.bsPos = num(d, 'index');
    } else if (type === 'keyword') {
      spec.bs = BS_KEYWORD;
      spec.bsKeyword = (d.get('keyword')?.str() ?? '').toLowerCase();
      spec.bsPos = num(d, 'startfrom');
    }
  }
  const fk = m.get('find_keys');
  if (fk) {
    const k = pairs(fk);
    const type = k.get('type')?.str();
    const detail = k.get('spec');
    const d = detail && detail.type !== RespType.Null && detail.length > 0 ? pairs(detail) : new Map();
    if (type === 'range') {
      spec.fk = FK_RANGE;
      spec.fk1 = num(d, 'lastkey');
      spec.fk2 = num(d, 'keystep') || 1;
      spec.fk3 = num(d, 'limit');
    } else if (type === 'keynum') {
      spec.fk = FK_KEYNUM;
      spec.fk1 = num(d, 'keynumidx');
      spec.fk2 = num(d, 'firstkey');
      spec.fk3 = num(d, 'keystep') || 1;
    }
  }
  return spec;
}

/**
 * Argument indexes of the keys of a request, appended to `out`; returns how many.
 *
 * Follows Redis's getKeysUsingKeySpecs in its "return partial" mode: a spec that cannot be
 * resolved (keyword absent, bad numkeys, unknown type, out of range) is skipped and the keys of
 * the other specs are kept; Redis itself rejects such requests with a syntax or arity error.
 * Specs flagged not_key (the channel of SPUBLISH/SSUBSCRIBE) count: sharded pub/sub routes by
 * them. Commands without key specs fall back to the legacy first/last/step triple.
 */
export function keyPositions(view: RequestView, info: CommandInfo, out: number[]): number {
  const argc = view.argc;
  const before = out.length;
  const specs = info.specs;
  if (specs.length === 0) {
    if (info.legacyFirst > 0) {
      const last = info.legacyLast < 0 ? argc + info.legacyLast : info.legacyLast;
      const step = info.legacyStep || 1;
      for (let i = info.legacyFirst; i <= last && i < argc; i += step) out.push(i);
    }
    return out.length - before;
  }
  for (let j = 0; j < specs.length; j++) {
    const s = specs[j]!;
    let first = 0;
    if (s.bs === BS_INDEX) {
      first = s.bsPos;
    } else if (s.bs === BS_KEYWORD) {
      // Exactly Redis's walk: towards argc-1 or towards 1, the end index itself excluded.
      const from = s.bsPos > 0 ? s.bsPos : argc + s.bsPos;
      const to = s.bsPos > 0 ? argc - 1 : 1;
      const dir = from <= to ? 1 : -1;
      for (let i = from; i !== to; i += dir) {
        if (i >= argc || i < 1) break;
        if (view.argIs(i, s.bsKeyword)) {
          first = i + 1;
          break;
        }
      }
      if (first === 0) continue;
    } else {
      continue;
    }
    let last: number;
    let step: number;
    if (s.fk === FK_RANGE) {
      step = s.fk2;
      if (s.fk1 >= 0) last = first + s.fk1;
      else if (s.fk3 === 0) last = argc + s.fk1;
      else last = first + Math.floor((argc - first) / s.fk3) + s.fk1;
    } else if (s.fk === FK_KEYNUM) {
      step = s.fk3;
      const at = first + s.fk1;
      if (at >= argc) continue;
      const numkeys = view.argInt(at);
      if (!(numkeys >= 0)) continue;
      first += s.fk2;
      last = first + numkeys - 1;
    } else {
      continue;
    }
    if (last >= argc || last < first || first >= argc) continue;
    for (let i = first; i <= last; i += step) out.push(i);
  }
  if (info.name === 'sort' || info.name === 'sort_ro') sortStoreKey(view, out);
  return out.length - before;
}

/**
 * SORT's STORE destination has an "unknown" key spec (the keyword may appear anywhere), so it
 * is found the way Redis's sortGetKeys finds it: skipping the arguments of LIMIT, GET and BY.
 */
function sortStoreKey(view: RequestView, out: number[]): void {
  let store = -1;
  for (let i = 2; i < view.argc; i++) {
    if (view.argIs(i, 'limit')) i += 2;
    else if (view.argIs(i, 'get') || view.argIs(i, 'by')) i += 1;
    else if (view.argIs(i, 'store') && i + 1 < view.argc) {
      store = i + 1;
      i += 1;
    }
  }
  if (store > 0) out.push(store);
}
