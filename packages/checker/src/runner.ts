import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckerCluster, StartCluster } from './cluster.js';
import { ExternalRedis } from './external-redis.js';
import { CUSTOM_SHARD_KEY_REGEX } from './keyspace.js';
import { pickLogLines } from './logs.js';
import { FAULT_KINDS, type FaultKind, faultCatalogue, Nemesis, type ScheduledFault } from './nemesis.js';
import { compareKeys, DEFAULT_ORACLE, type Finding, type SourceView, sequenceEvidence } from './oracle.js';
import { Rng } from './rng.js';
import { connect, type Endpoint, type Snapshot, snapshot } from './snapshot.js';
import { type StatusChange, type StopEvent, StatusWatch } from './status-watch.js';
import { SourceWriter, type WriterStats } from './workload.js';

/**
 * One round of the checker: a topology drawn from the seed (sources of every kind into a
 * destination with another shard count or hash policy), a workload on every source, the nemesis
 * for `seconds`, then heal, quiesce and judge. Bounded in time: every wait has a deadline.
 *
 * Size (~540 lines): one round is one timeline (setup, load, faults, heal, quiesce, judge) over
 * the round's shared state (clusters, sources, deadlines, the log); the workload, nemesis, oracle
 * and snapshot live in their own files.
 */

export type SourceKind = 'external' | 'same-cluster' | 'other-cluster' | 'sharded';

export interface Topology {
  sources: { kind: SourceKind; prefix: string; shards: number }[];
  destShards: number;
  destPolicy: 'default' | 'custom';
  /**
   * FLUSHALL/FLUSHDB in the workload, by the sharded source; a second source, when there is one,
   * has its keys erased on the destination by each flush (see FlushCoordinator).
   */
  flush: boolean;
}

export interface RoundOptions {
  seed: number;
  seconds: number;
  startCluster: StartCluster;
  /** Fault kinds the nemesis may use (default: all). */
  faultKinds?: readonly FaultKind[];
  /** Rounds with FLUSHALL/FLUSHDB on a sharded source. */
  flush?: boolean;
  /** DEL/MSET over several tag groups in the workload (default true). */
  crossSlot?: boolean;
  /** Keys written to each source before the sync starts (default 1500). */
  preloadKeys?: number;
  /** Parent of the round's MINIRS_HOME (default /tmp: socket paths must stay short). */
  homeRoot?: string;
  /** Where a failing round's logs are copied (default $TMPDIR/minirs-check/<seed>). */
  keepLogsDir?: string;
  log?: (line: string) => void;
}

export interface RoundReport {
  seed: number;
  seconds: number;
  ok: boolean;
  topology: Topology;
  schedule: ScheduledFault[];
  statusChanges: StatusChange[];
  stops: (StopEvent & { allowed: boolean })[];
  reenables: number[];
  writers: WriterStats[];
  keysChecked: number;
  destKeys: number;
  findings: Finding[];
  logLines: string[];
  logsKeptAt?: string;
  timings: { setupMs: number; runMs: number; quiesceMs: number; totalMs: number };
  error?: string;
}

/** How a stop for lack of memory reads in `last_error`, on either side. */
const OOM_ERROR = /\bOOM\b|out of memory|maxmemory/i;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function chooseTopology(rng: Rng, flush: boolean): Topology {
  const kinds: SourceKind[] = flush
    ? ['sharded', ...(rng.chance(0.5) ? [rng.pick<SourceKind>(['external', 'same-cluster', 'other-cluster'])] : [])]
    : (['external', 'same-cluster', 'other-cluster', 'sharded'] as const).filter(() => rng.chance(0.5));
  if (kinds.length === 0)
    kinds.push(rng.pick<SourceKind>(['external', 'same-cluster', 'other-cluster', 'sharded']));
  const sources = kinds.map((kind, i) => ({ kind, prefix: `s${i + 1}`, shards: kind === 'sharded' ? 2 : 1 }));
  const destShards = rng.pick(sources.some((s) => s.kind === 'sharded') ? [1, 3, 3] : [1, 2, 3, 3]);
  return { sources, destShards, destPolicy: rng.chance(0.4) ? 'custom' : 'default', flush };
}

const DB_OF: Record<Exclude<SourceKind, 'external'>, string> = {
  'same-cluster': 'srcsame',
  'other-cluster': 'srcother',
  sharded: 'srcsharded',
};

/**
 * Several sources, one of them flushing. The flush replays on the destination as a flush of the
 * whole destination (as RS does), so it also erases what the other sources had written there.
 * Around each flush the other writers are held; once the flushing source's marker (set right
 * after its flush) is on the destination, the flush has been applied there, and the others go
 * on with a new key generation. The oracle compares only their last generation: the keys written
 * before a flush's application are gone from the destination or partly there, depending on
 * the links' lag, and that is not modelled.
 */
class FlushCoordinator {
  private pending: Promise<void> = Promise.resolve();
  private stopping = false;
  flushesApplied = 0;

  constructor(
    private readonly others: SourceWriter[],
    private readonly dest: () => Promise<Endpoint>,
  ) {}

  async before(): Promise<void> {
    await this.pending;
    await Promise.all(this.others.map((w) => w.pause()));
  }

  after(markerKey: string, n: number): void {
    this.pending = (async () => {
      const c = connect(await this.dest());
      try {
        // Bounded by the round: the writers stop, and so does the wait.
        for (let i = 0; i < 3000 && !this.stopping; i++) {
          const v = await c.get(markerKey).catch(() => null);
          if (v !== null && Number(v) >= n) {
            this.flushesApplied++;
            break;
          }
          await sleep(100);
        }
      } finally {
        c.disconnect();
      }
      // A flush not seen applied by now may still be: the old generation is not compared either way.
      for (const w of this.others) w.resume(w.gen + 1);
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.pending;
  }
}

async function waitUntil<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

export async function runRound(o: RoundOptions): Promise<RoundReport> {
  const log = o.log ?? (() => {});
  const tStart = Date.now();
  const root = new Rng(o.seed);
  const topology = chooseTopology(root.fork('topology'), !!o.flush);
  const nemRng = root.fork('nemesis');
  const report: RoundReport = {
    seed: o.seed,
    seconds: o.seconds,
    ok: false,
    topology,
    schedule: [],
    statusChanges: [],
    stops: [],
    reenables: [],
    writers: [],
    keysChecked: 0,
    destKeys: 0,
    findings: [],
    logLines: [],
    timings: { setupMs: 0, runMs: 0, quiesceMs: 0, totalMs: 0 },
  };
  const home = mkdtempSync(join(o.homeRoot ?? '/tmp', 'mrs-chk-'));
  const clusters: CheckerCluster[] = [];
  let ext: ExternalRedis | undefined;
  const writers = new Map<string, SourceWriter>();
  let watch: StatusWatch | undefined;
  let coordinator: FlushCoordinator | undefined;
  let t0 = Date.now();
  const logDirs: string[] = [];
  try {
    const needEast = topology.sources.some((s) => s.kind === 'other-cluster' || s.kind === 'sharded');
    const [west, east, extStarted] = await Promise.all([
      o.startCluster('west', home, 2),
      needEast ? o.startCluster('east', home, 2) : Promise.resolve(undefined),
      topology.sources.some((s) => s.kind === 'external')
        ? new ExternalRedis().start()
        : Promise.resolve(undefined),
    ]);
    clusters.push(west);
    if (east) clusters.push(east);
    ext = extStarted;
    logDirs.push(...clusters.map((c) => c.paths.logs));
    log(`seed ${o.seed}: ${describeTopology(topology)}`);
    const dest = await west.createDb({
      name: 'dst',
      shards: topology.destShards,
      ...(topology.destPolicy === 'custom' ? { shardKeyRegex: CUSTOM_SHARD_KEY_REGEX } : {}),
    });
    const endpoints = new Map<string, Endpoint>();
    const refs: string[] = [];
    const srcInfo: { prefix: string; uid: number; where: 'west' | 'east' | 'external'; db?: string }[] = [];
    for (const [i, s] of topology.sources.entries()) {
      if (s.kind === 'external') {
        endpoints.set(s.prefix, { host: ext!.host, port: ext!.port });
        refs.push(ext!.uri);
        srcInfo.push({ prefix: s.prefix, uid: i + 1, where: 'external' });
        continue;
      }
      const db = DB_OF[s.kind];
      const c = s.kind === 'same-cluster' ? west : east!;
      await c.createDb({ name: db, shards: s.shards });
      endpoints.set(s.prefix, await c.endpoint(db));
      refs.push(s.kind === 'same-cluster' ? db : `east/${db}`);
      srcInfo.push({ prefix: s.prefix, uid: i + 1, where: s.kind === 'same-cluster' ? 'west' : 'east', db });
    }
    const wlRoot = root.fork('workload');
    const others: SourceWriter[] = [];
    coordinator =
      topology.flush && topology.sources.length > 1
        ? new FlushCoordinator(others, () => west.endpoint('dst'))
        : undefined;
    for (const s of topology.sources) {
      const ep = endpoints.get(s.prefix)!;
      const flushing = topology.flush && s.kind === 'sharded';
      const w = new SourceWriter(
        {
          ...ep,
          prefix: s.prefix,
          flush: flushing,
          // The last 40% of the round writes without flushing (something to compare at the end).
          flushForMs: o.seconds * 1000 * 0.6,
          maxOps: 400 * o.seconds * 10,
          crossSlot: o.crossSlot !== false,
          ...(flushing && coordinator
            ? {
                aroundFlush: {
                  before: () => coordinator!.before(),
                  after: (k: string, n: number) => coordinator!.after(k, n),
                },
              }
            : {}),
        },
        wlRoot.fork(s.prefix),
      );
      if (!flushing) others.push(w);
      writers.set(s.prefix, w);
      await w.connect();
      await w.preload(o.preloadKeys ?? 1500);
    }
    const shardsOf = async (c: CheckerCluster, db: string) => (await c.db(db)).shard_list;
    const catalogue = faultCatalogue({
      destUid: dest.uid,
      destShards: await shardsOf(west, 'dst'),
      westNodes: (await west.api.listNodes()).map((n) => n.uid),
      eastNodes: east ? (await east.api.listNodes()).map((n) => n.uid) : [],
      sources: await Promise.all(
        srcInfo.map(async (s) =>
          s.where === 'external'
            ? { ...s, shards: [] }
            : { ...s, shards: await shardsOf(s.where === 'west' ? west : east!, s.db!) },
        ),
      ),
      kinds: o.faultKinds ?? FAULT_KINDS,
    });
    report.timings.setupMs = Date.now() - tStart;

    // The run: writers on, the sync set up, the nemesis from the first full sync on.
    watch = new StatusWatch(west, 'dst', () => t0);
    for (const w of writers.values()) w.start();
    t0 = Date.now();
    await west.replicaOf('dst', refs);
    watch.start();
    const nemesis = new Nemesis(nemRng, catalogue, {
      west,
      ...(east ? { east } : {}),
      ...(ext ? { ext } : {}),
      destDb: 'dst',
      destUid: dest.uid,
      writers,
      watch,
      t0: () => t0,
      log,
    });
    try {
      await nemesis.run(o.seconds * 1000);
    } finally {
      report.schedule = nemesis.schedule;
      report.writers = await Promise.all([...writers.values()].map((w) => w.stop()));
      await coordinator?.stop();
      for (const w of report.writers) w.generation = writers.get(w.prefix)!.gen;
      await nemesis.healAll();
    }
    const tRun = Date.now();
    report.timings.runMs = tRun - t0;

    // Quiesce: every source in-sync (a stop is answered: heal, re-enable), then compare until
    // clean or until nothing changes between two reads; a stop while comparing starts it over.
    report.reenables = nemesis.reenables;
    const destClient = connect(await west.endpoint('dst'));
    const srcClients = new Map([...endpoints].map(([p, ep]) => [p, connect(ep)]));
    const quiesceDeadline = Date.now() + 150_000;
    try {
      for (let attempt = 0; ; attempt++) {
        const synced = await waitUntil(
          'every source to be in-sync',
          Math.max(1000, quiesceDeadline - Date.now()),
          async () => {
            const s = await watch!.poll();
            if (s?.replica_sync === 'stopped') {
              await nemesis.answerStop();
              return undefined;
            }
            return s && s.replica_sync === 'enabled' && s.sources.every((x) => x.status === 'in-sync')
              ? s
              : undefined;
          },
        ).then(
          () => true,
          (err: Error) => {
            report.findings.push({
              check: 'no-sync',
              detail: `${err.message}; last status ${JSON.stringify(watch!.last)}`,
            });
            return false;
          },
        );
        const stopsBefore = watch.stops.length;
        // Still: the same differences three reads in a row (keys expiring on both sides change
        // the data, not the differences).
        const sigs: string[] = [];
        let found: Finding[] = [];
        for (;;) {
          const views: SourceView[] = [];
          for (const s of topology.sources) {
            const w = writers.get(s.prefix)!;
            const snap = await snapshot(srcClients.get(s.prefix)!, `${s.prefix}:*`);
            views.push({
              prefix: s.prefix,
              snap,
              gen: w.gen,
              ...(w.dataLost ? {} : { counters: w.counters }),
            });
          }
          const destSnap: Snapshot = await snapshot(destClient);
          const cmp = compareKeys(views, destSnap, DEFAULT_ORACLE);
          report.keysChecked = cmp.checked;
          report.destKeys = destSnap.size;
          found = [...cmp.findings, ...sequenceEvidence(views, destSnap)];
          sigs.push(
            found
              .map(
                (f) =>
                  `${f.check} ${f.key ?? ''} ${f.check === 'key' ? f.detail.replace(/-?\d+ ms/g, '') : f.detail}`,
              )
              .sort()
              .join('\n'),
          );
          const still = sigs.length >= 3 && sigs.slice(-3).every((x) => x === sigs[sigs.length - 1]);
          if (found.length === 0 || still || Date.now() > quiesceDeadline || watch.stops.length > stopsBefore)
            break;
          await sleep(1000);
          await watch.poll();
        }
        const stoppedMeanwhile = watch.stops.length > stopsBefore || watch.stopped;
        if (
          found.length === 0 ||
          !synced ||
          !stoppedMeanwhile ||
          Date.now() > quiesceDeadline ||
          attempt >= 3
        ) {
          report.findings.push(...found);
          break;
        }
      }
    } finally {
      destClient.disconnect();
      for (const c of srcClients.values()) c.disconnect();
    }
    watch.stop();
    // Stops: each must follow a fault that may stop the sync; each fault that must stop, did.
    const faults = report.schedule.filter((f) => !f.error);
    report.statusChanges = watch.changes;
    report.stops = watch.stops.map((s) => ({
      ...s,
      // Allowed: an OOM fault was on (or just healed) and the stop names the out-of-memory error.
      allowed:
        s.errors.some((e) => OOM_ERROR.test(e)) &&
        faults.some((f) => f.stop !== 'no' && s.at >= f.at && s.at <= (f.healedAt ?? f.at) + 5000),
    }));
    for (const s of report.stops) {
      if (!s.allowed)
        report.findings.push({
          check: 'false-stop',
          detail: `sync stopped at ${s.at} ms with no stop-worthy fault on: ${s.errors.join('; ') || '(no error given)'}`,
        });
    }
    for (const f of faults) {
      // Only while streaming is a write sure to reach the destination during the fault (in a
      // full sync the syncer may still be starting or reading the RDB).
      if (f.stop !== 'must' || !f.inSync || (f.healedAt ?? f.at) - f.at < 1000) continue;
      if (!watch.stops.some((s) => s.at >= f.at && s.at <= (f.healedAt ?? f.at) + 5000)) {
        report.findings.push({
          check: 'missed-stop',
          detail: `${f.kind} ${f.target} at ${f.at} ms (held ${(f.healedAt ?? f.at) - f.at} ms) while the sources wrote, and the sync did not stop`,
        });
      }
    }
    report.timings.quiesceMs = Date.now() - tRun;
  } catch (err) {
    report.error = (err as Error).stack ?? String(err);
  } finally {
    watch?.stop();
    for (const w of writers.values()) w.close();
    report.ok = !report.error && report.findings.length === 0;
    if (!report.ok) {
      const keys = report.findings
        .filter((f) => f.key)
        .slice(0, 3)
        .map((f) => f.key!);
      const windows: [number, number][] = report.stops
        .filter((s) => !s.allowed)
        .map((s) => [t0 + s.at - 3000, t0 + s.at + 1000]);
      report.logLines = pickLogLines(logDirs, { windows, mentions: keys, max: 40 });
      const keep = o.keepLogsDir ?? join(tmpdir(), 'minirs-check', String(o.seed));
      try {
        rmSync(keep, { recursive: true, force: true });
        mkdirSync(keep, { recursive: true });
        for (const c of clusters) cpSync(c.paths.logs, join(keep, c.name), { recursive: true });
        if (ext) cpSync(ext.logFile, join(keep, 'external-redis.log'));
        report.logsKeptAt = keep;
      } catch {
        // logs are a help, not the verdict
      }
    }
    await Promise.allSettled(clusters.map((c) => c.delete()));
    await ext?.stop();
    rmSync(home, { recursive: true, force: true });
    report.timings.totalMs = Date.now() - tStart;
  }
  return report;
}

export function describeTopology(t: Topology): string {
  const src = t.sources
    .map((s) => `${s.prefix}=${s.kind}${s.kind === 'sharded' ? `(${s.shards} shards)` : ''}`)
    .join(', ');
  return `sources ${src} -> west/dst (${t.destShards} shard${t.destShards > 1 ? 's' : ''}, ${t.destPolicy} hash policy)${t.flush ? ', with FLUSHALL/FLUSHDB' : ''}`;
}

/** The human report of a round: one line when it passed, everything needed to replay when not. */
export function formatRound(r: RoundReport): string {
  const faults = r.schedule.filter((f) => !f.error);
  const head = `seed ${r.seed}: ${r.ok ? 'PASS' : 'FAIL'} in ${(r.timings.totalMs / 1000).toFixed(1)} s; ${faults.length} faults (${faults.filter((f) => f.midFullSync).length} mid full sync, ${faults.filter((f) => f.midTransaction).length} mid MULTI), ${r.keysChecked} keys checked, ${r.writers.reduce((s, w) => s + w.sent, 0)} commands written, ${r.stops.length} stops, ${r.reenables.length} re-enables`;
  if (r.ok) return head;
  const lines = [
    head,
    `  topology: ${describeTopology(r.topology)}`,
    `  replay: minirs check --seed ${r.seed} --seconds ${r.seconds}${r.topology.flush ? ' --flush' : ''}`,
  ];
  if (r.error) lines.push(`  error: ${r.error}`);
  lines.push('  schedule (ms after the sync was set up):');
  for (const f of r.schedule) {
    lines.push(
      `    ${String(f.at).padStart(6)}  ${f.kind.padEnd(9)} ${f.where}:${f.target}${f.params ? ` ${JSON.stringify(f.params)}` : ''}${f.healedAt !== undefined && f.healedAt > f.at ? ` healed at ${f.healedAt}` : ''}${f.midFullSync ? ' [mid full sync]' : ''}${f.midTransaction ? ` [mid MULTI of ${f.midTransaction}]` : ''}${f.error ? ` [refused: ${f.error}]` : ''}`,
    );
  }
  lines.push('  status changes:');
  for (const c of r.statusChanges)
    lines.push(
      `    ${String(c.at).padStart(6)}  ${c.replica_sync}/${c.status}${c.errors.length ? ` ${c.errors.join('; ').slice(0, 200)}` : ''}`,
    );
  for (const w of r.writers) {
    lines.push(
      `  writer ${w.prefix}: ${w.sent} sent, ${w.ok} ok, ${w.unknown} unknown, ${w.refused} refused; ${w.transactions} MULTI, ${w.scripts} EVAL, ${w.flushes} flushes${w.generation ? `, key generation ${w.generation}` : ''}${w.errors.length ? `; errors: ${w.errors.slice(0, 3).join(' | ')}` : ''}`,
    );
  }
  const byCheck = new Map<string, number>();
  for (const f of r.findings) byCheck.set(f.check, (byCheck.get(f.check) ?? 0) + 1);
  lines.push(`  findings (${[...byCheck].map(([c, n]) => `${n} ${c}`).join(', ')}; first 15):`);
  for (const f of r.findings.slice(0, 15)) lines.push(`    ${f.check.padEnd(11)} ${f.key ?? ''} ${f.detail}`);
  if (r.logLines.length) {
    lines.push('  log lines of that moment:');
    for (const l of r.logLines) lines.push(`    ${l}`);
  }
  if (r.logsKeptAt) lines.push(`  logs kept at ${r.logsKeptAt}`);
  return lines.join('\n');
}

export interface CheckOptions extends Omit<RoundOptions, 'seed'> {
  seeds: number[];
}

export interface CheckSummary {
  rounds: RoundReport[];
  passed: number;
  failed: number;
}

/** Totals over rounds: faults injected by kind, keys checked, the failing seeds. */
export function summarize(s: CheckSummary): string {
  const byKind = new Map<string, number>();
  let faults = 0;
  for (const r of s.rounds) {
    for (const f of r.schedule) {
      if (f.error) continue;
      faults++;
      byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
    }
  }
  const keys = s.rounds.reduce((n, r) => n + r.keysChecked, 0);
  const kinds = [...byKind].map(([k, n]) => `${k} ${n}`).join(', ');
  const failed = s.rounds.filter((r) => !r.ok).map((r) => r.seed);
  const avg = s.rounds.length
    ? s.rounds.reduce((n, r) => n + r.timings.totalMs, 0) / s.rounds.length / 1000
    : 0;
  return (
    `${s.passed} of ${s.rounds.length} rounds passed; ${faults} faults injected (${kinds || 'none'}); ` +
    `${keys} keys checked; ${avg.toFixed(1)} s per round${failed.length ? `; failing seeds: ${failed.join(' ')}` : ''}`
  );
}

/** Runs the rounds one after the other (the machine is shared: never in parallel). */
export async function runChecks(o: CheckOptions, onRound?: (r: RoundReport) => void): Promise<CheckSummary> {
  const rounds: RoundReport[] = [];
  for (const seed of o.seeds) {
    const r = await runRound({ ...o, seed });
    rounds.push(r);
    onRound?.(r);
  }
  const passed = rounds.filter((r) => r.ok).length;
  return { rounds, passed, failed: rounds.length - passed };
}
