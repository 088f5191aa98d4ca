import type { SourceClock } from './stream-expiry.js';

/**
 * Keeps the destination from expiring a key before the stream has shown what the source did up
 * to that key's expiry.
 *
 * The destination is a master, so it expires keys on its own clock, while the stream reaches it
 * late. `shiftStreamExpiry` and `shiftedExpireAt` push back expiries due within the delay
 * measured when they are written, but a stream that stalls afterwards (a partition or a
 * throttled link to the source, a syncer paused for seconds) outlasts any fixed cushion: the key
 * expired on the destination, the source's PEXPIRE that kept it alive came too late, and later
 * APPENDs rebuilt it from nothing (checker seed 50: an APPEND string holding only its last
 * append).
 *
 * So the link notes every absolute expiry it writes, and while the destination has not applied
 * the source's stream up to that expiry's moment (judged from the source offsets the link
 * samples), a key about to expire on the destination gets `PEXPIREAT key <later> GT`. GT never
 * shortens an expiry and never gives a key without one a TTL, so a key the stream has since
 * persisted, rewritten or deleted is left as it is. Once the stream has passed the source's
 * expiry the guard lets go: the source's own DEL (or a later PEXPIREAT) follows in the stream.
 * A key therefore outlives its source expiry on the destination by at most EXTEND_MS after the
 * stream catches up, as a Redis replica keeps an expired key until its master's DEL.
 *
 * Memory: one entry per volatile key written, up to `maxEntries` (beyond, keys are not guarded
 * and `untracked` counts them).
 */

/** A key whose destination expiry is nearer than this is extended (ms). */
export const GUARD_MARGIN_MS = 3000;
/** How far from now an extension puts the destination expiry (ms). */
export const GUARD_EXTEND_MS = 8000;
const BUCKET_MS = 1000;

/**
 * No Buffer of the key is kept: the entry's id (the key as latin1, byte for byte) is enough to
 * rebuild it when it is extended. A small Buffer per entry pinned the 8 KiB pool slab it was cut
 * from, and with it every other short-lived small Buffer of that slab: a full sync of 3M keys
 * (150k with a TTL) held 86-125 MB of ArrayBuffers and grew the RSS from 157 to 291 MB, where
 * the same keys without TTLs stayed at 150 MB.
 */
interface Entry {
  /** The source's expiry (ms since the epoch). */
  orig: number;
  /** The expiry last written on the destination. */
  dest: number;
}

export interface GuardExtension {
  key: Buffer;
  at: number;
}

export class ExpiryGuard {
  private readonly entries = new Map<string, Entry>();
  /** Destination expiry second -> ids of the entries due then (an entry may have moved since). */
  private readonly buckets = new Map<number, Set<string>>();
  /** Bucket seconds in ascending order. */
  private order: number[] = [];
  untracked = 0;
  extensions = 0;

  constructor(
    readonly clock: SourceClock,
    private readonly maxEntries = 1_000_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** A write set `key`'s expiry: `orig` at the source, `dest` as written to the destination. */
  note(key: Buffer, orig: number, dest: number): void {
    const id = key.toString('latin1');
    const e = this.entries.get(id);
    if (e) {
      e.orig = orig;
      this.move(id, e, dest);
      return;
    }
    if (this.entries.size >= this.maxEntries) {
      this.untracked++;
      return;
    }
    const entry: Entry = { orig, dest };
    this.entries.set(id, entry);
    this.addToBucket(id, dest);
  }

  /** The stream deleted these keys: nothing to guard. */
  forget(keys: readonly Buffer[]): void {
    for (const k of keys) this.entries.delete(k.toString('latin1'));
  }

  clear(): void {
    this.entries.clear();
    this.buckets.clear();
    this.order = [];
  }

  /**
   * The keys to extend now, the destination having applied the source's stream up to
   * `appliedOffset`; each returned key's destination expiry is taken as `at` from here on.
   */
  due(now: number, appliedOffset: number): GuardExtension[] {
    return this.dueWhere(now, (orig) => this.caughtUp(orig, appliedOffset));
  }

  /**
   * `due` with the release rule given: `caughtUp(orig)` says whether the destination has applied
   * everything the source ran before `orig` (a rebuilt guard asks every link).
   */
  dueWhere(now: number, caughtUp: (orig: number) => boolean): GuardExtension[] {
    const out: GuardExtension[] = [];
    const limit = Math.floor((now + GUARD_MARGIN_MS) / BUCKET_MS);
    let taken = 0;
    while (taken < this.order.length && this.order[taken]! <= limit) taken++;
    if (taken === 0) return out;
    const seconds = this.order.splice(0, taken);
    const moved: [string, Entry][] = [];
    for (const s of seconds) {
      const ids = this.buckets.get(s)!;
      this.buckets.delete(s);
      for (const id of ids) {
        const e = this.entries.get(id);
        // Deleted, or moved to another bucket by a later write.
        if (!e || Math.floor(e.dest / BUCKET_MS) !== s) continue;
        if (caughtUp(e.orig)) {
          this.entries.delete(id);
          continue;
        }
        const at = now + GUARD_EXTEND_MS;
        out.push({ key: Buffer.from(id, 'latin1'), at });
        e.dest = at;
        moved.push([id, e]);
      }
    }
    for (const [id, e] of moved) this.addToBucket(id, e.dest);
    this.extensions += out.length;
    return out;
  }

  /** Has the destination applied every command the source ran before `time`? */
  caughtUp(time: number, appliedOffset: number): boolean {
    const at = this.clock.offsetAtOrAfter(time);
    return at !== undefined && at <= appliedOffset;
  }

  private move(id: string, e: Entry, dest: number): void {
    const was = Math.floor(e.dest / BUCKET_MS);
    e.dest = dest;
    if (Math.floor(dest / BUCKET_MS) !== was) this.addToBucket(id, dest);
  }

  private addToBucket(id: string, dest: number): void {
    const s = Math.floor(dest / BUCKET_MS);
    let set = this.buckets.get(s);
    if (!set) {
      set = new Set();
      this.buckets.set(s, set);
      // Binary search for the insertion point: buckets are few (one per second of TTL range).
      let lo = 0;
      let hi = this.order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.order[mid]! < s) lo = mid + 1;
        else hi = mid;
      }
      this.order.splice(lo, 0, s);
    }
    set.add(id);
  }
}
