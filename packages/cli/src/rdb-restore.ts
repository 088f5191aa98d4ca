import {
  ErrorCodes,
  isMinirsError,
  MinirsError,
  parseSourceUri,
  maskUri,
  type SourceUri,
} from '@minirs/common';
import {
  printableKey,
  type RdbKeyInfo,
  type RdbLoadWrite,
  type RdbLoadWriter,
  RdbLoader,
  type RdbWriteReply,
  rdbVersionForRedis,
} from '@minirs/rdb';
import { type ChainableCommander, Redis } from 'ioredis';
import { UsageError } from './cli-error.js';
import { formatBytes } from './context.js';
import { pumpRdbFileChunks, rdbFileSize } from './rdb-inspect.js';

/**
 * (minirs) `minirs rdb restore`: streams an RDB file into any Redis endpoint (a redis-server or a
 * minirs database endpoint) through @minirs/rdb's RdbLoader, the syncer's full-sync loader:
 * RESTORE where the target can load the value, plain commands where it cannot or where the value
 * passes 1 MiB, plain strings batched as MSETs. Memory stays bounded whatever the file size: the
 * file is read chunk by chunk, and not read further while the window of unanswered commands is
 * full.
 *
 * Like redis-server loading an RDB as a master: keys already expired are skipped (and counted).
 * Keys go to their own db number (SELECT); a target that refuses SELECT n (a minirs database has
 * only db 0) gets none of db n's keys, and they are counted.
 *
 * Size (~510 lines): the command's options, its ioredis window (the loader's writer), SELECT
 * handling and the progress bar; the loading rules are @minirs/rdb's loader.ts.
 */

export interface RestoreRdbOptions {
  /** Module keys and module AUX data: counted and skipped instead of failing (MINIRS_ERR_RDB_UNSUPPORTED). */
  skipModules?: boolean;
  /** RestorePlanner mode (default 'auto'). */
  mode?: 'auto' | 'restore' | 'commands';
  /** Commands sent but not answered yet (default 1000). */
  maxInFlight?: number;
  /** Bytes of commands sent but not answered yet (default 8 MiB; one bigger command still goes alone). */
  maxInFlightBytes?: number;
  /** Per-command reply timeout in ms (default 60 s). */
  timeoutMs?: number;
  /** The target's Redis version, instead of asking INFO server ("7.0.15"). */
  targetVersion?: string;
  /** Clock for "already expired" (default Date.now). */
  now?: () => number;
  /** Called after each chunk of the file has been handed to the target. */
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreProgress {
  bytes: number;
  total: number;
  keys: number;
  seconds: number;
}

export interface RestoreSummary {
  file: string;
  /** The target URI, password masked. */
  target: string;
  target_redis_version: string;
  target_rdb_version: number;
  rdb_version: number;
  /** Keys in the file. */
  keys: number;
  /** Keys written to the target: with RESTORE or with plain commands. */
  restored: number;
  restored_with_restore: number;
  restored_with_commands: number;
  skipped: {
    expired: number;
    /** Keys of dbs the target refused to SELECT, by db number. */
    other_dbs: Record<string, number>;
    modules: number;
    module_aux: number;
  };
  functions: number;
  /** Commands sent (RESTORE, RPUSH, SELECT, FUNCTION LOAD...). */
  commands: number;
  bytes: number;
  seconds: number;
  keys_per_second: number;
  /** What plain commands could not reproduce exactly (LRU/LFU data, consumer times...), per aspect. */
  losses: Record<string, number>;
  /** Sentences for people: skipped dbs, modules, losses. */
  notes: string[];
}

/** What a refused write was about, for the error message. */
type Subject = RdbLoadWrite | string;

function describe(s: Subject): string {
  if (typeof s === 'string') return s;
  if (s.command === 'FUNCTION') return `function library '${s.library ?? '?'}'`;
  const key = `key '${printableKey(Buffer.isBuffer(s.key) ? s.key : Buffer.from(String(s.key ?? '')))}' (db ${s.db})`;
  return s.keys > 1 ? `${s.keys} keys (${s.command}) from ${key}` : key;
}

function commandBytes(cmd: ReadonlyArray<string | Buffer>): number {
  let n = 16;
  for (const a of cmd) n += a.length + 16;
  return n;
}

/** A module error from the parser or planner, with the way around it for this command. */
function withModuleHint(err: unknown): unknown {
  if (isMinirsError(err, ErrorCodes.RDB_UNSUPPORTED) && /\bmodule\b/.test(err.message)) {
    return new MinirsError(
      err.code,
      `${err.message}. To restore everything else, skip and count module data with --skip-modules`,
      { op: 'restore', cause: err },
    );
  }
  return err;
}

function errorCodeFor(message: string): (typeof ErrorCodes)[keyof typeof ErrorCodes] {
  if (/^OOM\b/.test(message)) return ErrorCodes.OOM;
  if (/^(NOAUTH|WRONGPASS|NOPERM)\b/.test(message)) return ErrorCodes.AUTH;
  if (/timed out/i.test(message)) return ErrorCodes.TIMEOUT;
  if (/connection|ECONNRESET|EPIPE|closed|writeable/i.test(message)) return ErrorCodes.CONNECTION;
  return ErrorCodes.CONFLICT;
}

interface Failure {
  subject: Subject;
  message: string;
}

/**
 * The loader's writer over ioredis: commands of one tick go out as one pipeline (cut at 256
 * commands or 1 MiB), with a bounded window of unanswered commands and bytes. Each command's
 * callback gets its reply, in order. Once `failure` is set (the first refused write, a lost
 * connection), write() throws and capacity() rejects with the restore's error: nothing is sent
 * after it is seen. A target that stops answering for `timeoutMs` is disconnected, which fails
 * what is in flight: one watchdog timer rather than ioredis's commandTimeout, which arms a timer
 * per command.
 */
class WriteWindow implements RdbLoadWriter {
  private batch: ChainableCommander | null = null;
  private batchReplies: ((r: RdbWriteReply) => void)[] = [];
  private batchBytes = 0;
  private execScheduled = false;
  private inFlight = 0;
  private inFlightBytes = 0;
  private lastProgress = Date.now();
  private timedOut: string | null = null;
  private readonly watchdog: NodeJS.Timeout;
  private waiters: (() => void)[] = [];
  sent = 0;
  failure: Failure | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly maxInFlight: number,
    private readonly maxInFlightBytes: number,
    timeoutMs: number,
    private readonly failed: (f: Failure) => Error,
  ) {
    this.watchdog = setInterval(
      () => {
        if (this.inFlight === 0 || Date.now() - this.lastProgress <= timeoutMs) return;
        this.timedOut = `no reply within ${timeoutMs / 1000} s (timed out)`;
        this.redis.disconnect();
      },
      Math.min(1000, timeoutMs),
    );
    this.watchdog.unref();
  }

  stop(): void {
    clearInterval(this.watchdog);
  }

  /** The restore's error, once a write failed. */
  error(): Error {
    return this.failed(this.failure!);
  }

  write(args: ReadonlyArray<string | Buffer>, onReply: (r: RdbWriteReply) => void): void {
    if (this.failure) throw this.error();
    if (!this.batch) this.batch = this.redis.pipeline();
    this.batch.callBuffer(String(args[0]), ...args.slice(1));
    this.batchReplies.push(onReply);
    this.batchBytes += commandBytes(args);
    this.sent++;
    // Batches of a few hundred commands: one socket write each, several in flight at once.
    if (this.batchReplies.length >= 256 || this.batchBytes >= 1024 * 1024) this.exec();
    else if (!this.execScheduled) {
      this.execScheduled = true;
      queueMicrotask(() => {
        this.execScheduled = false;
        this.exec();
      });
    }
  }

  hasRoom(): boolean {
    return (
      this.inFlight + this.batchReplies.length < this.maxInFlight &&
      this.inFlightBytes + this.batchBytes < this.maxInFlightBytes
    );
  }

  async capacity(): Promise<void> {
    this.exec();
    while (this.inFlight > 0 && !this.hasRoom() && !this.failure) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure) throw this.error();
  }

  /** Resolves when every command sent has its reply. */
  async drain(): Promise<void> {
    this.exec();
    while (this.inFlight > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  private exec(): void {
    const batch = this.batch;
    if (!batch) return;
    const replies = this.batchReplies;
    const bytes = this.batchBytes;
    this.batch = null;
    this.batchReplies = [];
    this.batchBytes = 0;
    if (this.inFlight === 0) this.lastProgress = Date.now();
    this.inFlight += replies.length;
    this.inFlightBytes += bytes;
    const settle = (err: unknown, results: [Error | null, unknown][] | null) => {
      this.inFlight -= replies.length;
      this.inFlightBytes -= bytes;
      this.lastProgress = Date.now();
      for (let i = 0; i < replies.length; i++) {
        const e = err ?? results?.[i]?.[0];
        // After the watchdog's disconnect, every error is that timeout.
        if (e) replies[i]!({ kind: 'error', error: this.timedOut ?? (e as Error).message });
        else replies[i]!({ kind: 'ok' });
      }
      for (const w of this.waiters.splice(0)) w();
    };
    batch.exec().then(
      (res) => settle(null, res),
      (err) => settle(err, null),
    );
  }
}

/** Parses `redis://[[user]:pass@]host:port`; a URI of no accepted form is bad usage (exit 2). */
export function parseTargetUri(uri: string): SourceUri {
  try {
    return parseSourceUri(uri, 'redis-uri');
  } catch (err) {
    if (!(err instanceof MinirsError)) throw err;
    // Not parseSourceUri's message: it echoes URIs of other schemes with their password.
    throw new UsageError(
      `target URI "${maskUri(uri)}" is malformed: expected redis://[[user]:password@]host:port ` +
        '(password URL-encoded), or rediss:// for TLS',
      'redis-uri',
    );
  }
}

/** A single command's reply within `ms`, else a "timed out" error (and the connection dropped). */
function timed<T>(redis: Redis, p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      redis.disconnect();
      reject(new Error(`no reply to ${what} within ${ms / 1000} s (timed out)`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function connectTarget(uri: string, u: SourceUri, timeoutMs: number): Promise<Redis> {
  const shown = maskUri(uri);
  let lastError = '';
  const r = new Redis({
    host: u.host,
    port: u.port,
    tls: u.tls ? {} : undefined,
    lazyConnect: true,
    // A lost connection ends the restore: resending half a pipeline could double RPUSHes.
    retryStrategy: () => null,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.min(timeoutMs, 10_000),
  });
  r.on('error', (err: Error) => {
    lastError = err.message;
  });
  try {
    await r.connect();
    // AUTH by hand rather than by ioredis: a refusal then comes back as this call's error.
    if (u.password !== undefined) {
      const auth = u.username ? r.call('AUTH', u.username, u.password) : r.call('AUTH', u.password);
      await timed(r, auth, timeoutMs, 'AUTH');
    }
  } catch (err) {
    r.disconnect();
    const msg = (err as Error).message || lastError;
    throw new MinirsError(errorCodeFor(msg), `cannot connect to ${shown}: ${msg}`, {
      op: 'connect',
      peer: `${u.host}:${u.port}`,
      cause: err,
    });
  }
  return r;
}

async function targetRedisVersion(r: Redis, shown: string, timeoutMs: number): Promise<string> {
  let info: string;
  try {
    info = await timed(r, r.info('server'), timeoutMs, 'INFO server');
  } catch (err) {
    throw new MinirsError(
      errorCodeFor((err as Error).message),
      `${shown} refused INFO server (${(err as Error).message}); give its Redis version with --target-version`,
    );
  }
  const v = /^redis_version:(\S+)/m.exec(info)?.[1];
  if (!v || !/^\d+\.\d+/.test(v)) {
    throw new MinirsError(
      ErrorCodes.PROTOCOL,
      `${shown} did not say its redis_version in INFO server; give it with --target-version`,
    );
  }
  return v;
}

export async function restoreRdb(
  file: string,
  uri: string,
  o: RestoreRdbOptions = {},
): Promise<RestoreSummary> {
  const u = parseTargetUri(uri);
  const shown = maskUri(uri);
  const size = await rdbFileSize(file);
  const now = o.now ?? Date.now;
  const started = performance.now();
  const timeoutMs = o.timeoutMs ?? 60_000;
  const redis = await connectTarget(uri, u, timeoutMs);
  const fail = (f: Failure): MinirsError => {
    const code = errorCodeFor(f.message);
    // Replies come in order and this is the first error: everything before it was written.
    const what =
      code === ErrorCodes.CONNECTION || code === ErrorCodes.TIMEOUT
        ? `lost ${shown} while writing ${describe(f.subject)}: ${f.message}`
        : `${shown} refused the write of ${describe(f.subject)}: ${f.message} (the keys before it in the file were written)`;
    return new MinirsError(code, what, { op: 'restore', peer: `${u.host}:${u.port}` });
  };
  const window = new WriteWindow(
    redis,
    o.maxInFlight ?? 1000,
    o.maxInFlightBytes ?? 8 * 1024 * 1024,
    timeoutMs,
    fail,
  );
  try {
    const version = o.targetVersion ?? (await targetRedisVersion(redis, shown, timeoutMs));
    const targetRdb = rdbVersionForRedis(version);
    const losses = new Map<string, number>();
    let keys = 0;
    let moduleAux = 0;
    let expiredElsewhere = 0;
    /** dbs the target refused to SELECT: keys skipped and the reason. */
    const refused = new Map<number, { keys: number; reason: string }>();
    let refusedSelect1: boolean | undefined;

    /** SELECT n through the window: null when it took, else the refusal. */
    const select = (n: number): Promise<string | null> =>
      new Promise((resolve) => {
        window.write(['SELECT', String(n)], (r) => {
          if (r.kind === 'ok') return resolve(null);
          const msg = r.error ?? 'error';
          // A refusal is an error reply; anything else (connection lost, timeout) ends the restore.
          if (errorCodeFor(msg) === ErrorCodes.CONNECTION || errorCodeFor(msg) === ErrorCodes.TIMEOUT) {
            window.failure ??= { subject: `SELECT ${n}`, message: msg };
            return resolve(null);
          }
          resolve(msg);
        });
      });

    /** Whether the target has db n: SELECTs it when it does. */
    const enterDb = async (n: number): Promise<boolean> => {
      if (refused.has(n)) return false;
      const err = await select(n);
      if (window.failure) throw window.error();
      if (err === null) return true;
      // "only db 0" when the target refuses db 1 too (a minirs database, or `databases 1`).
      if (n === 1) refusedSelect1 = true;
      else if (refusedSelect1 === undefined) refusedSelect1 = (await select(1)) !== null;
      if (window.failure) throw window.error();
      refused.set(n, {
        keys: 0,
        reason: refusedSelect1 ? 'the target has only db 0' : `the target refused SELECT ${n} (${err})`,
      });
      return false;
    };

    const loader = new RdbLoader({
      planner: {
        targetRdbVersion: targetRdb,
        now,
        mode: o.mode ?? 'auto',
        modules: o.skipModules ? 'skip' : 'error',
        onLoss: (_key: RdbKeyInfo, what: string) => losses.set(what, (losses.get(what) ?? 0) + 1),
      },
      onEvent: (ev) => {
        if (ev.kind === 'moduleAux') moduleAux++;
      },
      onKey: (key, outcome) => {
        keys++;
        if (outcome === 'expired') expiredElsewhere++;
        else if (outcome === 'other-db') refused.get(key.db)!.keys++;
      },
      selectDb: enterDb,
      onWriteError: (error, write) => {
        window.failure ??= { subject: write, message: error };
      },
    });
    const { parser, planner } = loader;
    const restoredSoFar = () => planner.stats.restored + planner.stats.converted;

    await pumpRdbFileChunks(file, parser, async () => {
      await loader.load(window);
      o.onProgress?.({
        bytes: parser.bytesConsumed,
        total: size,
        keys: restoredSoFar(),
        seconds: (performance.now() - started) / 1000,
      });
    }).catch(async (err: unknown) => {
      if (window.failure) throw window.error();
      // A bad file ends the restore, but what was sent before the bad byte is let through, so
      // the summary line "keys before it were written" holds.
      await window.drain();
      if (window.failure) throw window.error();
      throw withModuleHint(err);
    });
    await window.drain();
    if (window.failure) throw window.error();

    const st = planner.stats;
    const seconds = (performance.now() - started) / 1000;
    const restored = st.restored + st.converted;
    const notes: string[] = [];
    const otherDbs: Record<string, number> = {};
    for (const [n, r] of refused) {
      otherDbs[String(n)] = r.keys;
      notes.push(`${r.keys} keys of db ${n} skipped: ${r.reason}`);
    }
    const expired = st.expiredSkipped + expiredElsewhere;
    if (expired) notes.push(`${expired} keys skipped: already expired (redis-server drops them on load too)`);
    if (st.modulesSkipped.length) {
      const by = new Map<string, number>();
      for (const m of st.modulesSkipped) by.set(m.module, (by.get(m.module) ?? 0) + 1);
      notes.push(
        `${st.modulesSkipped.length} module keys skipped: ${[...by].map(([m, n]) => `${m} ${n}`).join(', ')}`,
      );
    }
    if (moduleAux) notes.push(`${moduleAux} module AUX records skipped`);
    for (const [what, n] of losses) notes.push(`${n} keys rebuilt with commands lost: ${what}`);
    return {
      file,
      target: shown,
      target_redis_version: version,
      target_rdb_version: targetRdb,
      rdb_version: parser.version,
      keys,
      restored,
      restored_with_restore: st.restored,
      restored_with_commands: st.converted,
      skipped: { expired, other_dbs: otherDbs, modules: st.modulesSkipped.length, module_aux: moduleAux },
      functions: st.functions,
      commands: window.sent,
      bytes: size,
      seconds: Math.round(seconds * 1000) / 1000,
      keys_per_second: seconds > 0 ? Math.round(restored / seconds) : restored,
      losses: Object.fromEntries(losses),
      notes,
    };
  } finally {
    window.stop();
    redis.disconnect();
  }
}

/** The human text of a restore summary. */
export function renderRestoreSummary(s: RestoreSummary): string {
  const lines = [
    `restored ${s.restored} of ${s.keys} keys from ${s.file} into ${s.target} (Redis ${s.target_redis_version}, RDB ${s.target_rdb_version})`,
    `  ${s.restored_with_restore} with RESTORE, ${s.restored_with_commands} with commands; ${s.functions} function libraries; ${s.commands} commands`,
    `  skipped: ${s.skipped.expired} expired, ${Object.values(s.skipped.other_dbs).reduce((a, b) => a + b, 0)} in other dbs, ${s.skipped.modules} module keys`,
    `  ${formatBytes(s.bytes)} in ${s.seconds.toFixed(2)} s, ${s.keys_per_second} keys/s`,
  ];
  for (const n of s.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
