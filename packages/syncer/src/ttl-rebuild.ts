import type { Logger } from '@minirs/common';
import { CHECKPOINT_DB } from './dest-shards.js';
import type { DestinationClient } from './destination.js';
import { ExpiryGuard, GUARD_EXTEND_MS, GUARD_MARGIN_MS } from './expiry-guard.js';
import { SourceClock } from './stream-expiry.js';

/**
 * Exact resume of a new syncer process over keys with a TTL.
 *
 * While no syncer runs the destination goes on expiring keys at the deadlines it was given; the
 * expiry guard of the killed process (ExpiryGuard) kept every key it guarded at least
 * GUARD_MARGIN_MS from expiring, and is gone. So each link stamps, on every destination shard
 * and after its guard's extensions, what a new process needs to judge the downtime:
 *
 * - `deadline`: until when no key the link guards can expire there (the tick's time plus
 *   GUARD_MARGIN_MS; 0 when the guard overflowed and some keys were never guarded);
 * - the shard's `expired_keys` and `run_id` read before the stamp: if the shard has expired
 *   nothing since, no guarded key can be gone, however long the downtime.
 *
 * A new process resumes exactly only where every stamp holds (before its deadline, or nothing
 * expired since in the same redis-server); it then scans every shard that holds keys with a TTL
 * (Lua batches of SCAN + PEXPIRETIME), extends the ones about to expire, and guards them all
 * until every link's stream has passed their expiry (the RebuiltGuard below, which stamps too).
 * A key's destination expiry is never earlier than its source's (shifts and extensions only push
 * it later), so "every link has applied the stream up to the destination expiry" covers what the
 * source did to the key before its own expiry.
 */

/** The stamps' hash, in the checkpoints' db of every destination shard: link key -> stamp. */
export const GUARD_STAMP_KEY = 'minirs:replica-of:guard';
/** The RebuiltGuard's own field. */
export const REBUILT_FIELD = 'rebuilt';
/** How often a stamp is written per shard. */
const STAMP_EVERY_MS = 1000;
/** The syncer's and the shard's clocks are the same machine's; a little room all the same. */
const CLOCK_SLACK_MS = 250;
/** The scan extends keys expiring within this much of its batch (the guard's ticks start after it). */
const SCAN_HORIZON_MS = 30_000;
/** A scan that takes longer gives up: a full resync (the horizon must outlast the scan). */
export const SCAN_MAX_MS = 20_000;
/** Keys one rebuilt guard tracks at most (as a link's guard). */
const MAX_ENTRIES = 1_000_000;

export interface GuardStamp {
  deadline: number;
  /** The shard's expired_keys read before the stamp (-1: not known). */
  expired: number;
  runId: string;
}

export interface ShardCounters {
  expired: number;
  runId: string;
}

export function formatStamp(s: GuardStamp): string {
  return `${s.deadline} ${s.expired} ${s.runId}`;
}

export function parseStamp(v: string | undefined): GuardStamp | undefined {
  const m = /^(\d+) (-?\d+) ([0-9a-f]*)$/.exec(v ?? '');
  return m ? { deadline: Number(m[1]), expired: Number(m[2]), runId: m[3]! } : undefined;
}

/** `INFO server stats` of a shard: its expired_keys and run_id. */
export function parseCounters(info: string): ShardCounters | undefined {
  const expired = /^expired_keys:(\d+)/m.exec(info)?.[1];
  const runId = /^run_id:([0-9a-f]+)/m.exec(info)?.[1];
  return expired !== undefined && runId ? { expired: Number(expired), runId } : undefined;
}

/** Does the stamp vouch that no key its writer guarded has expired on the shard by `now`? */
export function stampHolds(st: GuardStamp, now: number, c: ShardCounters | undefined): boolean {
  if (now + CLOCK_SLACK_MS < st.deadline) return true;
  return c !== undefined && st.expired >= 0 && st.runId === c.runId && st.expired === c.expired;
}

// dest-shards.ts imports this module: CHECKPOINT_DB is read when called, not at load.
const selectCk = () => ['SELECT', String(CHECKPOINT_DB)];
const SELECT_0 = ['SELECT', '0'];

/**
 * Writes one writer's stamp on every shard pipe, at most every STAMP_EVERY_MS, each with the
 * shard's counters read before it (on the same pipe, so in order with the writes). Call it after
 * the tick's extensions, outside any MULTI (the pipes' transactions are written whole).
 */
export class GuardStamper {
  private counters: (ShardCounters | undefined)[] = [];
  private reading: boolean[] = [];
  private last = 0;
  private pipes?: readonly DestinationClient[];

  constructor(private readonly field: string) {}

  /**
   * `force`: stamp now, even before the shards' counters are known (the stamp then vouches by
   * its deadline only): a link's first checkpoint after its full sync follows its first stamp.
   */
  tick(pipes: readonly DestinationClient[], now: number, deadline: number, force = false): void {
    this.adopt(pipes);
    // A stamp without counters would replace one with them: only a forced one goes without.
    const due = force || (now - this.last >= STAMP_EVERY_MS && pipes.every((_, s) => this.counters[s]));
    if (due) this.last = now;
    pipes.forEach((p, s) => {
      const c = this.counters[s];
      if (due) {
        const stamp = formatStamp({ deadline, expired: c?.expired ?? -1, runId: c?.runId ?? '' });
        p.write(selectCk());
        p.write(['HSET', GUARD_STAMP_KEY, this.field, stamp]);
        p.write(SELECT_0);
      }
      if ((due || !c) && !this.reading[s]) {
        this.reading[s] = true;
        p.write(['INFO', 'server', 'stats'], (r) => {
          this.reading[s] = false;
          if (r.kind === 'ok' && this.pipes === pipes) this.counters[s] = parseCounters(r.frame.str());
        });
      }
    });
  }

  private adopt(pipes: readonly DestinationClient[]): void {
    if (pipes === this.pipes) return;
    // New pipes (a resume, a failover): counters read through the old ones may be another
    // redis-server's.
    this.pipes = pipes;
    this.counters = [];
    this.reading = [];
    this.last = 0;
  }

  /** Reads every shard's counters now (before a forced first stamp). */
  async prime(pipes: readonly DestinationClient[]): Promise<void> {
    this.adopt(pipes);
    const read = await Promise.all(pipes.map((p) => p.call(['INFO', 'server', 'stats'])));
    if (this.pipes !== pipes) return;
    read.forEach((r, s) => {
      if (r.kind === 'ok') this.counters[s] = parseCounters(r.frame.str());
    });
  }

  /** Removes the stamp (nothing left to guard); resolves when every shard answered. */
  async remove(pipes: readonly DestinationClient[]): Promise<void> {
    await Promise.all(
      pipes.map((p) => {
        p.write(selectCk());
        const done = p.call(['HDEL', GUARD_STAMP_KEY, this.field]);
        p.write(SELECT_0);
        return done;
      }),
    );
  }
}

/** One batch of the scan: SCAN, and per key with a TTL its expiry (extended when near). */
const SCAN_LUA = `
local r = redis.call('SCAN', ARGV[1], 'COUNT', 1000)
local limit = tonumber(ARGV[2])
local out = {}
for _, k in ipairs(r[2]) do
  local t = redis.call('PEXPIRETIME', k)
  if t > 0 then
    local d = t
    if t < limit then
      redis.call('PEXPIREAT', k, ARGV[3], 'GT')
      d = tonumber(ARGV[3])
    end
    out[#out + 1] = k
    out[#out + 1] = t
    out[#out + 1] = d
  end
end
return {r[1], out}
`;

/** What every link of the running syncer has applied, to release a rebuilt entry. */
export interface AppliedLink {
  guard: ExpiryGuard;
  applied: number;
}

/**
 * Guards the keys with a TTL found on the destination by a new syncer process, per shard through
 * its own pipes, until every link's stream has passed each key's destination expiry.
 */
export class RebuiltGuard {
  readonly guards: ExpiryGuard[];
  private readonly pipes: (DestinationClient | undefined)[];
  private readonly opening: boolean[] = [];
  private readonly stamper = new GuardStamper(REBUILT_FIELD);
  private timer?: NodeJS.Timeout;
  private closed = false;
  keys = 0;

  constructor(
    private readonly o: {
      shards: number;
      open: (shard: number) => Promise<DestinationClient>;
      links: () => AppliedLink[];
      log: Logger;
      onDone: () => void;
    },
  ) {
    const clock = new SourceClock();
    this.guards = Array.from({ length: o.shards }, () => new ExpiryGuard(clock, MAX_ENTRIES));
    this.pipes = Array.from({ length: o.shards }, () => undefined);
  }

  get size(): number {
    return this.guards.reduce((n, g) => n + g.size, 0);
  }

  /**
   * Scans shard `s` (every key of db 0), extending keys about to expire; false when `goOn` said
   * stop first (its reason is the caller's) or the keys outnumber what a guard tracks.
   */
  async scan(s: number, goOn: () => boolean): Promise<boolean> {
    const p = await this.pipe(s);
    const g = this.guards[s]!;
    let cursor = '0';
    do {
      if (!goOn()) return false;
      const now = Date.now();
      const r = await p.call([
        'EVAL',
        SCAN_LUA,
        '0',
        cursor,
        String(now + SCAN_HORIZON_MS),
        String(now + SCAN_HORIZON_MS + GUARD_EXTEND_MS),
      ]);
      if (r.kind === 'error') throw new Error(`scanning the keys with a TTL: ${r.error}`);
      const [next, found] = r.frame.elements;
      cursor = next!.str();
      const els = found!.elements;
      for (let i = 0; i + 2 < els.length; i += 3) {
        g.note(els[i]!.bytes(), els[i + 1]!.int(), els[i + 2]!.int());
        this.keys++;
      }
      if (g.untracked > 0) return false;
    } while (cursor !== '0');
    return true;
  }

  /** The shards' counters now, through the guard's pipes (after a scan). */
  async counters(s: number): Promise<ShardCounters | undefined> {
    const r = await (await this.pipe(s)).call(['INFO', 'server', 'stats']);
    return r.kind === 'ok' ? parseCounters(r.frame.str()) : undefined;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), 250);
    this.timer.unref();
  }

  private tick(): void {
    if (this.closed) return;
    const links = this.o.links();
    // No link runs (a stop, a restart under way): nothing says when to let go.
    if (links.length === 0) return;
    const now = Date.now();
    const caughtUp = (orig: number) => links.every((l) => l.guard.caughtUp(orig, l.applied));
    const open: DestinationClient[] = [];
    this.pipes.forEach((p, s) => {
      if (!p || p.closed) {
        void this.pipe(s).catch(() => {});
        return;
      }
      open.push(p);
      for (const x of this.guards[s]!.dueWhere(now, caughtUp))
        p.write(['PEXPIREAT', x.key, String(x.at), 'GT']);
    });
    // A shard without its pipe is not guarded now: no stamp anywhere vouches for it.
    if (open.length < this.pipes.length) return;
    if (this.size === 0) {
      this.o.log.info({ keys: this.keys }, 'rebuilt expiry guard: every key released');
      const pipes = open;
      this.close();
      void this.stamper
        .remove(pipes)
        .catch(() => {})
        .finally(() => {
          for (const p of pipes) p.close();
        });
      this.o.onDone();
      return;
    }
    this.stamper.tick(open, now, now + GUARD_MARGIN_MS);
  }

  private async pipe(s: number): Promise<DestinationClient> {
    const p = this.pipes[s];
    if (p && !p.closed) return p;
    if (this.opening[s]) throw new Error('opening');
    this.opening[s] = true;
    try {
      const fresh = await this.o.open(s);
      if (this.closed) {
        fresh.close();
        throw new Error('closed');
      }
      fresh.on('failed', () => {});
      this.pipes[s] = fresh;
      return fresh;
    } finally {
      this.opening[s] = false;
    }
  }

  /** Stops guarding (a full resync, the syncer closing); keeps the pipes of a pending removal. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  dispose(): void {
    this.close();
    for (const p of this.pipes) p?.close();
  }
}
