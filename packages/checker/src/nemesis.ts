import type { CheckerCluster, CheckerFaultRequest } from './cluster.js';
import type { ExternalRedis } from './external-redis.js';
import type { Rng } from './rng.js';
import type { StatusWatch } from './status-watch.js';
import type { SourceWriter } from './workload.js';

/**
 * Every fault minirs has, on every process and link it applies to, one at a time: each 1.5-4 s a
 * fault drawn from the round's seed (first the kind, then the target), healed after a while.
 * The first lands during the initial full sync; some land while a source client holds an open
 * MULTI (between its QUEUED commands and EXEC). A stop of the sync is answered as a person would:
 * heal, then re-enable (which flushes the destination and starts over).
 */

export type FaultKind = CheckerFaultRequest['kind'];
export const FAULT_KINDS: readonly FaultKind[] = [
  'kill',
  'pause',
  'partition',
  'latency',
  'bandwidth',
  'reset',
  'oom',
];

export interface FaultSpec {
  kind: FaultKind;
  /** Where it is injected: a cluster's fault API, or the checker's own external redis-server. */
  where: 'west' | 'east' | 'external';
  target: string;
  params?: Omit<CheckerFaultRequest, 'kind' | 'target'>;
  /** Must the sync stop (destination OOM), may it (source OOM), or must it not. */
  stop: 'must' | 'may' | 'no';
  /** Prefix of a source whose data set this fault loses (a killed source redis-server). */
  losesSource?: string;
  /** Writers of the sources this fault touches (for faults mid transaction). */
  sources: string[];
}

export interface ScheduledFault {
  kind: FaultKind;
  where: FaultSpec['where'];
  target: string;
  params?: FaultSpec['params'];
  /** ms since the sync was set up. */
  at: number;
  healedAt?: number;
  midFullSync: boolean;
  /** The sync was streaming (every source in-sync) when the fault came. */
  inSync: boolean;
  midTransaction?: string;
  stop: FaultSpec['stop'];
  /** The API refused it (e.g. a process that was being restarted): nothing happened. */
  error?: string;
}

export interface NemesisContext {
  west: CheckerCluster;
  east?: CheckerCluster;
  ext?: ExternalRedis;
  destDb: string;
  destUid: number;
  writers: Map<string, SourceWriter>;
  watch: StatusWatch;
  t0: () => number;
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly schedule: ScheduledFault[] = [];
  readonly reenables: number[] = [];
  private active?: { rec: ScheduledFault; id?: number | string; where: FaultSpec['where'] };

  constructor(
    private readonly rng: Rng,
    private readonly catalogue: FaultSpec[],
    private readonly ctx: NemesisContext,
  ) {}

  private now(): number {
    return Date.now() - this.ctx.t0();
  }

  private api(where: FaultSpec['where']): CheckerCluster['api'] | undefined {
    return where === 'west' ? this.ctx.west.api : where === 'east' ? this.ctx.east?.api : undefined;
  }

  private pick(): FaultSpec | undefined {
    const kinds = [...new Set(this.catalogue.map((f) => f.kind))];
    if (kinds.length === 0) return undefined;
    const kind = this.rng.pick(kinds);
    return this.rng.pick(this.catalogue.filter((f) => f.kind === kind));
  }

  private async inject(f: FaultSpec, rec: ScheduledFault): Promise<void> {
    if (f.where === 'external') {
      const ext = this.ctx.ext!;
      if (f.kind === 'kill') await ext.killAndRestart();
      else ext.pause();
      this.active = { rec, where: f.where };
    } else {
      const r = await this.api(f.where)!.createFault({ kind: f.kind, target: f.target, ...f.params });
      this.active = { rec, id: r.id, where: f.where };
    }
    if (f.losesSource) {
      const w = this.ctx.writers.get(f.losesSource);
      if (w) w.dataLost = true;
    }
  }

  /** Heals the fault that is on (kill and reset are over at once, nothing to heal). */
  async heal(): Promise<void> {
    const a = this.active;
    if (!a) return;
    this.active = undefined;
    try {
      if (a.where === 'external') this.ctx.ext?.resume();
      else if (a.id !== undefined && a.rec.kind !== 'kill') await this.api(a.where)!.deleteFault(a.id);
    } catch (err) {
      // a fault the manager already dropped (reset removes itself): healed either way
      this.ctx.log(`heal of ${a.rec.kind} ${a.rec.target}: ${(err as Error).message}`);
    }
    a.rec.healedAt = this.now();
  }

  /** Heals everything still on in every cluster (end of the round, or before re-enabling). */
  async healAll(): Promise<void> {
    await this.heal();
    this.ctx.ext?.resume();
    for (const c of [this.ctx.west, this.ctx.east]) {
      if (!c) continue;
      const left = await c.api.listFaults().catch(() => []);
      for (const f of left) await c.api.deleteFault(f.id).catch(() => {});
    }
  }

  /** A stopped sync: heal, re-enable (a flush and a new full sync), and go on. */
  async answerStop(): Promise<void> {
    await this.healAll();
    await this.ctx.west.api.updateBdb(this.ctx.destUid, { replica_sync: 'enabled' }).catch((err: Error) => {
      this.ctx.log(`re-enabling the sync failed: ${err.message}`);
    });
    this.reenables.push(this.now());
    await this.ctx.watch.poll();
  }

  private async waitForStop(from: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.ctx.watch.stops.some((s) => s.at >= from)) return true;
      await this.ctx.watch.poll();
      await sleep(200);
    }
    return this.ctx.watch.stops.some((s) => s.at >= from);
  }

  /** Runs until `untilMs` after t0. */
  async run(untilMs: number): Promise<void> {
    let next = this.rng.int(100, 900);
    while (this.now() < untilMs) {
      await sleep(Math.max(0, Math.min(next, untilMs) - this.now()));
      if (this.now() >= untilMs) break;
      if (this.ctx.watch.stopped) {
        await this.answerStop();
        next = this.now() + this.rng.int(200, 900); // lands in the new full sync
        continue;
      }
      const f = this.pick();
      const gap = this.rng.int(1500, 4000);
      next = this.now() + gap;
      if (!f) continue;
      const hold = f.kind === 'kill' || f.kind === 'reset' ? 0 : this.rng.int(500, Math.min(3000, gap - 300));
      const rec: ScheduledFault = {
        kind: f.kind,
        where: f.where,
        target: f.target,
        ...(f.params ? { params: f.params } : {}),
        at: this.now(),
        midFullSync: this.ctx.watch.syncing,
        inSync: this.ctx.watch.inSync,
        stop: f.stop,
      };
      this.schedule.push(rec);
      let release: (() => void) | undefined;
      const writer =
        f.sources.length && this.rng.chance(0.3) ? this.ctx.writers.get(this.rng.pick(f.sources)) : undefined;
      if (writer) {
        const released = new Promise<void>((r) => {
          release = r;
        });
        const opened = await Promise.race([
          writer.holdNextTransaction(released).then(() => true),
          sleep(3000).then(() => false),
        ]);
        if (opened) rec.midTransaction = writer.stats.prefix;
        rec.at = this.now();
      }
      try {
        await this.inject(f, rec);
      } catch (err) {
        rec.error = (err as Error).message.slice(0, 200);
      }
      if (release) {
        await sleep(this.rng.int(50, 400));
        release();
      }
      this.ctx.log(
        `${String(rec.at).padStart(6)} ms  ${rec.kind} ${rec.where}:${rec.target}${rec.midFullSync ? ' (mid full sync)' : ''}${rec.midTransaction ? ` (mid MULTI of ${rec.midTransaction})` : ''}${rec.error ? ` refused: ${rec.error}` : ''}`,
      );
      if (rec.error) continue;
      if (hold > 0) {
        await sleep(hold);
        await this.heal();
      } else {
        this.active = undefined;
        rec.healedAt = rec.at;
      }
      // A fault that must stop the sync gets a few seconds to do so, before anything else happens.
      if (f.stop === 'must') {
        await this.waitForStop(rec.at, 5000);
        next = Math.max(next, this.now() + 200);
      }
    }
    await this.heal();
  }
}

/** The fault catalogue of a topology: every kind on every process and link it applies to. */
export interface CatalogueInput {
  destUid: number;
  /** Shard uids of the destination db. */
  destShards: number[];
  westNodes: number[];
  eastNodes: number[];
  /** Per source: its prefix, its replica source uid, where it lives and its shard uids. */
  sources: { prefix: string; uid: number; where: 'west' | 'east' | 'external'; shards: number[] }[];
  kinds: readonly FaultKind[];
}

export function faultCatalogue(c: CatalogueInput): FaultSpec[] {
  const out: FaultSpec[] = [];
  const proc = (
    kind: FaultKind,
    where: 'west' | 'east',
    target: string,
    sources: string[],
    losesSource?: string,
  ) => out.push({ kind, where, target, stop: 'no', sources, ...(losesSource ? { losesSource } : {}) });
  const onWest = c.sources.filter((s) => s.where === 'west').map((s) => s.prefix);
  const onEast = c.sources.filter((s) => s.where === 'east').map((s) => s.prefix);
  for (const kind of ['kill', 'pause'] as const) {
    proc(kind, 'west', `syncer:${c.destUid}`, []);
    for (const n of c.westNodes) proc(kind, 'west', `proxy:${n}`, onWest);
    for (const n of c.eastNodes) proc(kind, 'east', `proxy:${n}`, onEast);
    for (const u of c.destShards) {
      proc(kind, 'west', `shard:${u}`, []);
      proc(kind, 'west', `redis:${u}`, []);
    }
    for (const s of c.sources) {
      if (s.where === 'external') {
        out.push({
          kind,
          where: 'external',
          target: 'redis-server',
          stop: 'no',
          sources: [s.prefix],
          ...(kind === 'kill' ? { losesSource: s.prefix } : {}),
        });
        continue;
      }
      for (const u of s.shards) {
        proc(kind, s.where, `shard:${u}`, [s.prefix], kind === 'kill' ? s.prefix : undefined);
        proc(kind, s.where, `redis:${u}`, [s.prefix], kind === 'kill' ? s.prefix : undefined);
      }
    }
  }
  const links = [`syncer:${c.destUid}`, ...c.sources.map((s) => `source:${c.destUid}/${s.uid}`)];
  const linkSources = (t: string) => {
    const s = c.sources.find((x) => t === `source:${c.destUid}/${x.uid}`);
    return s ? [s.prefix] : c.sources.map((x) => x.prefix);
  };
  for (const t of links) {
    out.push({ kind: 'partition', where: 'west', target: t, stop: 'no', sources: linkSources(t) });
    out.push({ kind: 'reset', where: 'west', target: t, stop: 'no', sources: linkSources(t) });
    out.push({
      kind: 'latency',
      where: 'west',
      target: t,
      params: { ms: 150, jitter_ms: 100 },
      stop: 'no',
      sources: [],
    });
    out.push({ kind: 'bandwidth', where: 'west', target: t, params: { kbps: 200 }, stop: 'no', sources: [] });
  }
  // OOM: on the destination it must stop the sync; on a source shard the source's own writes
  // are refused, which RS names stop-worthy but need not reach the link.
  out.push({
    kind: 'oom',
    where: 'west',
    target: `bdb:${c.destUid}`,
    params: { bytes: 1 },
    stop: 'must',
    sources: [],
  });
  for (const s of c.sources) {
    if (s.where === 'external') continue;
    for (const u of s.shards)
      out.push({
        kind: 'oom',
        where: s.where,
        target: `shard:${u}`,
        params: { bytes: 1 },
        stop: 'may',
        sources: [s.prefix],
      });
  }
  return out.filter((f) => c.kinds.includes(f.kind));
}
