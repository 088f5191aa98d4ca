import {
  ErrorCodes,
  type Logger,
  maskUri,
  MinirsError,
  parseSourceUri,
  type SourceReport,
  type SourceStatus,
  type SourceUri,
  type SyncerReport,
  type SyncerRuntimeConfig,
} from '@minirs/common';
import { rdbVersionForRedis } from '@minirs/rdb';
import { DestinationClient } from './destination.js';
import { LinkFaultState } from './link-faults.js';
import { LinkRunner, type StopReason } from './link-runner.js';
import {
  type Counters,
  openSourceStream,
  parseShardList,
  type SourceTls,
  sourceCommand,
} from './source-connect.js';

/**
 * The Replica Of state machine of one destination database.
 *
 *   config(enabled, epoch N) --> flush destination --> every source: full sync --> stream
 *   a source link drops       --> that link reconnects, PSYNC replid offset+1 (partial)
 *   partial refused / destination lost or restarted empty --> flush, full sync of ALL sources
 *   auth / CROSSSLOT / OOM    --> report `sync-stopped`; the manager sets replica_sync=stopped
 *   config(stopped|paused|disabled) --> close every link
 *
 * Per-source order is kept (one link per source shard, one destination connection per link);
 * sources interleave in arrival order.
 */

const RETRY_MS = [200, 500, 1000, 2000, 5000];

class SourceSync {
  readonly counters: Counters = { ingressBytes: 0, ingressBytesDecompressed: 0 };
  readonly faults: LinkFaultState;
  readonly runners: LinkRunner[] = [];
  status: SourceStatus = 'syncing';
  lastError = '';
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
  ) {
    this.faults = new LinkFaultState(uid);
  }

  get label(): string {
    return `source ${this.uid} (${maskUri(this.rawUri.replace(/^[A-Za-z0-9-]+:(?=rediss?:)/, ''))})`;
  }

  /** Discover the source's shards (a minirs db through its proxy), then start a link per shard. */
  async start(): Promise<void> {
    if (this.closed) return;
    let shards: { uid: number }[] | undefined;
    if (this.uri.admin) {
      try {
        const [raw] = await sourceCommand(this.openOpts(), [['MINIRS.SHARDS']]);
        shards = parseShardList(raw!);
      } catch (err) {
        const e = err as MinirsError & { retryable?: boolean };
        if (this.closed) return;
        if (e.code === ErrorCodes.AUTH || e.code === ErrorCodes.OOM || e.code === ErrorCodes.PROTOCOL) {
          this.owner.stop(this, `${this.label}: ${e.message}`);
          return;
        }
        this.lastError = e.message;
        this.status = 'out-of-sync';
        const delay = RETRY_MS[Math.min(this.attempts++, RETRY_MS.length - 1)]!;
        this.resolveTimer = setTimeout(() => void this.start(), delay);
        return;
      }
    }
    this.attempts = 0;
    const list = shards ?? [{ uid: -1 }];
    for (const sh of list) {
      const shardUid = sh.uid >= 0 ? sh.uid : undefined;
      const runner = new LinkRunner({
        label: shardUid !== undefined ? `${this.label} shard ${shardUid}` : this.label,
        connect: () => openSourceStream({ ...this.openOpts(), shardUid, compression: this.compression }),
        username: this.uri.admin ? undefined : this.uri.username,
        password: this.uri.admin ? undefined : this.uri.password,
        destination: this.owner.destination,
        targetRdbVersion: this.owner.targetRdbVersion,
        log: this.owner.log,
        onTrouble: (r) => this.onTrouble(r),
      });
      this.runners.push(runner);
      runner.start();
    }
  }

  private openOpts() {
    return { uri: this.uri, tls: this.tls, faults: this.faults, counters: this.counters };
  }

  private onTrouble(r: StopReason): void {
    if (this.closed) return;
    if (r.kind === 'stop') this.owner.stop(this, r.error);
    else this.owner.fullResync(r.reason);
  }

  /** A reset or new partition: drop the open connections (the links reconnect and resume). */
  dropConnections(): void {
    this.faults.dropAll();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.resolveTimer);
    await Promise.all(this.runners.map((r) => r.stop()));
  }

  report(): SourceReport {
    let size = 0;
    let transferred = 0;
    let anyFull = false;
    let anyDown = false;
    let allStreaming = this.runners.length > 0;
    let lag = 0;
    let lastUpdate: string | null = null;
    let full = 0;
    let partial = 0;
    let otherKeys = 0;
    let otherCommands = 0;
    const samples: number[] = [];
    let linkError = '';
    // Links whose RDB size is not known yet count as the average known one, so a sharded
    // source's progress does not jump backwards when its next shard starts sending.
    const known = this.runners.map((r) => r.link.rdbSize).filter((x): x is number => x !== undefined);
    const avg = known.length ? known.reduce((a, b) => a + b, 0) / known.length : 0;
    for (const r of this.runners) {
      const st = r.state;
      const l = r.link;
      transferred += l.rdbTransferred;
      size += l.rdbSize ?? Math.max(l.rdbTransferred, r.everSynced ? l.rdbTransferred : Math.round(avg));
      if (st === 'full-sync') anyFull = true;
      if (st === 'waiting-to-retry' || (r.everSynced && st !== 'streaming')) anyDown = true;
      if (st !== 'streaming') allStreaming = false;
      if (l.lastError && st !== 'streaming') linkError = l.lastError.message;
      lag = Math.max(lag, r.lag.lag());
      if (r.lastUpdate && (!lastUpdate || r.lastUpdate > lastUpdate)) lastUpdate = r.lastUpdate;
      full += r.fullSyncs;
      partial += r.partialSyncs;
      otherKeys += r.otherDbKeys;
      otherCommands += r.otherDbCommands;
      samples.push(...r.lag.recentLags().slice(-32));
    }
    if (this.status !== 'out-of-sync' || this.runners.length > 0) {
      this.status = allStreaming
        ? 'in-sync'
        : anyDown
          ? 'out-of-sync'
          : anyFull
            ? 'syncing'
            : this.runners.some((r) => r.everSynced)
              ? 'out-of-sync'
              : 'syncing';
    }
    return {
      uid: this.uid,
      status: this.status,
      rdb_size: size,
      rdb_transferred: transferred,
      lag: this.status === 'in-sync' ? lag : 0,
      last_update: lastUpdate,
      last_error: this.lastError || (this.status === 'in-sync' ? '' : linkError),
      ingress_bytes: this.counters.ingressBytes,
      ingress_bytes_decompressed: this.counters.ingressBytesDecompressed,
      full_syncs: full,
      partial_syncs: partial,
      other_db_keys: otherKeys,
      other_db_commands: otherCommands,
      lag_samples: samples,
    };
  }
}

export interface ReplicaOfOptions {
  log: Logger;
  tlsCert?: string;
  tlsKey?: string;
  /** Tell the manager the sync needs a person. */
  onStop(sourceUid: number, error: string, epoch: number): void;
}

export class ReplicaOfSync {
  private cfg?: SyncerRuntimeConfig;
  private sources: SourceSync[] = [];
  /** Bumped by every (re)start; work of an older generation stops touching anything. */
  private generation = 0;
  private restarting?: Promise<void>;
  private pendingRestart?: string;
  private destPids = new Map<number, number>();
  targetRdbVersion = 10;
  readonly log: Logger;

  constructor(private readonly opts: ReplicaOfOptions) {
    this.log = opts.log;
  }

  get destination() {
    const d = this.cfg!.destination;
    return { host: d.host, port: d.port, password: d.password };
  }

  /** A new config from the manager. */
  apply(cfg: SyncerRuntimeConfig): void {
    const prev = this.cfg;
    this.cfg = cfg;
    if (cfg.replica_sync !== 'enabled') {
      if (this.sources.length) {
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
    if (!prev || prev.epoch !== cfg.epoch || prev.replica_sync !== 'enabled' || this.sources.length === 0) {
      this.restart(`epoch ${cfg.epoch}: full sync of ${cfg.sources.length} source(s)`);
    } else if (destRestarted) {
      this.restart('a destination shard restarted empty');
    }
  }

  fullResync(reason: string): void {
    this.restart(`full resync of every source: ${reason}`);
  }

  stop(source: SourceSync, error: string): void {
    source.lastError = error;
    this.log.error({ source: source.uid, error }, 'sync stopped: needs a person');
    this.opts.onStop(source.uid, error, this.cfg?.epoch ?? 0);
    void this.closeAll(false);
  }

  private restart(reason: string): void {
    this.pendingRestart = reason;
    if (this.restarting) return;
    this.restarting = (async () => {
      while (this.pendingRestart) {
        const why = this.pendingRestart;
        this.pendingRestart = undefined;
        const gen = ++this.generation;
        this.log.info({ reason: why }, 'starting full sync');
        await this.closeAll(true);
        if (gen !== this.generation || this.cfg?.replica_sync !== 'enabled') continue;
        const ok = await this.flushDestination(gen);
        if (!ok || gen !== this.generation || this.pendingRestart) continue;
        this.startSources();
      }
    })().finally(() => (this.restarting = undefined));
  }

  /** Empties the destination (all shards, through the proxy); retries until it works or is superseded. */
  private async flushDestination(gen: number): Promise<boolean> {
    for (let attempt = 0; gen === this.generation; attempt++) {
      const d = new DestinationClient(this.destination);
      try {
        await d.connect();
        const info = await d.call(['INFO', 'server']);
        const ver = /redis_version:(\d+\.\d+)/.exec(info.frame.str())?.[1];
        if (ver) this.targetRdbVersion = rdbVersionForRedis(ver);
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

  private startSources(): void {
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
      const src = new SourceSync(s.uid, uri, s.uri, s.compression, tls, this);
      src.faults.update(cfg.faults);
      return src;
    });
    for (const s of this.sources) void s.start();
  }

  async closeAll(forget = true): Promise<void> {
    const old = this.sources;
    if (forget) this.sources = [];
    await Promise.all(old.map((s) => s.close()));
  }

  report(): SyncerReport {
    return { epoch: this.cfg?.epoch ?? 0, sources: this.sources.map((s) => s.report()) };
  }
}
