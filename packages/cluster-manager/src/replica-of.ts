import { join } from 'node:path';
import {
  type BdbState,
  canTransition,
  errorRule,
  SYNCER_REPORT_STALE_MS,
  type SyncerProcessConfig,
  type SyncerReport,
  type SyncerRuntimeConfig,
  type SyncerUpMessage,
  syncRuns,
} from '@minirs/common';
import type { ClusterManager } from './manager.js';
import type { ChildHooks } from './supervisor.js';

/**
 * Replica Of at run time: one syncer per destination bdb with sources. Its config (destination
 * shards, sources, injected link faults), its start, reconfiguration and stop as the bdb's
 * settings change, its reports merged into the bdb's `replica_sources`, a stop it reports, and a
 * syncer that stops reporting. Validating a change of the settings is replica.ts.
 */
export class ReplicaOf {
  private readonly syncerReports = new Map<number, SyncerReport>();
  /** When each syncer last reported (ms): a syncer that stops reporting is noticed (watchSyncers). */
  private readonly syncerReportAt = new Map<number, number>();
  private syncerWatch?: NodeJS.Timeout;

  constructor(private readonly mgr: ClusterManager) {}

  /** Start watching for syncers that stop reporting. */
  start(): void {
    this.syncerWatch = setInterval(() => this.watchSyncers(), 500);
    this.syncerWatch.unref();
  }

  stop(): void {
    clearInterval(this.syncerWatch);
  }

  syncerHooks(id: number): ChildHooks<'syncer'> {
    return {
      onConnected: () => {
        this.syncerReportAt.set(id, Date.now());
        this.pushSyncerConfig(id);
      },
      onMessage: (_child, msg) => this.onSyncerMessage(id, msg),
      onExit: (_child, info) => {
        this.syncerReportAt.delete(id);
        // A restarted syncer starts over with a full sync: say so now, not when it reports.
        const b = this.mgr.bdb(id);
        if (b && b.replica_sync === 'enabled') {
          b.replica_sources = b.replica_sources.map((src) => ({
            ...src,
            status: 'syncing',
            lag: 0,
            rdb_transferred: 0,
            last_error: `syncer exited (${info.signal ?? `code ${info.code ?? '?'}`}); restarting`,
          }));
        }
      },
    };
  }

  private syncerConfig(uid: number): SyncerRuntimeConfig | undefined {
    const b = this.mgr.bdb(uid);
    if (!b) return undefined;
    return {
      bdb_uid: uid,
      epoch: b.sync_epoch,
      replica_sync: b.replica_sync,
      destination: {
        host: this.mgr.state.cluster.nodes[0]!.addr,
        port: b.port,
        password: b.authentication_redis_pass,
        tls: b.tls_mode === 'enabled',
        admin_password: b.authentication_admin_pass,
        shard_key_regex: b.shard_key_regex,
        shards: this.mgr.state.shards
          .filter((sh) => sh.bdb_uid === uid && sh.role === 'master')
          .map((sh) => ({
            uid: sh.uid,
            slot_start: sh.slot_start,
            slot_end: sh.slot_end,
            redis_pid: this.mgr.procs.shardStatsOf(sh.uid)?.redis_pid ?? 0,
            status: sh.status,
          })),
      },
      sources: b.replica_sources.map((s) => ({
        uid: s.uid,
        uri: s.uri,
        compression: s.compression,
        encryption: s.encryption,
        server_cert: s.server_cert,
        client_cert: s.client_cert,
        client_key: s.client_key,
        replication_tls_sni: s.replication_tls_sni,
      })),
      faults: this.mgr.linkFaults.filter((f) => f.bdb_uid === uid).map((f) => f.fault),
    };
  }

  pushSyncerConfig(uid: number): void {
    const cfg = this.syncerConfig(uid);
    if (cfg) this.mgr.procs.child('syncer', uid)?.send({ type: 'config', config: cfg });
  }

  /** Start, reconfigure or stop the bdb's syncer to match its Replica Of settings. */
  async applyReplicaOf(uid: number): Promise<void> {
    const b = this.mgr.bdb(uid);
    const name = `syncer-${uid}`;
    const wanted =
      b && b.replica_sources.length > 0 && b.replica_sync !== 'disabled' && b.status !== 'delete-pending';
    if (!wanted) {
      const child = this.mgr.procs.children.get(name);
      this.mgr.procs.children.delete(name);
      this.syncerReports.delete(uid);
      this.syncerReportAt.delete(uid);
      if (child) await child.stop();
      return;
    }
    const running = this.mgr.procs.children.get(name);
    if (
      running &&
      this.mgr.state.cluster.net === 'netns' &&
      (running.spec.netns === undefined) !== this.mgr.procs.syncerOnHost(uid)
    ) {
      // The sources moved in or out of the node network: the syncer runs elsewhere now.
      this.mgr.procs.children.delete(name);
      await running.stop();
    } else if (running) {
      this.pushSyncerConfig(uid);
      return;
    }
    if (this.mgr.downNodes.has(this.mgr.procs.nodeOf('syncer', uid))) return; // started with its node
    const cfg: SyncerProcessConfig = {
      cluster: this.mgr.state.cluster.name,
      bdb_uid: uid,
      socket: this.mgr.paths.socket(name),
      log_file: this.mgr.paths.log(name),
      tls_cert: join(this.mgr.paths.certs, 'syncer.pem'),
      tls_key: join(this.mgr.paths.certs, 'syncer.key'),
      proxy_cert: join(this.mgr.paths.certs, 'proxy.pem'),
    };
    await this.mgr.procs.ensureChild(name, 'syncer', uid, cfg, this.syncerHooks(uid));
  }

  private onSyncerMessage(uid: number, msg: SyncerUpMessage): void {
    const b = this.mgr.bdb(uid);
    if (!b) return;
    if (msg.type === 'stats') {
      this.syncerReportAt.set(uid, Date.now());
      const rep = msg.stats;
      if (rep.epoch !== b.sync_epoch) return; // a report about a sync that has been restarted since
      this.syncerReports.set(uid, rep);
      let statusChanged = false;
      const merged = b.replica_sources.map((s) => {
        const r = rep.sources.find((x) => x.uid === s.uid);
        if (!r) return s;
        if (r.status !== s.status || r.last_error !== s.last_error || r.resume_mode !== s.resume_mode)
          statusChanged = true;
        return {
          ...s,
          status: r.status,
          rdb_size: r.rdb_size,
          rdb_transferred: r.rdb_transferred,
          lag: r.lag,
          last_update: r.last_update,
          rejected_writes: r.rejected_writes ?? 0,
          keys_loaded: r.keys_loaded,
          keys_total: r.keys_total,
          resume_mode: r.resume_mode,
          resume_reason: r.resume_reason,
          // A stop keeps its error until the sync is restarted.
          ...(b.replica_sync === 'stopped' && s.last_error && !r.last_error
            ? { last_error: s.last_error, last_error_code: s.last_error_code ?? '' }
            : { last_error: r.last_error, last_error_code: r.last_error_code ?? '' }),
        };
      });
      if (statusChanged)
        this.mgr.store.update((st) => (st.bdbs.find((x) => x.uid === uid)!.replica_sources = merged));
      else (b as BdbState).replica_sources = merged; // progress and lag: in memory, not worth a disk write
      return;
    }
    if (msg.type === 'event' && msg.event === 'sync-stopped') {
      const d = msg.detail;
      if (d.epoch !== undefined && d.epoch !== b.sync_epoch) return;
      // Only a running sync stops (a paused or stopped one has nothing to stop).
      if (!syncRuns(b.replica_sync) || !canTransition(b.replica_sync, 'stopped')) return;
      this.mgr.log.warn(
        { bdb: uid, source: d.source_uid, error: d.error },
        'replica sync stopped by an error',
      );
      this.mgr.store.update((st) => {
        const x = st.bdbs.find((y) => y.uid === uid)!;
        x.replica_sync = 'stopped';
        const src = x.replica_sources.find((y) => y.uid === d.source_uid);
        if (src) {
          src.last_error = d.error ?? 'stopped';
          src.last_error_code = d.code ?? '';
        }
      });
      this.pushSyncerConfig(uid);
    }
  }

  /**
   * A syncer that stops reporting (SIGSTOP, a hung event loop) leaves its last report in place:
   * "Synced (lag 0 ms)" while nothing moves. After SYNCER_REPORT_STALE_MS without a report its
   * sources are out-of-sync with a last_error that says so; the next report puts them right.
   */
  private watchSyncers(): void {
    const now = Date.now();
    for (const b of this.mgr.state.bdbs) {
      if (b.replica_sync !== 'enabled' || b.replica_sources.length === 0) continue;
      const at = this.syncerReportAt.get(b.uid);
      if (at === undefined || now - at < SYNCER_REPORT_STALE_MS) continue;
      const rule = errorRule('syncer-unresponsive');
      const secs = Math.round((now - at) / 1000);
      const error = `the syncer of database ${b.name} has not reported for ${secs} s (stopped, frozen or overloaded); its status is unknown. ${rule.remedy}`;
      const stale = b.replica_sources.some(
        (s) => s.status !== 'out-of-sync' || s.last_error_code !== rule.code,
      );
      const next = b.replica_sources.map((s) => ({
        ...s,
        status: 'out-of-sync' as const,
        lag: 0,
        last_error: error,
        last_error_code: rule.code,
      }));
      if (stale)
        this.mgr.store.update((st) => (st.bdbs.find((x) => x.uid === b.uid)!.replica_sources = next));
      else (b as BdbState).replica_sources = next;
    }
  }

  syncerReport(uid: number): SyncerReport | undefined {
    return this.syncerReports.get(uid);
  }
}
