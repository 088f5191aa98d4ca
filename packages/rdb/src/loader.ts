import type { RedisCommand } from './commands.js';
import type { RdbEvent, RdbKeyInfo } from './events.js';
import { RdbParser } from './parser.js';
import { RestorePlanner, type RestorePlannerOptions } from './planner.js';

/**
 * The one RDB-to-Redis loader: RDB bytes in, batched commands out to a pipelined writer, with
 * the rules the syncer's full sync proved (`minirs rdb restore` uses the same):
 *
 * - Big values: a value whose DUMP payload would pass LOAD_MAX_PAYLOAD_BYTES is rebuilt with
 *   chunked commands instead of RESTORE. The planner holds a value's parsed chunks until its
 *   payload is complete, and they take many times their byte size on the heap (an object per
 *   element): at 8 MiB restoring a 3M-element list used 150-200 MB of heap, at 1 MiB about 40 MB.
 *   The parser captures no raw bytes, so the payload is counted in decoded bytes, whatever the
 *   file's compression.
 * - Plain strings (the bulk of most keyspaces) go as MSETs of up to LOAD_MSET_KEYS keys or about
 *   LOAD_MSET_BYTES: the target parses, routes and answers one command instead of one per key
 *   (14-16% less CPU in minirs proxies and shards on 1M keys). Safe on an empty target: every
 *   key comes once, and a key's own later commands (PEXPIREAT after its SET) wait for its MSET;
 *   commands on other keys may overtake it. A batch never waits for more input: it goes at the
 *   end of each load().
 * - Backpressure: the loader awaits the writer only when its window is full (an await per write
 *   would yield to the writer's flush after every write: a syscall per command), so a whole
 *   input chunk's writes leave together and the caller stops reading its input while it waits.
 * - Errors: a refused write reaches onWriteError with what it was (the reply callback keeps only
 *   the command name and first key: holding whole commands until their replies would keep a
 *   window of RPUSH/HSET chunks on the heap). A writer that failed throws from write() or
 *   rejects capacity(), and load() rejects with that error.
 *
 * It imports no process package: the syncer's DestinationClient and the CLI's ioredis window
 * both satisfy RdbLoadWriter.
 */

/** A write's reply as the loader reads it. */
export interface RdbWriteReply {
  kind: 'ok' | 'error';
  /** The error reply's text ("OOM command not allowed..."), when kind is 'error'. */
  error?: string;
}

/**
 * A pipelined connection with a bounded window of unanswered writes. Replies come back in
 * order, each to its write's callback. Once it has failed, write() throws and capacity() rejects.
 */
export interface RdbLoadWriter {
  write(args: ReadonlyArray<string | Buffer>, onReply: (reply: RdbWriteReply) => void): void;
  /** Whether another write fits in the window now. */
  hasRoom(): boolean;
  /** Resolves when another write fits in the window. */
  capacity(): Promise<void>;
}

/** What a refused write was, for the message. */
export interface RdbLoadWrite {
  command: string;
  /** Its first key (FUNCTION LOAD: the word LOAD). */
  key: string | Buffer | undefined;
  /** Keys it carried: more than 1 for an MSET. */
  keys: number;
  /** The db the writer had selected. */
  db: number;
  /** FUNCTION LOAD: the library's name. */
  library?: string;
}

/** What became of a key of the file. */
export type RdbKeyOutcome = 'load' | 'other-db' | 'expired';

export interface RdbLoaderOptions {
  /** The planner's options; its payload limit is the loader's (LOAD_MAX_PAYLOAD_BYTES). */
  planner: Omit<RestorePlannerOptions, 'maxPayloadBytes' | 'selectDb'>;
  /** A write the target refused. Called once per refused write, in reply order. */
  onWriteError: (error: string, write: RdbLoadWrite) => void;
  /** Every parser event, before it is loaded (aux fields, module AUX...). */
  onEvent?: (ev: RdbEvent) => void;
  /**
   * Every key of the file as it starts: loaded, or skipped because it is in another db than
   * the writer writes to, or (only with selectDb) skipped because it expired before the loader
   * would have switched to its db.
   */
  onKey?: (key: RdbKeyInfo, outcome: RdbKeyOutcome) => void;
  /**
   * Switch the writer to db `n` (SELECT) for a key of that db; resolves false when the target
   * has no such db (its keys are then skipped). Called after the batched MSET of the previous db
   * went out. Without it only db 0 is loaded (a minirs or RS database has only db 0).
   */
  selectDb?: (db: number) => Promise<boolean>;
}

/** MSET batches: at most this many keys... */
export const LOAD_MSET_KEYS = 128;
/** ...or about this many bytes of keys and values. */
export const LOAD_MSET_BYTES = 256 * 1024;
/** Values whose DUMP payload would pass this are rebuilt with commands. */
export const LOAD_MAX_PAYLOAD_BYTES = 1024 * 1024;

function sameKey(a: string | Buffer | undefined, b: string | Buffer): boolean {
  if (a === undefined) return false;
  if (typeof a === 'string' || typeof b === 'string') return String(a) === String(b);
  return a.equals(b);
}

/** The name in a function library's shebang (`#!lua name=mylib`), or '?'. */
export function functionLibraryName(code: Buffer): string {
  const first = code.subarray(0, Math.min(code.length, 512)).toString('latin1').split('\n', 1)[0]!;
  return /\bname=(\S+)/.exec(first)?.[1] ?? '?';
}

/** A refused write as one line: `MSET of 128 keys from k1`, `RPUSH mylist`. */
export function describeLoadWrite(w: RdbLoadWrite): string {
  const first = String(w.key ?? '').slice(0, 80);
  return w.keys > 1 ? `${w.command} of ${w.keys} keys from ${first}` : `${w.command} ${first}`;
}

export class RdbLoader {
  /** Write the RDB's bytes here (and end() it); load() sends what it parsed. */
  readonly parser: RdbParser;
  readonly planner: RestorePlanner;
  /** The db the writer writes to. */
  private db = 0;
  /** The key being read is not loaded: its chunks are dropped. */
  private skipping = false;
  /** Key/value pairs of plain strings waiting to go out as one MSET. */
  private msetArgs: (string | Buffer)[] = [];
  private msetBytes = 0;

  constructor(private readonly opts: RdbLoaderOptions) {
    const modules = opts.planner.modules ?? 'error';
    this.parser = new RdbParser({ modules });
    this.planner = new RestorePlanner({ ...opts.planner, modules, maxPayloadBytes: LOAD_MAX_PAYLOAD_BYTES });
  }

  /** Sends everything the parser can give now, then the batched MSET; waits only for room. */
  async load(w: RdbLoadWriter): Promise<void> {
    const parser = this.parser;
    const planner = this.planner;
    for (let ev = parser.read(); ev; ev = parser.read()) {
      this.opts.onEvent?.(ev);
      if (ev.kind === 'keyStart') {
        if (ev.key.db !== this.db) {
          // Without selectDb the skip is synchronous: no await, so no early flush of the writer.
          if (!this.opts.selectDb) {
            this.skip(ev.key, 'other-db');
            continue;
          }
          if (!(await this.enterDb(ev.key, this.opts.selectDb, w))) continue;
        }
        this.skipping = false;
        this.opts.onKey?.(ev.key, 'load');
      } else if ((ev.kind === 'chunk' || ev.kind === 'keyEnd') && this.skipping) {
        continue;
      }
      for (const cmd of planner.push(ev)) {
        if (cmd.length === 3 && cmd[0] === 'SET') {
          this.msetArgs.push(cmd[1]!, cmd[2]!);
          this.msetBytes += cmd[1]!.length + cmd[2]!.length;
          if (this.msetArgs.length >= 2 * LOAD_MSET_KEYS || this.msetBytes >= LOAD_MSET_BYTES) {
            if (!w.hasRoom()) await w.capacity();
            this.sendMset(w);
          }
          continue;
        }
        if (!w.hasRoom()) await w.capacity();
        if (this.msetArgs.length > 0 && sameKey(cmd[1], this.msetArgs[this.msetArgs.length - 2]!)) {
          this.sendMset(w);
          if (!w.hasRoom()) await w.capacity();
        }
        this.send(w, cmd, 1);
      }
    }
    if (this.msetArgs.length > 0) {
      if (!w.hasRoom()) await w.capacity();
      this.sendMset(w);
    }
  }

  /** A key of another db than the writer's: whether it is loaded (the writer then writes to its db). */
  private async enterDb(
    key: RdbKeyInfo,
    select: (db: number) => Promise<boolean>,
    w: RdbLoadWriter,
  ): Promise<boolean> {
    if (this.expiredBeforeLoad(key)) {
      // redis-server drops it on load whatever its db: no SELECT for it.
      this.skip(key, 'expired');
      return false;
    }
    // The batch is the previous db's.
    if (this.msetArgs.length > 0) {
      if (!w.hasRoom()) await w.capacity();
      this.sendMset(w);
    }
    if (!(await select(key.db))) {
      this.skip(key, 'other-db');
      return false;
    }
    this.db = key.db;
    return true;
  }

  private skip(key: RdbKeyInfo, outcome: RdbKeyOutcome): void {
    this.skipping = true;
    this.opts.onKey?.(key, outcome);
  }

  /** The planner's own test (it skips such keys), without handing it the key. */
  private expiredBeforeLoad(key: RdbKeyInfo): boolean {
    const now = this.opts.planner.now?.();
    if (now === undefined || key.expireAt === null) return false;
    const map = this.opts.planner.mapExpireAt;
    return (map ? map(key.expireAt, key.key) : key.expireAt) < now;
  }

  private sendMset(w: RdbLoadWriter): void {
    const args = this.msetArgs;
    this.msetArgs = [];
    this.msetBytes = 0;
    const keys = args.length / 2;
    this.send(w, keys === 1 ? ['SET', args[0]!, args[1]!] : ['MSET', ...args], keys);
  }

  private send(w: RdbLoadWriter, cmd: RedisCommand, keys: number): void {
    const command = String(cmd[0]);
    const key = cmd[1];
    const db = this.db;
    const library =
      command === 'FUNCTION' && Buffer.isBuffer(cmd[3]) ? functionLibraryName(cmd[3]) : undefined;
    w.write(cmd, (r) => {
      if (r.kind === 'ok') return;
      this.opts.onWriteError(r.error ?? 'error reply', { command, key, keys, db, library });
    });
  }
}
