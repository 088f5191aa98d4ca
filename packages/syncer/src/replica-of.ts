import {
  ErrorCodes,
  errorRule,
  type Logger,
  MinirsError,
  maskUri,
  outcomeOfCode,
  parseSourceUri,
  type ResumeMode,
  ruleOfCode,
  type SourceReport,
  type SourceStatus,
  type SourceUri,
  type StopReason,
  type SyncerReport,
  type SyncerRuntimeConfig,
  sourceStatusFromLinks,
  syncRuns,
} from '@minirs/common';
import { rdbVersionForRedis } from '@minirs/rdb';
import type { CommandTable } from '@minirs/resp';
import {
  type DestinationCheckpoints,
  type DestShard,
  openShardPipe,
  parseCheckpoint,
  readCheckpoints,
  readCommandTable,
} from './dest-shards.js';
import { DestinationClient, type DestinationTarget } from './destination.js';
import { GUARD_MARGIN_MS } from './expiry-guard.js';
import { FlushBarrier } from './flush-barrier.js';
import { LinkFaultState } from './link-faults.js';
import {
  type FlushArrival,
  type FullSyncEvidence,
  LinkRunner,
  type PipeOptions,
  type Trouble,
} from './link-runner.js';
import {
  type Counters,
  openSourceStream,
  parseShardList,
  type SourceTls,
  sourceCommand,
} from './source-connect.js';
import {
  parseStamp,
  REBUILT_FIELD,
  RebuiltGuard,
  SCAN_MAX_MS,
  type ShardCounters,
  stampHolds,
} from './ttl-rebuild.js';

/**
 * The Replica Of state machine of one destination database.
 *
 *   config(enabled, epoch N) --> flush destination --> every source: full sync --> stream
 *   a source link drops       --> that link reconnects, PSYNC replid offset+1 (partial)
 *   partial refused / destination lost or restarted empty --> flush, full sync of ALL sources
 *   a first full sync cut short --> flush, full sync of ALL sources (never load on leftovers)
 *   the same link fails its full sync 3 times with the source to blame --> stop
 *   auth / CROSSSLOT / OOM / incompatible data --> report `sync-stopped` with the error's code
 *   config(stopped|paused|disabled) --> close every link, also mid flush
 * Outcomes come from the error table in @minirs/common (replica-state.ts).
 *
 * Per-source order is kept (one link per source shard, one destination connection per link);
 * sources interleave in arrival order.
 *
 * Size (~740 lines): the state machine of one destination and of each of its sources
 * (SourceSync) are read together: a source's link events drive the destination's transitions
 * (flush barrier, resync of all, stop). The transition rules themselves are data in
 * @minirs/common replica-state.ts; the link is link-runner.ts.
 */

const RETRY_MS = [200, 500, 1000, 2000, 5000];

class SourceSync {
  readonly counters: Counters = { ingressBytes: 0, ingressBytesDecompressed: 0 };
  readonly faults: LinkFaultState;
  readonly runners: LinkRunner[] = [];
  status: SourceStatus = 'syncing';
  lastError = '';
  lastErrorCode = '';
  /** The source's FLUSHALL/FLUSHDB copies, one per shard link, meet here (applied once). */
  readonly flushes = new FlushBarrier<FlushArrival>();
  /** How this source's links were (re)started last, and why (status, sync_source_stats). */
  resumeMode: ResumeMode = 'full';
  resumeReason = '';
  private discoveryFailed = false;
  private closed = false;
  private resolveTimer?: NodeJS.Timeout;
  private attempts = 0;

  constructor(
    readonly uid: number,
    readonly uri: SourceUri,
    readonly rawUri: string,
    readonly compression: number,
    readonly tls: SourceTls | undefined,
    private readonly owner: ReplicaOfSync,
    /** Checkpoints of this source's links on the destination (an exact resume), by link key. */
    private readonly plan: ResumePlan | undefined,
  ) {
    this.faults = new LinkFaultState(uid);
  }

  get label(): string {
    return `source ${this.uid} (${maskUri(this.rawUri.replace(/^[A-Za-z0-9-]+:(?=rediss?:)/, ''))})`;
  }

  /** Discover the source's shards (a minirs db through its proxy), then start a link per shard. */
  async start(): Promise<void> {
    if (this.closed) return;
    let shards: { uid: number; slot_start: number; slot_end: number }[] | undefined;
    if (this.uri.admin) {
      try {
        const [raw] = await sourceCommand(this.openOpts(), [['MINIRS.SHARDS']]);
        shards = parseShardList(raw!);
      } catch (err) {
        const e = err as MinirsError & { retryable?: boolean };
        if (this.closed) return;
        const code = e.code ?? ErrorCodes.INTERNAL;
        if (outcomeOfCode(code, 'source') === 'stop') {
          const rule = ruleOfCode(code, 'source');
          this.owner.stop(this, {
            code,
            class: rule?.class ?? 'protocol',
            error: `${this.label}: ${e.message}`,
          });
          return;
        }
        this.lastError = e.message;
        this.lastErrorCode = code;
        this.discoveryFailed = true;
        this.status = 'out-of-sync';
        const delay = RETRY_MS[Math.min(this.attempts++, RETRY_MS.length - 1)]!;
        this.resolveTimer = setTimeout(() => void this.start(), delay);
        return;
      }
    }
    this.attempts = 0;
    this.discoveryFailed = false;
    this.lastError = '';
    this.lastErrorCode = '';
    const list = shards ?? [{ uid: -1, slot_start: -1, slot_end: -1 }];
    // A link is known on the destination by its source and slot range (stable through a
    // source failover, where the shard uid changes).
    const keyOf = (sh: { uid: number; slot_start: number; slot_end: number }) =>
      sh.uid >= 0 ? `${this.uid}:${sh.slot_start}-${sh.slot_end}` : `${this.uid}:-`;
    if (this.plan) {
      const mine = [...this.plan.links.keys()].filter((k) => k.startsWith(`${this.uid}:`));
      const keys = list.map(keyOf);
      if (mine.length !== keys.length || keys.some((k) => !this.plan!.links.has(k))) {
        this.owner.fullResync(
          `${this.label}: its shards (${keys.join(', ')}) are not the ones checkpointed on the destination (${mine.join(', ')})`,
        );
        return;
      }
    }
    this.flushes.links = list.length;
    for (const sh of list) {
      const shardUid = sh.uid >= 0 ? sh.uid : undefined;
      const label = shardUid !== undefined ? `${this.label} shard ${shardUid}` : this.label;
      const linkKey = keyOf(sh);
      const runner = new LinkRunner({
        pipes: this.owner.pipeOptions(linkKey),
        resume: this.plan?.links.get(linkKey),
        carry: this.plan ? this.owner.guards.get(linkKey) : undefined,
        onPartialSync: (first) => {
          if (first) return;
          this.resumeMode = 'partial';
          this.resumeReason = `${label}: the source connection dropped; PSYNC continued where the link stopped`;
        },
        label,
        connect: () => openSourceStream({ ...this.openOpts(), shardUid, compression: this.compression }),
        probeConnect: () =>
          openSourceStream({ ...this.openOpts(), shardUid, compression: 0, countIngress: false }),
        username: this.uri.admin ? undefined : this.uri.username,
        password: this.uri.admin ? undefined : this.uri.password,
        destination: this.owner.destination,
        targetRdbVersion: this.owner.targetRdbVersion,
        destinationVersion: this.owner.destinationVersion,
        log: this.owner.log,
        onTrouble: (r) => this.onTrouble(r),
        flushBarrier: (send, mine) => this.flushes.arrive(send, mine),
        onFullSyncFailed: (err, ev) => this.owner.fullSyncFailed(this, label, err, ev),
        onFullSyncLoaded: () => this.owner.fullSyncLoaded(this, label),
      });
      this.runners.push(runner);
      this.owner.guards.set(linkKey, { clock: runner.clock, guard: runner.expiryGuard });
      runner.start();
    }
  }

  private openOpts() {
    return { uri: this.uri, tls: this.tls, faults: this.faults, counters: this.counters };
  }

  private onTrouble(r: Trouble): void {
    if (this.closed) return;
    if (r.kind === 'stop') this.owner.stop(this, r.stop);
    else if (r.kind === 'resume') this.owner.resumeFromCheckpoints(r.reason);
    else this.owner.fullResync(r.reason);
  }

  /** A reset or new partition: drop the open connections (the links reconnect and resume). */
  dropConnections(): void {
    this.faults.dropAll();
  }

  async close(settle = false): Promise<void> {
    this.closed = true;
    clearTimeout(this.resolveTimer);
    this.flushes.abort();
    await Promise.all(this.runners.map((r) => r.stop(settle)));
  }

  /** The status report() gives now, from the links' phases alone (cheap enough to poll). */
  currentStatus(): SourceStatus {
    return sourceStatusFromLinks(
      this.runners.map((r) => ({ phase: r.state, everSynced: r.everSynced })),
      this.discoveryFailed,
    );
  }

  report(): SourceReport {
    let size = 0;
    let sizeKnown = this.runners.length > 0;
    let transferred = 0;
    let keysLoaded = 0;
    let keysTotal: number | undefined = 0;
    let lag = 0;
    let lastUpdate: string | null = null;
    let full = 0;
    let partial = 0;
    let otherKeys = 0;
    let otherCommands = 0;
    let rejected = 0;
    let lastRejected = '';
    const samples: number[] = [];
    let linkError = '';
    let linkErrorCode = '';
    for (const r of this.runners) {
      const st = r.state;
      const l = r.link;
      transferred += l.rdbTransferred;
      // A diskless source sends its RDB without a size: the bytes say nothing about progress.
      if (l.rdbSize !== undefined) size += l.rdbSize;
      else if (r.everSynced) size += l.rdbTransferred;
      else sizeKnown = false;
      keysLoaded += r.keysLoaded;
      if (r.everSynced) {
        if (keysTotal !== undefined) keysTotal += r.keysLoaded;
      } else if (r.keysTotal === undefined || keysTotal === undefined) keysTotal = undefined;
      else keysTotal += Math.max(r.keysTotal, r.keysLoaded);
      if (l.lastError && st !== 'streaming') {
        linkError = l.lastError.message;
        linkErrorCode = l.lastError.code;
      }
      lag = Math.max(lag, r.lag.lag());
      if (r.lastUpdate && (!lastUpdate || r.lastUpdate > lastUpdate)) lastUpdate = r.lastUpdate;
      full += r.fullSyncs;
      partial += r.partialSyncs;
      otherKeys += r.otherDbKeys;
      otherCommands += r.otherDbCommands;
      rejected += r.rejectedWrites;
      if (r.lastRejectedWrite) lastRejected = r.lastRejectedWrite;
      samples.push(...r.lag.recentLags().slice(-32));
    }
    const carried = this.owner.carried.get(this.uid);
    if (carried) {
      full += carried.full;
      partial += carried.partial;
    }
    this.status = this.currentStatus();
    const inSync = this.status === 'in-sync';
    let lastError = this.lastError || (inSync ? '' : linkError);
    let lastErrorCode = this.lastError ? this.lastErrorCode : inSync ? '' : linkErrorCode;
    if (!lastError && rejected > 0) {
      lastError = `${rejected} replicated write${rejected === 1 ? '' : 's'} refused by the destination; last: ${lastRejected}`;
      lastErrorCode = errorRule('rejected-write').code;
    }
    return {
      uid: this.uid,
      status: this.status,
      rdb_size: sizeKnown ? size : 0,
      rdb_transferred: transferred,
      lag: inSync ? lag : 0,
      last_update: lastUpdate,
      last_error: lastError,
      last_error_code: lastErrorCode,
      ingress_bytes: this.counters.ingressBytes,
      ingress_bytes_decompressed: this.counters.ingressBytesDecompressed,
      full_syncs: full,
      partial_syncs: partial,
      other_db_keys: otherKeys,
      other_db_commands: otherCommands,
      lag_samples: samples,
      rejected_writes: rejected,
      keys_loaded: keysLoaded,
      keys_total: sizeKnown ? undefined : keysTotal,
      resume_mode: this.resumeMode,
      resume_reason: this.resumeReason,
    };
  }
}

export interface ReplicaOfOptions {
  log: Logger;
  tlsCert?: string;
  tlsKey?: string;
  /** The cluster's proxy certificate (PEM), pinned when the destination requires TLS. */
  proxyCert?: string;
  /** Tell the manager the sync needs a person. */
  onStop(sourceUid: number, stop: StopReason, epoch: number): void;
}

/** Per link key: where it resumes (see dest-shards.ts). */
export interface ResumePlan {
  links: Map<string, import('./link-runner.js').ResumeFrom>;
}

/** How long a resume waits for every destination shard to be active (a failover under way). */
const RESUME_WAIT_ACTIVE_MS = 30_000;

/** Failed full syncs of one link, with the source to blame each time, before the sync stops. */
const FULL_SYNC_FAILURES_TO_STOP = 3;

export class ReplicaOfSync {
  private cfg?: SyncerRuntimeConfig;
  private sources: SourceSync[] = [];
  /** Bumped by every (re)start; work of an older generation stops touching anything. */
  private generation = 0;
  private restarting?: Promise<void>;
  private pendingRestart?: string;
  /** The pending restart may resume from the checkpoints (false: a flush and full sync). */
  private pendingResume = false;
  private destPids = new Map<number, number>();
  private destMasters = '';
  /** The destination's command table, read once (routing of the stream to its shards). */
  private table?: Promise<CommandTable>;
  /** How the sync last (re)started: for the sources' reports. */
  private lastStart: { mode: ResumeMode; reason: string } = { mode: 'full', reason: '' };
  /** Full and partial syncs of links closed by a restart of this epoch (the report's totals go on). */
  readonly carried = new Map<number, { full: number; partial: number }>();
  /** Each link's applied offset when its links were last closed by a restart (the resume plan's log). */
  private readonly appliedBefore = new Map<string, number>();
  /** Per link (source uid + label): consecutive failed full syncs the source is to blame for. */
  private readonly fullSyncFailures = new Map<string, number>();
  targetRdbVersion = 10;
  destinationVersion = 'unknown';
  readonly log: Logger;

  constructor(private readonly opts: ReplicaOfOptions) {
    this.log = opts.log;
  }

  get destination(): DestinationTarget {
    const d = this.cfg!.destination;
    return {
      host: d.host,
      port: d.port,
      password: d.password,
      tls: d.tls ? { ca: this.opts.proxyCert, cert: this.opts.tlsCert, key: this.opts.tlsKey } : undefined,
    };
  }

  pipeOptions(linkKey: string): PipeOptions {
    const cfg = this.cfg!;
    return {
      bdbUid: cfg.bdb_uid,
      epoch: cfg.epoch,
      adminPassword: cfg.destination.admin_password ?? '',
      linkKey,
      shards: this.destShards(),
      shardKeyRegex: cfg.destination.shard_key_regex,
      commandTable: () => {
        if (!this.table) {
          const first = this.destShards()[0];
          this.table = first
            ? readCommandTable(this.destination, cfg.destination.admin_password ?? '', first.uid)
            : Promise.reject(new MinirsError(ErrorCodes.CONNECTION, 'the destination has no shards yet'));
          this.table.catch(() => (this.table = undefined));
        }
        return this.table;
      },
    };
  }

  private destShards(): DestShard[] {
    // No admin password: the destination is one plain redis-server (tests), one "shard".
    if (!this.cfg!.destination.admin_password) return [{ uid: -1, slot_start: 0, slot_end: 16383 }];
    return [...this.cfg!.destination.shards]
      .sort((a, b) => a.slot_start - b.slot_start)
      .map((s) => ({ uid: s.uid, slot_start: s.slot_start, slot_end: s.slot_end }));
  }

  /** A new config from the manager. */
  apply(cfg: SyncerRuntimeConfig): void {
    const prev = this.cfg;
    this.cfg = cfg;
    if (prev && prev.epoch !== cfg.epoch) {
      this.fullSyncFailures.clear();
      this.carried.clear();
    }
    if (!syncRuns(cfg.replica_sync)) {
      // Also mid flush: a restart in flight sees the new generation and starts no link.
      this.generation++;
      this.pendingRestart = undefined;
      if (this.sources.length || this.restarting) {
        this.log.info({ replica_sync: cfg.replica_sync }, 'replica sync not enabled; closing links');
        void this.closeAll();
      }
      return;
    }
    for (const s of this.sources) if (s.faults.update(cfg.faults)) s.dropConnections();
    // A destination shard with a new redis-server restarted empty: everything must be reloaded.
    let destRestarted = false;
    for (const sh of cfg.destination.shards) {
      const before = this.destPids.get(sh.uid);
      if (sh.redis_pid && before && before !== sh.redis_pid) destRestarted = true;
      if (sh.redis_pid) this.destPids.set(sh.uid, sh.redis_pid);
    }
    // A destination shard that failed over: its new master (a slave) may lag what the syncer
    // wrote; its checkpoints say exactly what it holds.
    const masters = cfg.destination.shards
      .map((s) => `${s.slot_start}:${s.uid}`)
      .sort()
      .join(',');
    const failedOver = this.destMasters !== '' && masters !== this.destMasters;
    this.destMasters = masters;
    if (!prev) {
      this.restart('the syncer started: resuming from the destination checkpoints', true);
    } else if (prev.epoch !== cfg.epoch) {
      this.restart(`epoch ${cfg.epoch}: full sync of ${cfg.sources.length} source(s)`);
    } else if (prev.replica_sync !== 'enabled' || (this.sources.length === 0 && !this.restarting)) {
      this.restart(`replica sync ${cfg.replica_sync}: resuming from the destination checkpoints`, true);
    } else if (failedOver) {
      this.restart('a destination shard failed over: resuming from its checkpoints', true);
    } else if (destRestarted) {
      this.restart('a destination shard restarted: resuming from its checkpoints', true);
    }
  }

  /** The destination's state is known from its checkpoints: resume every link from them. */
  resumeFromCheckpoints(reason: string): void {
    this.restart(`${reason}: resuming from the destination checkpoints`, true);
  }

  /**
   * Per link key: the expiry guard and source clock of its latest runner in this process, handed
   * to the next runner of an exact resume so it keeps guarding the expiries already written.
   */
  readonly guards = new Map<
    string,
    { clock: import('./stream-expiry.js').SourceClock; guard: import('./expiry-guard.js').ExpiryGuard }
  >();

  /** The destination is being flushed now (tests, status). */
  flushing = false;
  /** The destination's checkpoints are being read now (tests, status). */
  readingCheckpoints = false;

  /** Resolves when no restart (close, flush, start) is in flight. */
  async idle(): Promise<void> {
    while (this.restarting) await this.restarting;
  }

  fullResync(reason: string): void {
    this.restart(`full resync of every source: ${reason}`);
  }

  stop(source: SourceSync, stop: StopReason): void {
    source.lastError = stop.error;
    source.lastErrorCode = stop.code;
    this.log.error(
      { source: source.uid, code: stop.code, class: stop.class, error: stop.error },
      'sync stopped: needs a person',
    );
    this.opts.onStop(source.uid, stop, this.cfg?.epoch ?? 0);
    void this.closeAll(false);
  }

  /**
   * A link's full sync failed. Only attempts the source is to blame for count (it could not
   * fork, it closed us for its replica output buffer limit, it is out of memory): faults of the
   * network or of processes in between never stop the sync.
   */
  fullSyncFailed(source: SourceSync, link: string, err: MinirsError, ev: FullSyncEvidence): void {
    const key = `${source.uid}:${link}`;
    const causes: string[] = [];
    if (ev.bgsaveFailed)
      causes.push('it could not produce its RDB (BGSAVE failed: fork failure or a full disk)');
    if (ev.outputBufferLimit) {
      const { hard, soft, written } = ev.outputBufferLimit;
      causes.push(
        `it wrote ${written} bytes during the full sync, past its \`client-output-buffer-limit replica ${hard} ${soft}\`, and closed the replica connection`,
      );
    }
    if (ev.oom)
      causes.push(`it is out of memory (used_memory ${ev.usedMemory} >= maxmemory ${ev.maxmemory})`);
    if (causes.length === 0) {
      this.log.warn({ link, err: err.message }, "full sync failed (not the source's doing); starting over");
      return;
    }
    const n = (this.fullSyncFailures.get(key) ?? 0) + 1;
    this.fullSyncFailures.set(key, n);
    this.log.warn({ link, attempt: n, causes, err: err.message }, 'full sync failed: the source is to blame');
    if (n < FULL_SYNC_FAILURES_TO_STOP) return;
    const rule = errorRule(ev.oom && causes.length === 1 ? 'oom' : 'full-sync-failing');
    this.stop(source, {
      code: rule.code,
      class: rule.class,
      error: `${link}: the full sync failed ${n} times in a row because ${causes.join('; ')}. ${rule.remedy}`,
    });
  }

  fullSyncLoaded(source: SourceSync, link: string): void {
    this.fullSyncFailures.delete(`${source.uid}:${link}`);
  }

  /**
   * `resume`: the links may start from the destination's checkpoints (exact); when they cannot
   * (no admin password, a shard without checkpoints, another epoch or history), or a full
   * resync is pending too, it is a flush and a full sync of every source.
   */
  private restart(reason: string, resume = false): void {
    // A pending full resync wins over a resume.
    if (!this.pendingRestart) {
      this.pendingRestart = reason;
      this.pendingResume = resume;
    } else if (!resume) {
      this.pendingRestart = reason;
      this.pendingResume = false;
    }
    if (this.restarting) return;
    this.restarting = (async () => {
      while (this.pendingRestart) {
        let why = this.pendingRestart;
        const tryResume = this.pendingResume;
        this.pendingRestart = undefined;
        this.pendingResume = false;
        const gen = ++this.generation;
        this.log.info(
          { reason: why, resume: tryResume },
          tryResume ? 'resuming the sync' : 'starting full sync',
        );
        // Where the running links were: a resume from below that replays what a destination
        // shard lost (a failover to a slave that lagged).
        const appliedBefore = this.appliedBefore;
        for (const src of this.sources) {
          const c = this.carried.get(src.uid) ?? { full: 0, partial: 0 };
          for (const r of src.runners) {
            appliedBefore.set(r.linkKey, r.link.appliedOffset);
            c.full += r.fullSyncs;
            c.partial += r.partialSyncs;
          }
          this.carried.set(src.uid, c);
        }
        // Settled: no write of the old links may land after the flush (or the checkpoint read).
        await this.closeAll(true, true);
        if (gen !== this.generation || !syncRuns(this.cfg?.replica_sync ?? 'disabled')) continue;
        if (tryResume) {
          const r = await this.loadPlan(gen);
          if (gen !== this.generation || this.pendingRestart) continue;
          if (r && 'plan' in r) {
            for (const [link, from] of r.plan.links)
              this.log.info(
                {
                  link,
                  applied_before: appliedBefore.get(link),
                  resume_from: from.position.offset,
                  shard_checkpoints: from.skipUpTo,
                },
                'resume plan',
              );
            this.lastStart = { mode: 'exact', reason: why };
            this.startSources(r.plan);
            continue;
          }
          if (!r) continue;
          why = `${why}; not possible: ${r.full}`;
          this.log.info({ reason: why }, 'starting full sync');
        }
        // The destination is emptied: nothing the rebuilt guard holds is left.
        this.dropRebuilt();
        const ok = await this.flushDestination(gen);
        // A pause or stop that arrived during the flush bumped the generation: start nothing.
        if (!ok || gen !== this.generation || this.pendingRestart) continue;
        if (!syncRuns(this.cfg?.replica_sync ?? 'disabled')) continue;
        this.lastStart = {
          mode: 'full',
          reason: `${why}. The destination was emptied first and is reloaded meanwhile: a full resync does not keep the old data readable (a SWAPDB per shard would not be atomic across shards and needs twice the memory; see the syncer README)`,
        };
        this.startSources();
      }
    })().finally(() => (this.restarting = undefined));
  }

  /**
   * Reads every destination shard's checkpoints: a plan to resume each link from them, or why
   * only a full resync is exact; undefined when superseded.
   */
  private async loadPlan(gen: number): Promise<{ plan: ResumePlan } | { full: string } | undefined> {
    const waitUntil = Date.now() + RESUME_WAIT_ACTIVE_MS;
    for (let attempt = 0; gen === this.generation; attempt++) {
      const cfg = this.cfg!;
      // A failover or restart under way: the shard about to serve is the one to read.
      if (cfg.destination.shards.some((s) => s.status !== 'active') && Date.now() < waitUntil) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const shards = this.destShards();
      this.readingCheckpoints = true;
      try {
        const cps = await readCheckpoints(
          this.destination,
          cfg.destination.admin_password ?? '',
          cfg.bdb_uid,
          shards,
        );
        this.table = Promise.resolve(cps.table);
        const r = this.planFrom(cfg, shards, cps.perShard);
        if (!('plan' in r)) return r;
        // While no syncer ran, the destination went on expiring keys at the deadlines it was
        // given, while the source may have extended or persisted them (the stream that says so
        // is what the resume is about to replay): the key would be gone, and a later APPEND or
        // LPUSH would rebuild it as its last write alone (checker seeds 22 and 35). A syncer that
        // ran here hands its links' expiry guards on (this.guards); a new process has none,
        // so it resumes exactly only where no key has a TTL and none has expired.
        const unguarded = [...r.plan.links.keys()].filter((k) => !this.guards.has(k));
        if (unguarded.length > 0 && cps.expiry.some((e) => e.expires > 0 || e.expiredKeys > 0)) {
          const why = await this.rebuildExpiryGuard(cfg, shards, cps, unguarded, gen);
          if (why) return { full: why };
        }
        return r;
      } catch (err) {
        const e = err as MinirsError;
        if (e.code === ErrorCodes.AUTH) return { full: e.message };
        const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;
        this.log.warn({ err: e.message, delay_ms: delay }, 'cannot read the destination checkpoints yet');
        await new Promise((r) => setTimeout(r, delay));
      } finally {
        this.readingCheckpoints = false;
      }
    }
    return undefined;
  }

  /**
   * A new process over keys with a TTL (ttl-rebuild.ts): judges from the stamps whether a key
   * the killed syncer guarded can have expired meanwhile, then scans the shards holding keys
   * with a TTL into a RebuiltGuard. Returns why only a full resync is exact, or undefined.
   */
  private async rebuildExpiryGuard(
    cfg: SyncerRuntimeConfig,
    shards: DestShard[],
    cps: DestinationCheckpoints,
    unguarded: string[],
    gen: number,
  ): Promise<string | undefined> {
    const judge = (s: number, counters: ShardCounters | undefined): string | undefined => {
      const e = cps.expiry[s]!;
      const uid = shards[s]!.uid;
      const stamps = cps.stamps[s]!;
      const writers = stamps.has(REBUILT_FIELD) ? [...unguarded, REBUILT_FIELD] : unguarded;
      const now = Date.now();
      for (const w of writers) {
        const st = parseStamp(stamps.get(w));
        const what = `destination shard ${uid} holds ${e.expires} key(s) with a TTL and has expired ${e.expiredKeys}`;
        if (!st)
          return `${what}, without the expiry guard's stamp of ${w === REBUILT_FIELD ? 'the rebuilt guard' : `link ${w}`}: while no syncer ran it may have expired a key the source kept alive, so only a full resync is exact`;
        if (!stampHolds(st, now, counters)) {
          const gone =
            counters && counters.runId === st.runId && st.expired >= 0 ? counters.expired - st.expired : '?';
          return `${what}: no syncer guarded its expiries for ${now - st.deadline + GUARD_MARGIN_MS} ms (more than the guard's ${GUARD_MARGIN_MS} ms cushion) and it expired ${gone} key(s) meanwhile, maybe one the source kept alive, so only a full resync is exact`;
        }
      }
      return undefined;
    };
    const evidence = shards.map((_, s) => cps.expiry[s]!.expires > 0 || cps.expiry[s]!.expiredKeys > 0);
    for (let s = 0; s < shards.length; s++) {
      const why = evidence[s] ? judge(s, cps.counters[s]) : undefined;
      if (why) return why;
    }
    this.dropRebuilt();
    const adminPassword = cfg.destination.admin_password ?? '';
    const rebuilt = new RebuiltGuard({
      shards: shards.length,
      open: (s) => openShardPipe(this.destination, adminPassword, shards[s]!.uid, undefined),
      links: () =>
        this.sources.flatMap((src) =>
          src.runners.map((r) => ({ guard: r.expiryGuard, applied: r.link.appliedOffset })),
        ),
      log: this.log,
      onDone: () => {
        if (this.rebuilt === rebuilt) this.rebuilt = undefined;
      },
    });
    const started = Date.now();
    let ok = true;
    try {
      for (let s = 0; s < shards.length && ok; s++) {
        if (cps.expiry[s]!.expires === 0) continue;
        ok = await rebuilt.scan(s, () => gen === this.generation && Date.now() - started < SCAN_MAX_MS);
      }
      // Keys may have expired between the read of the stamps and their extension.
      for (let s = 0; s < shards.length && ok; s++) {
        const why = evidence[s] ? judge(s, await rebuilt.counters(s)) : undefined;
        if (why) {
          rebuilt.dispose();
          return why;
        }
      }
    } catch (err) {
      rebuilt.dispose();
      throw err;
    }
    if (!ok) {
      rebuilt.dispose();
      if (gen !== this.generation) return 'superseded';
      return rebuilt.guards.some((g) => g.untracked > 0)
        ? `the destination holds more keys with a TTL than the rebuilt expiry guard tracks (1,000,000), so only a full resync is exact`
        : `scanning the destination's keys with a TTL took more than ${SCAN_MAX_MS} ms (${rebuilt.keys} found), so only a full resync is exact`;
    }
    this.log.info(
      { keys: rebuilt.keys, ms: Date.now() - started },
      'expiry guard rebuilt from the destination',
    );
    this.rebuilt = rebuilt;
    rebuilt.start();
    return undefined;
  }

  /** The keys a new process found with a TTL on the destination, guarded (ttl-rebuild.ts). */
  private rebuilt?: RebuiltGuard;

  private dropRebuilt(): void {
    this.rebuilt?.dispose();
    this.rebuilt = undefined;
  }

  private planFrom(
    cfg: SyncerRuntimeConfig,
    shards: DestShard[],
    perShard: Map<string, string>[],
  ): { plan: ResumePlan } | { full: string } {
    const keys = new Set<string>();
    for (const m of perShard) for (const k of m.keys()) keys.add(k);
    if (keys.size === 0) return { full: 'the destination holds no checkpoint' };
    const links = new Map<string, import('./link-runner.js').ResumeFrom>();
    for (const k of keys) {
      const offsets: number[] = [];
      let replid = '';
      let min = -1;
      let minDb = 0;
      for (const [i, m] of perShard.entries()) {
        const raw = m.get(k);
        const c = raw === undefined ? undefined : parseCheckpoint(raw);
        if (!c)
          return {
            full: `destination shard ${shards[i]!.uid} has no checkpoint of link ${k} (restarted empty, or a full sync did not finish)`,
          };
        if (c.epoch !== cfg.epoch)
          return { full: `the checkpoints are of epoch ${c.epoch}, the sync is at ${cfg.epoch}` };
        if (replid && c.replid !== replid)
          return { full: `link ${k}'s checkpoints name two source histories` };
        replid = c.replid;
        offsets.push(c.offset);
        if (min < 0 || c.offset < min) {
          min = c.offset;
          minDb = c.db;
        }
      }
      links.set(k, { position: { replid, offset: min, db: minDb }, skipUpTo: offsets });
    }
    const uids = new Set([...keys].map((k) => Number(k.split(':')[0])));
    for (const s of cfg.sources)
      if (!uids.has(s.uid)) return { full: `source ${s.uid} has no checkpoint on the destination` };
    for (const u of uids)
      if (!cfg.sources.some((s) => s.uid === u))
        return { full: `the checkpoints name source ${u}, no longer a source` };
    return { plan: { links } };
  }

  /** Empties the destination (all shards, through the proxy); retries until it works or is superseded. */
  private async flushDestination(gen: number): Promise<boolean> {
    this.flushing = true;
    try {
      return await this.flushDestinationOnce(gen);
    } finally {
      this.flushing = false;
    }
  }

  private async flushDestinationOnce(gen: number): Promise<boolean> {
    for (let attempt = 0; gen === this.generation; attempt++) {
      const d = new DestinationClient(this.destination);
      try {
        await d.connect();
        const info = await d.call(['INFO', 'server']);
        const ver = /redis_version:(\d+\.\d+(?:\.\d+)?)/.exec(info.frame.str())?.[1];
        if (ver) {
          this.targetRdbVersion = rdbVersionForRedis(ver);
          this.destinationVersion = ver;
        }
        const r = await d.call(['FLUSHALL']);
        if (r.kind === 'error') throw new MinirsError(ErrorCodes.CONNECTION, `FLUSHALL: ${r.error}`);
        return true;
      } catch (err) {
        const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;
        this.log.warn({ err: (err as Error).message, delay_ms: delay }, 'cannot flush the destination yet');
        for (const s of this.sources) s.lastError = `destination not reachable: ${(err as Error).message}`;
        await new Promise((r) => setTimeout(r, delay));
      } finally {
        d.close();
      }
    }
    return false;
  }

  private startSources(plan?: ResumePlan): void {
    const cfg = this.cfg!;
    this.sources = cfg.sources.map((s) => {
      const uri = parseSourceUri(s.uri);
      const tls =
        s.encryption || uri.tls
          ? {
              ca: s.server_cert,
              cert: s.client_cert ?? this.opts.tlsCert,
              key: s.client_key ?? this.opts.tlsKey,
              servername: s.replication_tls_sni,
            }
          : undefined;
      const src = new SourceSync(s.uid, uri, s.uri, s.compression, tls, this, plan);
      src.faults.update(cfg.faults);
      src.resumeMode = this.lastStart.mode;
      src.resumeReason = this.lastStart.reason;
      return src;
    });
    for (const s of this.sources) void s.start();
  }

  /** `settle`: a restart's (the rebuilt expiry guard stays for the links it starts next). */
  async closeAll(forget = true, settle = false): Promise<void> {
    if (!settle) this.dropRebuilt();
    const old = this.sources;
    if (forget) this.sources = [];
    await Promise.all(old.map((s) => s.close(settle)));
  }

  /** Changes when any source's status does: the process then pushes a report at once. */
  statusSignature(): string {
    return `${this.cfg?.epoch ?? 0}:${this.sources.map((s) => s.currentStatus()).join(',')}`;
  }

  report(): SyncerReport {
    return { epoch: this.cfg?.epoch ?? 0, sources: this.sources.map((s) => s.report()) };
  }
}
