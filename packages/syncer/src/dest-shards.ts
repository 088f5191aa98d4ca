import { ErrorCodes, MinirsError, NO_RULE_MATCHED, type ShardKeyRule, ShardKeyRules } from '@minirs/common';
import type { RequestView, RespFrame } from '@minirs/resp';
import { CommandTable, keyPositions } from '@minirs/resp';
import { DestinationClient, type DestinationTarget } from './destination.js';
import { GUARD_STAMP_KEY, parseCounters, type ShardCounters } from './ttl-rebuild.js';

/**
 * Exact resume (issue 15). The syncer writes its stream to each destination shard over a
 * replication pipe of the destination's proxy (`AUTH admin`, `MINIRS.LINK <shard uid>`: the
 * connection becomes the shard's own RESP), routing every command with the destination's own
 * hash policy and command table, as the proxy would. What one link sends one shard in a batch
 * goes inside `MULTI ... EXEC` with that link's checkpoint (`HSET` in db CHECKPOINT_DB, which
 * the endpoint never exposes: it serves db 0 only), so each shard holds, atomically with its
 * data, the source offset up to which that link's writes are on it. A restarted syncer (or
 * one whose destination shard failed over to a slave that lagged) reads the checkpoints and
 * resumes each link with `PSYNC <replid> <min offset + 1>`, applying each command only on the
 * shards whose checkpoint is below its offset.
 */

export const CHECKPOINT_DB = 9;
export const CHECKPOINT_KEY = 'minirs:replica-of:checkpoints';

/** The client name of the syncer's pipes on a destination shard (fenced on resume). */
export function pipeName(bdbUid: number): string {
  return `minirs-syncer-${bdbUid}`;
}

export interface Checkpoint {
  epoch: number;
  replid: string;
  /** The source offset up to which this link's writes for the shard are on it. */
  offset: number;
  /** The stream's db after that offset (for PSYNC's continuation). */
  db: number;
}

export function formatCheckpoint(c: Checkpoint): string {
  return `${c.epoch} ${c.replid} ${c.offset} ${c.db}`;
}

export function parseCheckpoint(v: string): Checkpoint | undefined {
  const m = /^(\d+) ([0-9a-f]{40}) (\d+) (\d+)$/.exec(v);
  if (!m) return undefined;
  return { epoch: Number(m[1]), replid: m[2]!, offset: Number(m[3]), db: Number(m[4]) };
}

/** A destination shard as the syncer's config lists it. */
export interface DestShard {
  uid: number;
  slot_start: number;
  slot_end: number;
}

/**
 * Opens a pipe to one destination shard through its proxy (`adminPassword` '': the destination
 * is one plain redis-server, the connection itself); rejects with a retryable error.
 */
export async function openShardPipe(
  target: DestinationTarget,
  adminPassword: string,
  shardUid: number,
  name: string | undefined,
): Promise<DestinationClient> {
  // Without an admin password (a plain redis-server as the destination, in tests) the
  // connection itself is the one shard.
  const direct = adminPassword === '';
  const d = new DestinationClient(direct ? target : { ...target, password: undefined });
  try {
    await d.connect();
    if (!direct) {
      const auth = await d.call(['AUTH', 'admin', adminPassword]);
      if (auth.kind === 'error')
        throw new MinirsError(ErrorCodes.AUTH, `destination refused the admin password: ${auth.error}`, {
          peer: d.peer,
        });
      const link = await d.call(['MINIRS.LINK', String(shardUid)]);
      if (link.kind === 'error')
        throw new MinirsError(ErrorCodes.CONNECTION, `destination shard ${shardUid}: ${link.error}`, {
          peer: d.peer,
        });
    }
    if (name) {
      const r = await d.call(['CLIENT', 'SETNAME', name]);
      if (r.kind === 'error')
        throw new MinirsError(ErrorCodes.CONNECTION, `destination shard ${shardUid}: ${r.error}`, {
          peer: d.peer,
        });
    }
    return d;
  } catch (err) {
    d.close();
    throw err;
  }
}

/** What a restarted syncer reads from every destination shard. */
export interface DestinationCheckpoints {
  /** Per shard (config order): link key -> raw checkpoint value. */
  perShard: Map<string, string>[];
  table: CommandTable;
  /**
   * Per shard (config order): keys with a TTL in db 0 now (`INFO keyspace` expires) and keys
   * it has expired since its redis-server started (`INFO stats` expired_keys).
   */
  expiry: { expires: number; expiredKeys: number }[];
  /** Per shard: the expiry guards' stamps (writer -> raw stamp; see ttl-rebuild.ts). */
  stamps: Map<string, string>[];
  /** Per shard: its expired_keys and run_id when read. */
  counters: (ShardCounters | undefined)[];
}

/**
 * Fences the syncer's earlier pipes on every shard (a killed syncer's last MULTI may still be
 * queued in the shard: `CLIENT KILL` drops it before anything is read), then reads the
 * checkpoints and the shard's command table.
 */
export async function readCheckpoints(
  target: DestinationTarget,
  adminPassword: string,
  bdbUid: number,
  shards: DestShard[],
  timeoutMs = 10_000,
): Promise<DestinationCheckpoints> {
  const opened: DestinationClient[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      for (const d of opened) d.close();
      reject(
        new MinirsError(ErrorCodes.TIMEOUT, `the destination shards did not answer within ${timeoutMs} ms`),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([deadline, readAll(target, adminPassword, bdbUid, shards, opened)]);
  } finally {
    clearTimeout(timer);
  }
}

async function readAll(
  target: DestinationTarget,
  adminPassword: string,
  bdbUid: number,
  shards: DestShard[],
  opened: DestinationClient[],
): Promise<DestinationCheckpoints> {
  const perShard: Map<string, string>[] = [];
  const expiry: { expires: number; expiredKeys: number }[] = [];
  const stamps: Map<string, string>[] = [];
  const counters: (ShardCounters | undefined)[] = [];
  let table: CommandTable | undefined;
  for (const sh of shards) {
    const d = await openShardPipe(target, adminPassword, sh.uid, undefined);
    opened.push(d);
    try {
      const list = await d.call(['CLIENT', 'LIST', 'TYPE', 'normal']);
      if (list.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `CLIENT LIST: ${list.error}`);
      const name = pipeName(bdbUid);
      for (const line of list.frame.str().split('\n')) {
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
        if (id && new RegExp(`(?:^| )name=${name}(?: |$)`).test(line))
          await d.call(['CLIENT', 'KILL', 'ID', id]);
      }
      await d.call(['SELECT', String(CHECKPOINT_DB)]);
      const all = await d.call(['HGETALL', CHECKPOINT_KEY]);
      const guard = await d.call(['HGETALL', GUARD_STAMP_KEY]);
      await d.call(['SELECT', '0']);
      if (all.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `HGETALL: ${all.error}`);
      if (guard.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `HGETALL: ${guard.error}`);
      perShard.push(hashOf(all.frame));
      stamps.push(hashOf(guard.frame));
      const ks = await d.call(['INFO', 'keyspace']);
      const st = await d.call(['INFO', 'server', 'stats']);
      if (ks.kind === 'error' || st.kind === 'error')
        throw new MinirsError(ErrorCodes.CONNECTION, `INFO: ${ks.error ?? st.error}`);
      expiry.push({
        expires: Number(/^db0:.*expires=(\d+)/m.exec(ks.frame.str())?.[1] ?? 0),
        expiredKeys: Number(/^expired_keys:(\d+)/m.exec(st.frame.str())?.[1] ?? 0),
      });
      counters.push(parseCounters(st.frame.str()));
      if (!table) {
        const c = await d.call(['COMMAND']);
        if (c.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `COMMAND: ${c.error}`);
        table = CommandTable.fromReply(c.frame);
      }
    } finally {
      d.close();
    }
  }
  if (!table) throw new MinirsError(ErrorCodes.CONNECTION, 'the destination has no shards yet');
  return { perShard, table, expiry, stamps, counters };
}

function hashOf(f: RespFrame): Map<string, string> {
  const m = new Map<string, string>();
  const els = f.elements;
  for (let i = 0; i + 1 < els.length; i += 2) m.set(els[i]!.str(), els[i + 1]!.str());
  return m;
}

/** Reads the command table of the first shard (a full sync's router). */
export async function readCommandTable(
  target: DestinationTarget,
  adminPassword: string,
  shardUid: number,
): Promise<CommandTable> {
  const d = await openShardPipe(target, adminPassword, shardUid, undefined);
  try {
    const c = await d.call(['COMMAND']);
    if (c.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `COMMAND: ${c.error}`);
    return CommandTable.fromReply(c.frame);
  } finally {
    d.close();
  }
}

/** The few members of RequestView that key lookup reads, over a replication command's argv. */
class ArgvView {
  constructor(private readonly argv: readonly Buffer[]) {}
  get argc(): number {
    return this.argv.length;
  }
  get name(): string {
    return this.argv[0]!.toString('latin1').toLowerCase();
  }
  argString(i: number, enc: BufferEncoding = 'utf8'): string {
    return this.argv[i]!.toString(enc);
  }
  argInt(i: number): number {
    const b = this.argv[i];
    if (!b || b.length === 0 || b.length > 16) return Number.NaN;
    const n = Number(b.toString('latin1'));
    return Number.isInteger(n) ? n : Number.NaN;
  }
  argIs(i: number, lower: string): boolean {
    const b = this.argv[i];
    return b !== undefined && b.length === lower.length && b.toString('latin1').toLowerCase() === lower;
  }
}

/** Where one replicated command goes on the destination. */
export type Route =
  | { kind: 'one'; shard: number }
  | { kind: 'all' }
  /** DEL/UNLINK/TOUCH/EXISTS/MSET over several shards: one part (argv) per shard, as the proxy splits them. */
  | { kind: 'split'; parts: Map<number, Buffer[]> }
  | { kind: 'error'; error: string };

const SPLIT = new Map<string, number>([
  ['del', 1],
  ['unlink', 1],
  ['touch', 1],
  ['exists', 1],
  ['mset', 2],
]);
const SCRIPT_BROADCAST = new Set(['load', 'flush']);
const FUNCTION_BROADCAST = new Set(['load', 'delete', 'flush', 'restore']);

/** The destination proxy's routing, for the commands of a replication stream. */
export class DestRouter {
  private readonly owner = new Int32Array(16384).fill(-1);
  private readonly rules: ShardKeyRules;
  private readonly pos: number[] = [];

  constructor(
    readonly shards: DestShard[],
    rules: ShardKeyRule[] | undefined,
    private readonly table: CommandTable,
  ) {
    this.rules = ShardKeyRules.compile(rules);
    for (const [i, s] of shards.entries()) this.owner.fill(i, s.slot_start, s.slot_end + 1);
  }

  get size(): number {
    return this.shards.length;
  }

  private slotOwner(key: Buffer): number | string {
    const slot = this.rules.slot(key, 0, key.length);
    if (slot === NO_RULE_MATCHED)
      return `ERR key '${key.toString('latin1').slice(0, 64)}' matches no shard_key_regex rule of this database`;
    const o = this.owner[slot]!;
    return o < 0 ? `ERR slot ${slot} of this database is not served by any shard; retry later` : o;
  }

  /**
   * A transaction of the stream (its commands between MULTI and EXEC), checked as the proxy
   * checks one: on a sharded destination all its keys must hash to one slot, else CROSSSLOT
   * (the whole transaction is refused). Undefined when it may run; else the error and the
   * first command that broke the rule.
   */
  transactionError(argvs: readonly (readonly Buffer[])[]): { error: string; at: number } | undefined {
    if (this.shards.length === 1) return undefined;
    let slot = -1;
    for (const [at, argv] of argvs.entries()) {
      const keys = this.keysOf(argv);
      for (const key of keys) {
        const s = this.rules.slot(key, 0, key.length);
        if (s === NO_RULE_MATCHED) return { error: this.slotOwner(key) as string, at };
        if (slot === -1) slot = s;
        else if (s !== slot) return { error: "CROSSSLOT Keys in request don't hash to the same slot", at };
      }
    }
    return undefined;
  }

  /** The keys a command names, by its key specifications (the split commands by their step). */
  private keysOf(argv: readonly Buffer[]): Buffer[] {
    const view = new ArgvView(argv);
    const step = SPLIT.get(view.name);
    const keys: Buffer[] = [];
    if (step !== undefined) {
      for (let i = 1; i + step - 1 < argv.length; i += step) keys.push(argv[i]!);
      return keys;
    }
    const info = this.table.lookup(view as unknown as RequestView);
    const pos: number[] = [];
    if (!info || keyPositions(view as unknown as RequestView, info, pos) === 0) return keys;
    for (const i of pos) keys.push(argv[i]!);
    return keys;
  }

  route(argv: readonly Buffer[]): Route {
    if (this.shards.length === 1) return { kind: 'one', shard: 0 };
    const view = new ArgvView(argv);
    const name = view.name;
    if (name === 'publish' || name === 'flushall' || name === 'flushdb') return { kind: 'all' };
    if (name === 'script' || name === 'function') {
      const sub = argv.length > 1 ? argv[1]!.toString('latin1').toLowerCase() : '';
      if ((name === 'script' ? SCRIPT_BROADCAST : FUNCTION_BROADCAST).has(sub)) return { kind: 'all' };
      return { kind: 'one', shard: 0 };
    }
    const step = SPLIT.get(name);
    if (step !== undefined) {
      const parts = new Map<number, Buffer[]>();
      for (let i = 1; i + step - 1 < argv.length; i += step) {
        const o = this.slotOwner(argv[i]!);
        if (typeof o === 'string') return { kind: 'error', error: o };
        let p = parts.get(o);
        if (!p) {
          p = [argv[0]!];
          parts.set(o, p);
        }
        for (let j = 0; j < step; j++) p.push(argv[i + j]!);
      }
      if (parts.size === 1) return { kind: 'one', shard: parts.keys().next().value! };
      if (parts.size === 0) return { kind: 'one', shard: 0 };
      return { kind: 'split', parts };
    }
    const info = this.table.lookup(view as unknown as RequestView);
    const pos = this.pos;
    pos.length = 0;
    if (!info || keyPositions(view as unknown as RequestView, info, pos) === 0)
      return { kind: 'one', shard: 0 };
    let shard = -1;
    let slot = -1;
    for (const i of pos) {
      const key = argv[i]!;
      const s = this.rules.slot(key, 0, key.length);
      if (s === NO_RULE_MATCHED) return { kind: 'error', error: this.slotOwner(key) as string };
      if (slot === -1) {
        slot = s;
        const o = this.slotOwner(key);
        if (typeof o === 'string') return { kind: 'error', error: o };
        shard = o;
      } else if (s !== slot)
        return { kind: 'error', error: "CROSSSLOT Keys in request don't hash to the same slot" };
    }
    return { kind: 'one', shard };
  }
}
