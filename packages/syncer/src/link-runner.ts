import {
  classifyReply,
  type ErrorCode,
  ErrorCodes,
  errorRule,
  featureOfCommand,
  isUnknownCommandReply,
  type Logger,
  MinirsError,
  ruleOfCode,
  type StopReason,
} from '@minirs/common';
import { describeLoadWrite, RdbLoader, type RdbParser, type RestorePlanner } from '@minirs/rdb';
import type { CommandTable } from '@minirs/resp';
import { RespDecoder } from '@minirs/resp';
import {
  CHECKPOINT_DB,
  CHECKPOINT_KEY,
  DestRouter,
  type DestShard,
  formatCheckpoint,
  openShardPipe,
  pipeName,
} from './dest-shards.js';
import {
  DestinationClient,
  type DestinationTarget,
  EXEC_RAW,
  MULTI_RAW,
  type WriteReply,
} from './destination.js';
import { ExpiryGuard, GUARD_MARGIN_MS } from './expiry-guard.js';
import { LagTracker } from './lag-tracker.js';
import {
  argIs,
  encodeCommand,
  type FullSyncEnd,
  type FullSyncStart,
  type PartialSync,
  type ReplicationCommand,
  type ReplicationConsumer,
  ReplicationInfoProbe,
  ReplicationLink,
  type ReplicationPosition,
  readInfoFields,
  type SocketFactory,
} from './replication/index.js';
import { absoluteExpiryOf, SourceClock, shiftStreamExpiry } from './stream-expiry.js';
import { GuardStamper } from './ttl-rebuild.js';

/**
 * One replication link (one source shard, or one external Redis) and the destination
 * connection its writes go through. The link reads only as fast as the destination answers
 * (bounded window), and reports as applied only the offsets whose writes were answered OK, so a
 * partial resync after a source connection error neither skips nor repeats a write.
 *
 * Size (~1,200 lines, the largest file): the full-sync load (through @minirs/rdb's RdbLoader),
 * the stream's batching into transactions, the checkpoints written inside them, the resume from
 * them and the flush barrier all read and move the same per-link position (offset, db, the
 * destination connection, the expiry guard). Splitting it by phase is left for after the checker
 * has run 50 seeds on one version of it (issue 14's closing note says so).
 */

export type Trouble =
  | { kind: 'stop'; stop: StopReason }
  | { kind: 'full-resync'; reason: string }
  /** The destination's state is known from its checkpoints: resume every link from them. */
  | { kind: 'resume'; reason: string };

/** How a link writes its stream to the destination's shards (see dest-shards.ts). */
export interface PipeOptions {
  bdbUid: number;
  epoch: number;
  adminPassword: string;
  /** The link's field in every shard's checkpoint hash. */
  linkKey: string;
  shards: DestShard[];
  shardKeyRegex: import('@minirs/common').ShardKeyRule[] | undefined;
  /** The destination's command table (read once per syncer start). */
  commandTable(): Promise<CommandTable>;
}

/** Where a resumed link starts: the minimum checkpoint, and each shard's own checkpoint. */
export interface ResumeFrom {
  position: ReplicationPosition;
  skipUpTo: number[];
}

/** A link's part in a flush its source's links meet at. */
export interface FlushArrival {
  linkKey: string;
  offset: number;
  value: string;
  skipUpTo: number[];
}

interface Item {
  raw: Buffer;
  argv: readonly Buffer[];
  offset: number;
}

/** What an EXEC without checkpoints "answers" (bench only): an empty array, nothing to judge. */
const NO_CHECKPOINT_REPLY = (() => {
  let f: import('@minirs/resp').RespFrame | undefined;
  new RespDecoder().write(Buffer.from('*0\r\n'), (x) => {
    f = x;
  });
  return f!;
})();

const SELECT_CK_RAW = encodeCommand([Buffer.from('SELECT'), Buffer.from(String(CHECKPOINT_DB))]);
const SELECT_0_RAW = encodeCommand([Buffer.from('SELECT'), Buffer.from('0')]);
/**
 * Bench only (`packages/syncer/bench/resume.mjs`): MINIRS_BENCH_NO_CHECKPOINTS=1 sends each
 * batch without its MULTI/EXEC and checkpoint, all else equal, to measure what they cost. Such
 * a syncer cannot resume exactly; never set it elsewhere.
 */
const CHECKPOINTS = process.env.MINIRS_BENCH_NO_CHECKPOINTS !== '1';

/** A shard that got nothing of a link for this long gets the link's checkpoint alone. */
const CHECKPOINT_REFRESH_MS = 500;

export interface LinkRunnerOptions {
  label: string;
  connect: SocketFactory;
  /**
   * The connection of the lag probe and of the source's INFO: like `connect`, without
   * compression and without counting its bytes as the link's ingress (defaults to `connect`).
   */
  probeConnect?: SocketFactory;
  /** AUTH for an external source (minirs sources authenticate in `connect`). */
  username?: string;
  password?: string;
  destination: DestinationTarget;
  targetRdbVersion: number;
  /** redis_version of the destination (for messages about what it cannot hold). */
  destinationVersion: string;
  log: Logger;
  /** Called when this link needs a person (stop) or a full resync of every source. */
  onTrouble(reason: Trouble): void;
  /**
   * A FLUSHALL/FLUSHDB of the source's stream: resolves once every link of the source reached
   * its copy of it and `send` (run by the last one to arrive) was answered (see FlushBarrier).
   */
  flushBarrier(send: (all: FlushArrival[]) => Promise<void>, mine: FlushArrival): Promise<void>;
  /** A full sync of this link failed before it was loaded (the link's error, the source's INFO). */
  onFullSyncFailed(err: MinirsError, evidence: FullSyncEvidence): void;
  /** This link loaded its full sync. */
  onFullSyncLoaded(): void;
  pipes: PipeOptions;
  /** Resume from the destination's checkpoints (PSYNC), else a full sync. */
  resume?: ResumeFrom;
  /**
   * The expiry guard and source clock of this link's previous runner in this process (an exact
   * resume goes on guarding what that runner wrote; see ReplicaOfSync.guards).
   */
  carry?: { clock: SourceClock; guard: ExpiryGuard };
  /** A partial resync (+CONTINUE) was accepted: `first` on the resumed link's first one. */
  onPartialSync?(first: boolean): void;
}

/** What the source's INFO said around a failed full sync (empty when it could not be read). */
export interface FullSyncEvidence {
  /**
   * The source wrote more during the failed full sync than its `client-output-buffer-limit
   * replica` lets a replica's buffer hold: the limit, and the bytes written meanwhile.
   */
  outputBufferLimit?: { hard: number; soft: number; written: number };
  bgsaveFailed?: boolean;
  oom?: boolean;
  usedMemory?: number;
  maxmemory?: number;
  redisVersion?: string;
}

/** How long a stopping link waits for the destination to answer its writes in flight. */
const SETTLE_MS = 10_000;
/** How often a streaming link checks whether its source is out of memory. */
const MEMORY_CHECK_MS = 1000;
/** How long a link waits at a flush for the other links of its source before a full resync. */
const FLUSH_BARRIER_MS = 60_000;
/** A transaction longer than this goes out before its EXEC (bounded memory). */
const MAX_HELD_TX = 4096;

interface HeldCommand {
  cmd: ReplicationCommand;
  entry: { offset: number; done: boolean };
}

/**
 * The expire time to load for a key of a snapshot taken at `snapshotAt` and loaded at `now`.
 * The stream that follows the snapshot replays the source's writes late by about `now -
 * snapshotAt`: a key that expires on the destination before that much time passed could be
 * gone when the stream brings the source's PERSIST, SET or PEXPIRE that kept it alive (a slow
 * full sync skipped such keys, and later LPUSH/HINCRBY rebuilt them from nothing). Those keys
 * get the delay added: the source's DEL comes in the stream if it does expire them, and keys
 * expiring later than that keep their exact time.
 */
export function shiftedExpireAt(expireAt: number, snapshotAt: number, now: number): number {
  const delay = Math.max(0, now - snapshotAt);
  return expireAt < now + delay ? expireAt + delay : expireAt;
}

function isFlush(name: Buffer | undefined): 'FLUSHALL' | 'FLUSHDB' | undefined {
  if (argIs(name, 'FLUSHALL')) return 'FLUSHALL';
  if (argIs(name, 'FLUSHDB')) return 'FLUSHDB';
  return undefined;
}

function commandLabel(argv: readonly Buffer[]): string {
  const name = argv[0]?.toString('latin1').toUpperCase() ?? '?';
  const key = argv[1] ? ` ${argv[1].toString('utf8').slice(0, 80)}` : '';
  return `${name}${key}`;
}

export class LinkRunner implements ReplicationConsumer {
  readonly link: ReplicationLink;
  private dest?: DestinationClient;
  readonly lag = new LagTracker();
  /** When the source ran the commands of its stream (bounded from below). */
  readonly clock: SourceClock;
  /** Keeps keys from expiring on the destination before the stream catches up (see ExpiryGuard). */
  readonly expiryGuard: ExpiryGuard;
  private guardTimer?: NodeJS.Timeout;
  /** Stamps, after each tick's extensions, how long the guarded keys are safe (ttl-rebuild.ts). */
  private readonly stamper: GuardStamper;
  private parser?: RdbParser;
  private planner?: RestorePlanner;
  private probeTimer?: NodeJS.Timeout;
  /** The lag probe's one long-lived connection to the source (opened at the first probe). */
  private prober?: ReplicationInfoProbe;
  private stopped = false;
  /** In order: offsets of writes not yet answered; skipped commands carry `done`. */
  private readonly order: { offset: number; done: boolean }[] = [];
  private orderHead = 0;
  everSynced = false;
  fullSyncs = 0;
  partialSyncs = 0;
  /** When this link's last write was confirmed (ms since the epoch; 0 = never). */
  private lastUpdateMs = 0;
  /**
   * A transaction of the stream being received (MULTI seen, EXEC not yet): nothing of it is
   * written before it is whole, so a link cut inside it leaves the destination connection
   * outside MULTI and the applied offset before the MULTI, where the link resumes (as a
   * Redis replica discards a transaction cut short).
   */
  private heldTx?: HeldCommand[];
  private advanceScheduled = false;
  /** Keys and commands of databases other than 0 (only db 0 is replicated). */
  otherDbKeys = 0;
  otherDbCommands = 0;
  keysLoaded = 0;
  /** redis-ver of the source's RDB (for messages about what the destination cannot hold). */
  private sourceVersion = '';
  /** The full sync's loader (@minirs/rdb): its parser and planner are `parser` and `planner`. */
  private loader?: RdbLoader;
  /** Writes the destination refused (counted, like a Redis replica, not retried); the last one. */
  rejectedWrites = 0;
  lastRejectedWrite = '';
  troubled = false;
  /** Keys of db 0 at the source when the full sync started (progress of a sizeless RDB). */
  keysTotal?: number;
  private flushWaiting = false;
  /** Per destination shard: this link's commands at or below this offset are on it already. */
  private readonly skipUpTo: number[];
  /** Per destination shard: this link's checkpoint there (written or known), and when written. */
  private readonly ck: number[];
  private readonly ckAt: number[];
  private pipes?: DestinationClient[];
  private router?: DestRouter;
  private resumedFirst: boolean;

  constructor(private readonly o: LinkRunnerOptions) {
    this.link = new ReplicationLink({
      connect: o.connect,
      peer: o.label,
      username: o.username,
      password: o.password,
      ackMode: 'manual',
      logger: o.log,
      readTimeoutMs: 30_000,
      position: o.resume?.position,
    });
    const n = o.pipes.shards.length;
    this.clock = o.carry?.clock ?? new SourceClock();
    this.expiryGuard = o.carry?.guard ?? new ExpiryGuard(this.clock);
    this.stamper = new GuardStamper(this.linkKey);
    this.skipUpTo = o.resume ? o.resume.skipUpTo.slice() : new Array<number>(n).fill(-1);
    this.ck = this.skipUpTo.slice();
    this.ckAt = new Array<number>(n).fill(0);
    // A resumed link has its data on the destination: a full sync now needs every source's.
    if (o.resume) this.everSynced = true;
    this.resumedFirst = o.resume !== undefined;
    this.replid = o.resume?.position.replid ?? '';
    this.link.on('retry', (err, delay) => {
      o.log.warn({ link: o.label, err: err.message, delay_ms: delay }, 'link retrying');
      // The full sync did not complete (closed mid-RDB, or the source could not fork): what it
      // loaded is partial, so only a flush and a full sync of every source is safe.
      const bgsave = /BGSAVE failed/i.test(err.reply ?? err.message);
      if (this.inFullSync || this.sawFullSync || bgsave) {
        this.inFullSync = false;
        this.sawFullSync = false;
        // During a full sync the received offset stays at the snapshot's (+FULLRESYNC <offset>).
        void this.diagnoseFailedFullSync(err, bgsave, this.link.receivedOffset);
      }
    });
    this.link.on('state', (st) => {
      if (st === 'full-sync') this.sawFullSync = true;
      else if (st === 'streaming') this.sawFullSync = false;
    });
  }

  get state() {
    return this.link.state;
  }

  /** The link's field in the destination's checkpoints. */
  get linkKey(): string {
    return this.o.pipes.linkKey;
  }

  /** ISO time of the last write the destination confirmed (formatted on read, not per reply). */
  get lastUpdate(): string | null {
    return this.lastUpdateMs ? new Date(this.lastUpdateMs).toISOString() : null;
  }

  start(): void {
    this.link.run(this).then(
      () => {},
      (err: unknown) => {
        if (this.stopped) return;
        const e = err as MinirsError;
        this.o.log.error({ link: this.o.label, err: e.message, code: e.code }, 'link failed');
        // The destination's connections failing under the link (its proxy or a shard killed,
        // restarting, failing over: a pipe that does not open, a first checkpoint refused) are
        // no person's problem: resume from the checkpoints once it serves again (checker seeds
        // 12 and 33). A refused AUTH is, like anything the source did.
        const d = this.o.destination;
        if (e.peer === `${d.host}:${d.port}` && e.code !== ErrorCodes.AUTH) {
          this.trouble({ kind: 'resume', reason: `the destination failed under the link: ${e.message}` });
          return;
        }
        // last_error must say which source; most of the library's messages already do (its
        // peer is the label), and "source 1 (...): source 1 (...) refused PING" said it twice.
        const code: ErrorCode = e.code ?? ErrorCodes.INTERNAL;
        const rule = ruleOfCode(code, 'source');
        const message = e.message ?? String(err);
        this.trouble({
          kind: 'stop',
          stop: {
            code,
            class: rule?.class ?? 'protocol',
            error: message.includes(this.o.label) ? message : `${this.o.label}: ${message}`,
          },
        });
      },
    );
    this.probeTimer = setInterval(() => void this.probe(), 100);
    this.probeTimer.unref();
    this.guardTimer = setInterval(() => this.guardExpiries(), 250);
    this.guardTimer.unref();
  }

  /** Extends the keys the destination would expire before the stream catches up. */
  private guardExpiries(): void {
    if (this.stopped) return;
    // The stream's pipes once the load is over (routed to the key's shard; a MULTI is always
    // written whole within one tick, so this never lands inside one), else the load's connection.
    // PEXPIREAT ... GT never shortens an expiry: outside the checkpoints, a replay leaves it be.
    const pipes = this.pipes;
    const router = this.router;
    const usePipes = pipes !== undefined && router !== undefined && pipes.every((p) => !p.closed);
    const d = this.dest;
    if (!usePipes && (!d || d.closed)) return;
    for (const x of this.expiryGuard.due(Date.now(), this.link.appliedOffset)) {
      const argv = [Buffer.from('PEXPIREAT'), x.key, Buffer.from(String(x.at)), Buffer.from('GT')];
      const onReply = (r: WriteReply) => {
        if (r.kind === 'error')
          this.o.log.debug({ link: this.o.label, err: r.error }, 'expiry guard write refused');
      };
      if (!usePipes) {
        d!.write(argv, onReply);
        continue;
      }
      const route = router.route(argv);
      if (route.kind === 'one') pipes[route.shard]!.write(argv, onReply);
    }
    // What a new syncer process needs to judge its downtime (see ttl-rebuild.ts): after this
    // tick, no key the guard holds expires before now + GUARD_MARGIN_MS (an overflowed guard
    // vouches for nothing), and new writes expire no earlier than EXPIRY_CUSHION_MS from now.
    if (usePipes && CHECKPOINTS) {
      const now = Date.now();
      this.stamper.tick(pipes, now, this.expiryGuard.untracked > 0 ? 0 : now + GUARD_MARGIN_MS);
    }
  }

  private inFullSync = false;
  /** The link entered a full sync (+FULLRESYNC) that has not reached the stream yet. */
  private sawFullSync = false;

  private async diagnoseFailedFullSync(
    err: MinirsError,
    bgsave: boolean,
    startOffset: number,
  ): Promise<void> {
    const f = await this.sourceInfo();
    const ev: FullSyncEvidence = { bgsaveFailed: bgsave || f.rdb_last_bgsave_status === 'err' };
    const used = Number(f.used_memory);
    const max = Number(f.maxmemory);
    if (max > 0 && used >= max) ev.oom = true;
    ev.usedMemory = used;
    ev.maxmemory = max;
    ev.redisVersion = f.redis_version;
    // "replica 268435456 67108864 60" (7.0 prints "slave"): a buffer past hard, or past soft
    // for its seconds, closes the replica. Writes during the attempt beyond that explain the close.
    const limit = /(?:replica|slave) (\d+) (\d+) (\d+)/.exec(f['config:client-output-buffer-limit'] ?? '');
    const offset = Number(f.master_repl_offset);
    if (limit && Number.isFinite(offset)) {
      const hard = Number(limit[1]);
      const soft = Number(limit[2]);
      const written = offset - startOffset;
      if ((hard > 0 && written >= hard) || (soft > 0 && written >= soft))
        ev.outputBufferLimit = { hard, soft, written };
    }
    // Counted even when a restart closed this link meanwhile: the attempt failed all the same.
    this.o.onFullSyncFailed(err, ev);
    // Keys of the cut attempt may be on the destination: only a flush and a full sync of every
    // source is exact. Cut before its RDB began (no fullSyncStart), it loaded nothing.
    if (this.fullSyncs > 0)
      this.trouble({ kind: 'full-resync', reason: `${this.o.label}: full sync interrupted: ${err.message}` });
  }

  /** INFO fields (and the replica output buffer limit) of the source; {} when unreadable. */
  private async sourceInfo(): Promise<Record<string, string>> {
    try {
      return await readInfoFields(
        {
          // Not the link's ingress: a diskless full sync's progress asks this while it streams.
          connect: this.o.probeConnect ?? this.o.connect,
          peer: this.o.label,
          username: this.o.username,
          password: this.o.password,
          timeoutMs: 2000,
        },
        ['replication', 'persistence', 'memory', 'server', 'keyspace'],
        ['client-output-buffer-limit'],
      );
    } catch {
      return {};
    }
  }

  private trouble(r: Trouble): void {
    if (this.troubled || this.stopped) return;
    this.troubled = true;
    this.o.onTrouble(r);
  }

  /**
   * `settle`: before a flush, the writes in flight must be answered (or the connection known
   * dead): a write still queued in the destination when the connection closes would run after
   * the flush that the next full sync starts with, and survive it.
   */
  async stop(settle = false): Promise<void> {
    this.stopped = true;
    clearInterval(this.probeTimer);
    this.prober?.close();
    clearInterval(this.guardTimer);
    this.barrierAbort?.();
    const pipes = this.pipes ?? [];
    if (!settle) {
      this.dest?.close();
      for (const p of pipes) p.close();
    }
    await this.link.close();
    const d = this.dest;
    const open = [d, ...pipes].filter((c): c is DestinationClient => c !== undefined && !c.closed);
    if (settle && open.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((c) => c.drain().catch(() => {}))),
        new Promise<void>((r) => {
          timer = setTimeout(r, SETTLE_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    d?.close();
    for (const p of pipes) p.close();
  }

  private probing = false;
  private lastMemoryCheck = 0;

  /**
   * The seed: an out-of-memory error on a source stops the sync. A source over its maxmemory
   * with noeviction refuses its clients' writes (what is not counted for eviction, such as
   * replica buffers, aside, as Redis itself reckons).
   */
  private async checkSourceMemory(): Promise<void> {
    const f = await this.prober!.info('memory');
    const used = Number(f.used_memory) - (Number(f.mem_not_counted_for_evict) || 0);
    const max = Number(f.maxmemory);
    // The OOM errors the source answered (INFO errorstats, Redis 6.2+): at the limit, used
    // memory goes just above maxmemory and back below as buffers come and go, but every write
    // it refused meanwhile is counted. New ones since the last check mean it refuses writes now.
    const oom = /count=(\d+)/.exec((await this.prober!.info('errorstats')).errorstat_OOM ?? '');
    const refused = oom ? Number(oom[1]) : 0;
    const before = this.sourceOomErrors;
    this.sourceOomErrors = refused;
    if (!(max > 0 && f.maxmemory_policy === 'noeviction')) return;
    const over = used > max;
    const refusing = before !== undefined && refused > before;
    if (!over && !refusing) return;
    const rule = errorRule('oom');
    const what = over
      ? `used_memory ${used} > maxmemory ${max}`
      : `it answered ${refused - before!} write(s) with -OOM in the last second, used_memory ${used} of maxmemory ${max}`;
    this.trouble({
      kind: 'stop',
      stop: {
        code: rule.code,
        class: rule.class,
        error: `${this.o.label} is out of memory (${what}, maxmemory-policy noeviction): it refuses writes. ${rule.remedy}`,
      },
    });
  }

  /** The source's count of -OOM replies at the last memory check (undefined before the first). */
  private sourceOomErrors?: number;

  private async probe(): Promise<void> {
    if (this.probing || this.link.state !== 'streaming') return;
    this.probing = true;
    try {
      this.prober ??= new ReplicationInfoProbe({
        connect: this.o.probeConnect ?? this.o.connect,
        peer: this.o.label,
        username: this.o.username,
        password: this.o.password,
        timeoutMs: 2000,
      });
      const t = Date.now();
      const info = await this.prober.read();
      this.lag.sample(info.masterReplOffset, this.link.appliedOffset, t);
      this.clock.note(info.masterReplOffset, t);
      if (t - this.lastMemoryCheck >= MEMORY_CHECK_MS) {
        this.lastMemoryCheck = t;
        await this.checkSourceMemory();
      }
    } catch {
      // A failed probe only delays the next lag figure; the link itself reports real trouble.
    } finally {
      this.probing = false;
    }
  }

  private async ensureDest(): Promise<DestinationClient> {
    if (this.dest && !this.dest.closed) return this.dest;
    const d = new DestinationClient(this.o.destination);
    d.on('failed', (err) => {
      if (this.stopped) return;
      // Writes in flight have an unknown fate: only a full resync is safe.
      this.trouble({ kind: 'full-resync', reason: `destination connection failed: ${err.message}` });
    });
    await d.connect();
    this.dest = d;
    return d;
  }

  // ---- ReplicationConsumer ----

  async fullSyncStart(info: FullSyncStart): Promise<void> {
    if (this.everSynced || this.fullSyncs > 0) {
      // Every full sync attempt starts on a flushed destination. A second attempt on this link
      // (the source could not continue where we were, or the first attempt was cut short) finds
      // what earlier attempts loaded, and the flush would empty what the other sources wrote:
      // only a flush and a full sync of every source is exact.
      this.trouble({
        kind: 'full-resync',
        reason: this.everSynced
          ? `${this.o.label} refused a partial resync${info.partialRefused ? '' : ' (new history)'}`
          : `${this.o.label} started its full sync again`,
      });
      throw new MinirsError(ErrorCodes.CONNECTION, 'full resync of every source scheduled');
    }
    this.fullSyncs++;
    this.inFullSync = true;
    this.replid = info.replid;
    this.keysTotal = undefined;
    this.keysLoaded = 0;
    if (info.rdbSize === undefined) {
      // A diskless source sends no size: progress is keys loaded against its key count now.
      void this.sourceInfo().then((f) => {
        const m = /keys=(\d+)/.exec(f.db0 ?? '');
        this.keysTotal = m ? Number(m[1]) : f.redis_version ? 0 : undefined;
      });
    }
    // The source's snapshot is taken when it answers +FULLRESYNC (the fork starts then).
    const snapshotAt = info.snapshotAt;
    this.clock.anchor(info.offset, snapshotAt);
    this.expiryGuard.clear();
    // The loader's rules (MSET batching, values over 1 MiB as commands, waits only on a full
    // window) are in @minirs/rdb's loader.ts; only db 0 is loaded.
    this.loader = new RdbLoader({
      planner: {
        targetRdbVersion: this.o.targetRdbVersion,
        now: Date.now,
        mapExpireAt: (t, key) => {
          const at = shiftedExpireAt(t, snapshotAt, Date.now());
          this.expiryGuard.note(key, t, at);
          return at;
        },
        modules: 'error',
        onLoss: (key, what) => this.onLoss(String(key.key), what),
      },
      onEvent: (ev) => {
        if (ev.kind === 'aux' && ev.key === 'redis-ver') this.sourceVersion = ev.value.toString('latin1');
      },
      onKey: (_key, outcome) => {
        if (outcome === 'load') this.keysLoaded++;
        else this.otherDbKeys++;
      },
      onWriteError: (error, write) => this.handleDestError(error, describeLoadWrite(write)),
    });
    this.parser = this.loader.parser;
    this.planner = this.loader.planner;
    await this.ensureDest();
    this.o.log.info(
      { link: this.o.label, replid: info.replid, offset: info.offset, rdb_size: info.rdbSize },
      'full sync started',
    );
  }

  /** Data the destination cannot hold (e.g. hash field TTLs below 7.4): never Synced without it. */
  private onLoss(key: string, what: string): void {
    // Other losses (LRU/LFU data, consumers' seen-time) are what rebuilding by commands costs on
    // any target; only data the target's version cannot hold stops the sync.
    if (!/hash field TTL/i.test(what)) {
      this.o.log.debug({ link: this.o.label, key: key.slice(0, 80), what }, 'not reproducible exactly');
      return;
    }
    const feature = 'hash field TTLs (Redis 7.4)';
    const rule = errorRule('incompatible');
    this.trouble({
      kind: 'stop',
      stop: {
        code: rule.code,
        class: rule.class,
        error: `${this.o.label}${this.sourceVersion ? ` (Redis ${this.sourceVersion})` : ''} holds ${feature}, which the destination (Redis ${this.o.destinationVersion}) cannot hold (key ${key.slice(0, 80)}). ${rule.remedy}`,
      },
    });
  }

  async rdbChunk(chunk: Buffer): Promise<void> {
    const parser = this.parser!;
    parser.write(chunk);
    await this.drainParser();
  }

  private async drainParser(): Promise<void> {
    await this.loader!.load(this.dest!);
  }

  /** `resumable`: the write went through a shard pipe with its checkpoint (a resume is exact). */
  private handleDestError(error: string, what: string, resumable = false): void {
    let rule = classifyReply(error, 'destination');
    const reply = error.replace(/\.*$/, '.');
    const name = what.split(' ')[0] ?? '';
    const feature = isUnknownCommandReply(error) ? featureOfCommand(name) : undefined;
    if (feature) {
      rule = errorRule('incompatible');
      this.trouble({
        kind: 'stop',
        stop: {
          code: rule.code,
          class: rule.class,
          error: `destination (Redis ${this.o.destinationVersion}) refused ${what} from ${this.o.label}: ${reply} The source${this.sourceVersion ? ` (Redis ${this.sourceVersion})` : ''} uses ${feature.name} (Redis ${feature.since}+). ${rule.remedy}`,
        },
      });
      return;
    }
    switch (rule.outcome) {
      case 'stop':
        this.trouble({
          kind: 'stop',
          stop: {
            code: rule.code,
            class: rule.class,
            error: `destination refused ${what} from ${this.o.label}: ${reply} ${rule.remedy}`,
          },
        });
        return;
      case 'full-resync':
      case 'retry':
      case 'partial-resync':
        this.trouble({
          kind: resumable ? 'resume' : 'full-resync',
          reason: `destination answered ${error} to ${what}`,
        });
        return;
      case 'count':
        // Like a Redis replica: a command the destination rejects is logged and counted, not retried.
        this.rejectedWrites++;
        this.lastRejectedWrite = `destination refused ${what} from ${this.o.label}: ${reply}`;
        if (this.rejectedWrites <= 20)
          this.o.log.warn({ link: this.o.label, what, error }, 'destination rejected a replicated write');
    }
  }

  async fullSyncEnd(info: FullSyncEnd): Promise<void> {
    this.parser!.end();
    await this.drainParser();
    await this.dest!.drain();
    const st = this.planner!.stats;
    this.o.log.info(
      {
        link: this.o.label,
        rdb_bytes: info.rdbBytes,
        keys: st.keys,
        restored: st.restored,
        converted: st.converted,
        expired_skipped: st.expiredSkipped,
        other_db_keys: this.otherDbKeys,
      },
      'full sync loaded',
    );
    this.parser = undefined;
    this.planner = undefined;
    this.loader = undefined;
    // The load went through the endpoint; the stream goes through the shard pipes, from a
    // checkpoint on every shard (the snapshot's offset), written after the load was answered.
    const load = this.dest;
    this.dest = undefined;
    load?.removeAllListeners('failed');
    load?.close();
    this.replid = info.replid;
    const value = this.checkpointValue(info.offset, info.streamDb ?? 0);
    // A failure here (a shard restarting or failing over: its pipe does not open, -TRYAGAIN,
    // -READONLY...) is the destination's: the link's failure handler resumes from the
    // checkpoints, which lack this link's first one on some shard, so a full resync (seed 12).
    const pipes = await this.ensurePipes();
    // The expiry guard's first stamp goes before the first checkpoint (a new process finds
    // one wherever it finds the other); the last guard tick may be 250 ms old.
    if (CHECKPOINTS) {
      await this.stamper.prime(pipes);
      const now = Date.now();
      this.stamper.tick(pipes, now, this.expiryGuard.untracked > 0 ? 0 : now + GUARD_MARGIN_MS - 250, true);
    }
    await Promise.all(
      pipes.map(async (p, s) => {
        const r = await this.writeCheckpointOnly(p, value);
        if (r.kind === 'error') {
          // A stop-worthy refusal (the destination out of memory...) stops the sync and says so.
          if (classifyReply(r.error!, 'destination').outcome === 'stop')
            this.handleDestError(r.error!, 'the checkpoint after the full sync');
          throw new MinirsError(ErrorCodes.CONNECTION, `checkpoint after the full sync: ${r.error}`, {
            peer: p.peer,
          });
        }
        this.ck[s] = info.offset;
        this.ckAt[s] = Date.now();
      }),
    );
    this.inFullSync = false;
    this.everSynced = true;
    this.o.onFullSyncLoaded();
    this.lastUpdateMs = Date.now();
    this.link.applied(info.offset);
  }

  partialSync(info: PartialSync): void {
    this.partialSyncs++;
    if (info.replid) this.replid = info.replid;
    const first = this.resumedFirst;
    this.resumedFirst = false;
    this.o.onPartialSync?.(first);
    this.o.log.info({ link: this.o.label, offset: info.offset, resumed: first }, 'partial resync accepted');
  }

  // ---- the stream, through the shard pipes ----

  /** The source's current history (checkpoints carry it; PSYNC asks for it). */
  private replid = '';

  private checkpointValue(offset: number, db: number): string {
    const replid = this.replid || this.link.position?.replid || '';
    return formatCheckpoint({ epoch: this.o.pipes.epoch, replid, offset, db });
  }

  /** Opens the link's pipe to every destination shard (once; a failed pipe means a resume). */
  private async ensurePipes(): Promise<DestinationClient[]> {
    if (this.pipes) {
      if (this.pipes.every((p) => !p.closed)) return this.pipes;
      throw new MinirsError(
        ErrorCodes.CONNECTION,
        'a destination shard pipe failed; resuming from the checkpoints',
      );
    }
    const po = this.o.pipes;
    if (!this.router) this.router = new DestRouter(po.shards, po.shardKeyRegex, await po.commandTable());
    const opened: DestinationClient[] = [];
    try {
      for (const sh of po.shards)
        opened.push(await openShardPipe(this.o.destination, po.adminPassword, sh.uid, pipeName(po.bdbUid)));
    } catch (err) {
      for (const p of opened) p.close();
      // Its errors name the destination (peer): the link's failure handler resumes, or stops on AUTH.
      throw err;
    }
    if (this.stopped) {
      for (const p of opened) p.close();
      throw new MinirsError(ErrorCodes.CONNECTION, 'link stopped');
    }
    for (const [i, p] of opened.entries()) {
      p.on('failed', (err) => {
        if (this.stopped) return;
        // What this pipe had in flight is on the shard or not, atomically with the checkpoint.
        this.trouble({
          kind: 'resume',
          reason: `the pipe to destination shard ${po.shards[i]!.uid} failed: ${err.message}`,
        });
      });
    }
    this.pipes = opened;
    return opened;
  }

  async commands(batch: readonly ReplicationCommand[]): Promise<void> {
    const pipes = await this.ensurePipes();
    const acc: Item[][] = pipes.map(() => []);
    let upTo = -1;
    let upToDb = 0;
    for (const cmd of batch) {
      const name = cmd.argv[0];
      const held = this.heldTx;
      if (held) {
        // A transaction of the stream is routed only once it is whole (see heldTx); it goes
        // inside the syncer's own MULTI of each shard, without its MULTI/EXEC.
        held.push({ cmd, entry: { offset: cmd.offset, done: false } });
        const exec = argIs(name, 'EXEC');
        if (exec || argIs(name, 'DISCARD') || held.length >= MAX_HELD_TX) {
          this.heldTx = undefined;
          if (!argIs(name, 'DISCARD')) {
            const body = held.slice(1, exec ? -1 : undefined);
            // The proxy would refuse the whole transaction across slots (CROSSSLOT): so does
            // the syncer. Except the one Redis 7 writes itself: a command that expired keys on
            // access (or an expire cycle) wrapped in MULTI/EXEC with the DELs of those keys,
            // spanning hash tags the source's client never put together. Made only of one-key
            // DEL/UNLINKs and at most one other command, it goes command by command (each
            // routed, and checked, on its own): the same result.
            const others = body.filter(
              (h) =>
                !((argIs(h.cmd.argv[0], 'DEL') || argIs(h.cmd.argv[0], 'UNLINK')) && h.cmd.argv.length === 2),
            ).length;
            const bad =
              exec && others <= 1 ? undefined : this.router!.transactionError(body.map((h) => h.cmd.argv));
            if (bad)
              this.handleDestError(
                bad.error,
                `MULTI/EXEC of ${body.length} commands (at ${commandLabel(body[bad.at]!.cmd.argv)})`,
                true,
              );
            else for (const h of body) this.routeInto(acc, h.cmd);
          }
          upTo = cmd.offset;
          upToDb = cmd.db;
        }
        continue;
      }
      const flush = isFlush(name);
      // FLUSHALL empties db 0 whatever db the stream is in; FLUSHDB only in db 0.
      if (flush === 'FLUSHALL' || (flush === 'FLUSHDB' && cmd.db === 0)) {
        await this.sendAcc(pipes, acc, upTo, upToDb);
        for (const a of acc) a.length = 0;
        await this.replayFlush(pipes, cmd);
        upTo = cmd.offset;
        upToDb = cmd.db;
        continue;
      }
      // A transaction's EXEC after one too long to hold (MAX_HELD_TX) is dropped, as is MULTI's.
      const skip =
        cmd.db !== 0 ||
        argIs(name, 'SELECT') ||
        argIs(name, 'PING') ||
        argIs(name, 'REPLCONF') ||
        argIs(name, 'EXEC') ||
        argIs(name, 'DISCARD');
      if (skip) {
        if (cmd.db !== 0 && !argIs(name, 'SELECT')) this.otherDbCommands++;
      } else if (argIs(name, 'MULTI')) {
        this.heldTx = [{ cmd, entry: { offset: cmd.offset, done: false } }];
        continue;
      } else {
        this.routeInto(acc, cmd);
      }
      upTo = cmd.offset;
      upToDb = cmd.db;
    }
    await this.sendAcc(pipes, acc, upTo, upToDb);
    // Backpressure: the link reads on only when every pipe has room.
    for (const p of pipes) if (!p.hasRoom()) await p.capacity();
    this.advance();
  }

  /** Adds a command's parts to the shards it goes to, minus the shards that have it already. */
  private routeInto(acc: Item[][], cmd: ReplicationCommand): void {
    // An absolute expiry the destination would reach before the stream catches up waits for
    // the source's own DEL (see shiftStreamExpiry).
    const now = Date.now();
    const shifted = shiftStreamExpiry(cmd.argv, now, () => {
      const ran = this.clock.ranAfter(cmd.offset);
      return ran === undefined ? undefined : now - ran;
    });
    const expiry = absoluteExpiryOf(cmd.argv);
    if (expiry) {
      const written = shifted ? absoluteExpiryOf(shifted)!.expireAt : expiry.expireAt;
      this.expiryGuard.note(expiry.key, expiry.expireAt, written);
    } else if ((argIs(cmd.argv[0], 'DEL') || argIs(cmd.argv[0], 'UNLINK')) && cmd.argv.length > 1) {
      this.expiryGuard.forget(cmd.argv.slice(1));
    }
    const argv = shifted ?? cmd.argv;
    const r = this.router!.route(argv);
    const skip = this.skipUpTo;
    const want = (s: number) => cmd.offset > skip[s]!;
    switch (r.kind) {
      case 'one':
        if (want(r.shard))
          acc[r.shard]!.push({ raw: shifted ? encodeCommand(shifted) : cmd.raw, argv, offset: cmd.offset });
        return;
      case 'all': {
        const raw = shifted ? encodeCommand(shifted) : cmd.raw;
        for (let s = 0; s < acc.length; s++) if (want(s)) acc[s]!.push({ raw, argv, offset: cmd.offset });
        return;
      }
      case 'split':
        for (const [s, part] of r.parts)
          if (want(s)) acc[s]!.push({ raw: encodeCommand(part), argv: part, offset: cmd.offset });
        return;
      case 'error':
        this.handleDestError(r.error, commandLabel(argv), true);
    }
  }

  /** Per shard: the link's transaction there not answered yet (one at a time, see sendAcc). */
  private execWait: (Promise<boolean> | undefined)[] = [];
  /** A transaction of this link failed: nothing more may commit after it (a resume or stop follows). */
  private broken = false;

  /**
   * Writes what each shard got of the batch, with the link's checkpoint `upTo` in the same
   * MULTI; a shard that got nothing gets the checkpoint alone now and then (so its checkpoint
   * does not fall out of the source's backlog).
   *
   * One transaction per shard at a time: a shard that discards one (a command refused when
   * queued: EXECABORT; or -NOREPLICAS, -OOM...) must not commit a later one first, whose
   * checkpoint would claim the discarded writes. The next batch is read and routed meanwhile.
   */
  private async sendAcc(pipes: DestinationClient[], acc: Item[][], upTo: number, db: number): Promise<void> {
    if (upTo < 0) return;
    const entry = { offset: upTo, done: false };
    let pending = 0;
    const value = this.checkpointValue(upTo, db);
    this.order.push(entry);
    for (let s = 0; s < pipes.length; s++) {
      const items = acc[s]!;
      if (items.length === 0 && !(this.ck[s]! < upTo && Date.now() - this.ckAt[s]! >= CHECKPOINT_REFRESH_MS))
        continue;
      const prev = this.execWait[s];
      if (prev) await prev;
      if (this.broken || this.stopped)
        throw new MinirsError(ErrorCodes.CONNECTION, 'a destination transaction failed; the link resumes');
      pending++;
      this.ckAt[s] = Date.now();
      const p = this.execBatch(pipes[s]!, s, items, value, upTo);
      this.execWait[s] = p;
      void p.then((ok) => {
        if (!ok) {
          this.broken = true;
          return;
        }
        if (--pending === 0) {
          entry.done = true;
          this.lastUpdateMs = Date.now();
          this.scheduleAdvance();
        }
      });
    }
    if (pending === 0) entry.done = true;
  }

  /**
   * The checkpoint alone, in its transaction. A discarded EXEC answers with the error of the
   * command refused when queued (-OOM, -NOREPLICAS...), not EXECABORT: that error says why.
   */
  private async writeCheckpointOnly(pipe: DestinationClient, value: string): Promise<WriteReply> {
    let queued: string | undefined;
    const onQueued = (_i: number, error: string) => {
      if (queued === undefined && !error.startsWith('EXECABORT')) queued = error;
    };
    const exec = await pipe.awaitReply((cb) =>
      pipe.writeTransaction(this.checkpointParts(value), onQueued, cb),
    );
    return exec.kind === 'error' && queued !== undefined ? { ...exec, error: queued } : exec;
  }

  /** SELECT of the checkpoints' db, the link's checkpoint, SELECT 0: the end of every transaction. */
  private checkpointParts(value: string): Buffer[] {
    const hset = encodeCommand([
      Buffer.from('HSET'),
      Buffer.from(CHECKPOINT_KEY),
      Buffer.from(this.o.pipes.linkKey),
      Buffer.from(value),
    ]);
    return [SELECT_CK_RAW, hset, SELECT_0_RAW];
  }

  /** One MULTI of `items` and the checkpoint; the EXEC's reply and the errors of queuing. */
  private multi(
    pipe: DestinationClient,
    items: Item[],
    value: string,
  ): Promise<{ exec?: WriteReply; queued: { i: number; error: string }[] }> {
    return new Promise((resolve, reject) => {
      const queued: { i: number; error: string }[] = [];
      // A pipe that fails leaves the EXEC unanswered: its 'failed' handler resumes the sync.
      const onFailed = () => resolve({ queued });
      pipe.once('failed', onFailed);
      const onQueued = (i: number, error: string) => queued.push({ i, error });
      try {
        if (!CHECKPOINTS) {
          // The bench's baseline: the same batch, one reply at a time, no transaction.
          const last = items.length - 1;
          if (last < 0) {
            pipe.off('failed', onFailed);
            resolve({ exec: { kind: 'ok', frame: NO_CHECKPOINT_REPLY }, queued });
            return;
          }
          for (const [i, it] of items.entries()) {
            pipe.writeRaw(it.raw, (r) => {
              if (r.kind === 'error') this.handleDestError(r.error!, commandLabel(it.argv), true);
              if (i === last) {
                pipe.off('failed', onFailed);
                resolve({ exec: { kind: 'ok', frame: NO_CHECKPOINT_REPLY }, queued });
              }
            });
          }
          return;
        }
        const parts = items.map((it) => it.raw);
        parts.push(...this.checkpointParts(value));
        pipe.writeTransaction(parts, onQueued, (exec) => {
          pipe.off('failed', onFailed);
          resolve({ exec, queued });
        });
      } catch (err) {
        pipe.off('failed', onFailed);
        reject(err);
      }
    });
  }

  /**
   * Commits `items` with the checkpoint on shard `s`: true when committed. A transaction the
   * shard discarded applied nothing: a command refused when queued for good (a Redis replica
   * counts and skips it) is counted and the rest resent; one refused for a graver cause has
   * the commands before it resent, then the cause decides (a stop, or a resume from the
   * checkpoints). Any other discarded EXEC (-NOREPLICAS, -OOM...) is a resume or a stop.
   */
  private async execBatch(
    pipe: DestinationClient,
    s: number,
    items: Item[],
    value: string,
    upTo: number,
  ): Promise<boolean> {
    let r: Awaited<ReturnType<LinkRunner['multi']>>;
    try {
      r = await this.multi(pipe, items, value);
    } catch {
      return false;
    }
    if (!r.exec) return false;
    const f = r.exec.frame;
    // No error anywhere in the EXEC's reply (see firstError): committed, nothing to count.
    if (r.exec.kind === 'ok') {
      if (this.ck[s]! < upTo) this.ck[s] = upTo;
      return true;
    }
    if (!f.isError) {
      const els = f.elements;
      for (let i = 0; i < items.length && i < els.length; i++)
        if (els[i]!.isError) this.handleDestError(els[i]!.str(), commandLabel(items[i]!.argv), true);
      for (let i = items.length; i < els.length; i++)
        if (els[i]!.isError) {
          this.trouble({
            kind: 'resume',
            reason: `destination shard refused the checkpoint: ${els[i]!.str()}`,
          });
          return false;
        }
      if (this.ck[s]! < upTo) this.ck[s] = upTo;
      return true;
    }
    const bad = r.queued.filter((q) => !q.error.startsWith('EXECABORT') && items[q.i] !== undefined);
    const forGood = (q: { i: number; error: string }) =>
      classifyReply(q.error, 'destination').outcome === 'count' &&
      !(
        isUnknownCommandReply(q.error) && featureOfCommand(commandLabel(items[q.i]!.argv).split(' ')[0] ?? '')
      );
    const grave = bad.find((q) => !forGood(q));
    if (grave) {
      const prefix = items.slice(0, grave.i);
      const last = prefix[prefix.length - 1];
      if (last && !(await this.execBatch(pipe, s, prefix, this.checkpointValue(last.offset, 0), last.offset)))
        return false;
      this.handleDestError(grave.error, commandLabel(items[grave.i]!.argv), true);
      if (!this.troubled)
        this.trouble({ kind: 'resume', reason: `destination shard refused a write: ${grave.error}` });
      return false;
    }
    if (bad.length === 0) {
      // Refused when queued: the checkpoint's own commands (-NOREPLICAS, -OOM...) say why.
      const error = r.queued.find((q) => !q.error.startsWith('EXECABORT'))?.error ?? f.str();
      const rule = classifyReply(error, 'destination');
      if (rule.outcome === 'stop') this.handleDestError(error, 'EXEC', true);
      else this.trouble({ kind: 'resume', reason: `destination shard discarded a transaction: ${error}` });
      return false;
    }
    for (const q of bad) this.handleDestError(q.error, commandLabel(items[q.i]!.argv), true);
    return this.execBatch(
      pipe,
      s,
      items.filter((_, i) => !bad.some((q) => q.i === i)),
      value,
      upTo,
    );
  }

  private barrierAbort?: () => void;

  /**
   * A sharded source's FLUSHALL reaches every shard, so every link of the source carries a copy.
   * Applied once per copy, a late copy would erase what another shard's link wrote after the
   * source's flush. So each link settles its earlier writes and waits at the source's barrier;
   * the last link to arrive sends the flush once, with every arrived link's checkpoint in the
   * same MULTI of each shard, and all go on: the destination is flushed exactly between the
   * source's writes before the flush and after it. A source FLUSHALL is sent as FLUSHDB (db 0
   * is all that is replicated; the checkpoints' db stays).
   */
  private async replayFlush(pipes: DestinationClient[], cmd: ReplicationCommand): Promise<void> {
    this.expiryGuard.clear();
    await Promise.all(pipes.map((p) => p.drain()));
    // A discarded transaction before the flush: the flush must not commit past it.
    if (this.broken)
      throw new MinirsError(ErrorCodes.CONNECTION, 'a destination transaction failed; the link resumes');
    this.advance();
    const what = commandLabel(cmd.argv);
    this.flushWaiting = true;
    const mine: FlushArrival = {
      linkKey: this.o.pipes.linkKey,
      offset: cmd.offset,
      value: this.checkpointValue(cmd.offset, cmd.db),
      skipUpTo: this.skipUpTo,
    };
    // A copy that never comes (a shard flushed alone, outside the proxy) must not wedge the
    // source: after a while only a full resync is exact.
    const timer = setTimeout(
      () =>
        this.trouble({
          kind: 'full-resync',
          reason: `${this.o.label} waited ${FLUSH_BARRIER_MS / 1000} s for the other shards' copies of ${what}`,
        }),
      FLUSH_BARRIER_MS,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        this.barrierAbort = () => reject(new MinirsError(ErrorCodes.CONNECTION, 'link closed at a flush'));
        this.o.flushBarrier((all) => this.sendFlush(pipes, cmd, all), mine).then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
      this.flushWaiting = false;
      this.barrierAbort = undefined;
    }
    const now = Date.now();
    for (let s = 0; s < pipes.length; s++) {
      if (this.ck[s]! < cmd.offset) this.ck[s] = cmd.offset;
      this.ckAt[s] = now;
    }
    this.order.push({ offset: cmd.offset, done: true });
    this.advance();
  }

  /** The flush on every shard that does not have it yet, with the arrived links' checkpoints. */
  private async sendFlush(
    pipes: DestinationClient[],
    cmd: ReplicationCommand,
    all: FlushArrival[],
  ): Promise<void> {
    const args = ['FLUSHDB', ...cmd.argv.slice(1).map((a) => a.toString('latin1'))];
    await Promise.all(
      pipes.map(async (p, s) => {
        const here = all.filter((a) => a.offset > a.skipUpTo[s]!);
        if (here.length === 0) return;
        const fields = here.flatMap((a) => [a.linkKey, a.value]);
        const r = await p.awaitReply((res) => {
          p.writeRaw(MULTI_RAW);
          p.write(args);
          p.writeRaw(SELECT_CK_RAW);
          p.write(['HSET', CHECKPOINT_KEY, ...fields]);
          p.writeRaw(SELECT_0_RAW);
          p.writeRaw(EXEC_RAW, res);
        });
        if (r.kind === 'error') this.handleDestError(r.error!, commandLabel(cmd.argv), true);
      }),
    );
  }

  /** Whether the link waits for the other links of its source at a flush. */
  get waitingAtFlush(): boolean {
    return this.flushWaiting;
  }

  private scheduleAdvance(): void {
    if (this.advanceScheduled) return;
    this.advanceScheduled = true;
    queueMicrotask(() => {
      this.advanceScheduled = false;
      this.advance();
    });
  }

  /** Report as applied the longest prefix of the stream whose writes are all answered. */
  private advance(): void {
    let last = -1;
    while (this.orderHead < this.order.length && this.order[this.orderHead]!.done) {
      last = this.order[this.orderHead]!.offset;
      this.orderHead++;
    }
    if (this.orderHead > 4096) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
    if (last >= 0) {
      this.link.applied(last);
      this.lag.applied(last);
      this.lastUpdateMs = Date.now();
    }
  }

  async drain(): Promise<void> {
    if (this.dest && !this.dest.closed) await this.dest.drain().catch(() => {});
    if (this.pipes) await Promise.all(this.pipes.map((p) => p.drain().catch(() => {})));
    // The link was cut inside a transaction it had not written: it resumes at the MULTI.
    this.heldTx = undefined;
    this.advance();
  }
}
