import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  ErrorCodes,
  MinirsError,
  maskUri,
  parseSourceUri,
  type ReplicaSourceState,
  randomPassword,
} from '@minirs/common';
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import {
  type Bdb,
  CACHE,
  compareDatabases,
  type CompareResult,
  deleteCluster,
  DemoInterrupted,
  describeSource,
  formatLag,
  type KeyKind,
  listClusterNames,
  loadKeys,
  MiniCluster,
  pidAlive,
  processCmdline,
  replicaStatus,
  type ReplicaStatusView,
  SHOP,
  type SourceStatusView,
  type StartedMiniCluster,
  type StartedRedisServer,
  waitForExit,
} from '@minirs/local';
import type { CliIo } from '../context.js';

import { processesOfHome, startExternalRedis } from './external-redis.js';
import { fmt, mb, Narrator } from './narrator.js';
import { DEMO_SHARD_KEY_REGEX, type DemoOptions, type DemoPlan, demoPlan } from './plan.js';
import { Writer } from './writer.js';

export { DEMO_SHARD_KEY_REGEX, type DemoOptions, type DemoPlan, demoPlan } from './plan.js';

/**
 * `minirs demo`: Replica Of end to end, narrated. Two clusters and an external redis-server in a
 * private MINIRS_HOME, data of every type with TTLs, west/replica made a replica of east/orders
 * and of the external Redis (live progress of the full sync), a bounded writer on both sources
 * with a live status/lag line, a cut link and a kill -9 of the syncer with their recoveries, a
 * final key-by-key compare, and a cleanup that leaves no process or file behind (unless --keep).
 *
 * The home is always a fresh temp dir, never $MINIRS_HOME: the demo creates and deletes clusters
 * called east and west, and must not touch clusters a user already has under those names.
 */
/*
 * Layout: plan.ts (sizes and options), dataset.ts (the seeded data of every type), writer.ts
 * (the bounded writer), external-redis.ts (the external source and the process scan), narrator.ts
 * (the printed story). This file holds the steps: one class, read top to bottom as the story the
 * demo tells, which is why it is longer than the rest.
 */

const SYNC_TIMEOUT_MS = 120_000;
const RECOVERY_TIMEOUT_MS = 90_000;
const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

interface Addr {
  host: string;
  port: number;
}

/** What step 1 builds and every later step uses. */
interface Stage {
  east: StartedMiniCluster;
  west: StartedMiniCluster;
  external: StartedRedisServer;
  orders: Bdb;
  replica: Bdb;
  ordersAddr: Addr;
  destAddr: Addr;
  eastClient: Redis;
  extClient: Redis;
  destClient: Redis;
}

interface SourceRow {
  label: string;
  view: SourceStatusView;
  raw: ReplicaSourceState;
}

interface SyncCounts {
  full_syncs: number;
  partial_syncs: number;
}

/** The shape of GET /v1/bdbs/{uid}/sync_source_stats that the demo reads (the running totals). */
interface SyncSourceStats {
  sync_source_stats: { uid: string; totals: SyncCounts }[];
}

const uniqueTypes = (kinds: KeyKind[]) => [...new Set(kinds.map((k) => k.type))].join(', ');

/** The steps of the demo; run() narrates them, then keep() or cleanUp() ends it. */
class Demo {
  // Unix socket paths under the home must stay below 108 bytes: a long $TMPDIR falls back to /tmp.
  readonly home = mkdtempSync(join(tmpdir().length <= 48 ? tmpdir() : '/tmp', 'minirs-demo-'));
  readonly env: NodeJS.ProcessEnv;
  readonly say: Narrator;
  private readonly clients: Redis[] = [];
  /** Cluster and redis-server starts in flight: the cleanup waits for them. */
  private readonly pending: Promise<unknown>[] = [];
  private redisPid?: number;
  private stage?: Stage;
  private labels: { addr: Addr; label: string }[] = [];
  private writer?: Writer;
  private bars?: cliProgress.MultiBar;
  private lastOps = 0;
  private lastAt = Date.now();

  constructor(
    private readonly io: CliIo,
    private readonly plan: DemoPlan,
    private readonly signal?: AbortSignal,
  ) {
    this.env = { ...io.env, MINIRS_HOME: this.home };
    this.say = new Narrator(io);
  }

  /** Resolves with p, or throws DemoInterrupted as soon as the signal fires. */
  private abortable<T>(p: Promise<T>): Promise<T> {
    const signal = this.signal;
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(new DemoInterrupted());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new DemoInterrupted());
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, this.signal ? { signal: this.signal } : {});
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw new DemoInterrupted();
      throw err;
    }
  }

  private client(a: Addr, password?: string): Redis {
    const c = new Redis({ host: a.host, port: a.port, password, maxRetriesPerRequest: 2, lazyConnect: true });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  private get s(): Stage {
    if (!this.stage) throw new MinirsError(ErrorCodes.INTERNAL, 'demo step run before the set-up');
    return this.stage;
  }

  private dest(): Promise<Bdb> {
    return this.abortable(this.s.west.api.getBdb(this.s.replica.uid));
  }

  private rows(b: Bdb): SourceRow[] {
    return replicaStatus(b).sources.map((view, i) => {
      const raw = b.replica_sources[i]!;
      let label = view.uri;
      try {
        const u = parseSourceUri(raw.uri.replace(/^[A-Za-z0-9][A-Za-z0-9-]*:(?=rediss?:\/\/)/, ''));
        label = this.labels.find((l) => l.addr.host === u.host && l.addr.port === u.port)?.label ?? label;
      } catch {
        // an unparsable URI keeps its masked form as its label
      }
      return { label, view, raw };
    });
  }

  private sourceUid(b: Bdb, label: string): number {
    const row = this.rows(b).find((r) => r.label === label);
    if (!row) throw new MinirsError(ErrorCodes.NOT_FOUND, `west/replica has no source ${label}`);
    return row.view.uid;
  }

  async run(): Promise<CompareResult> {
    const { say, plan } = this;
    say.print(
      `minirs demo: Replica Of from two sources into a sharded database${plan.quick ? ' (quick mode)' : ''}`,
    );
    say.print(`home: ${this.home} (private to this demo; MINIRS_HOME and ~/.minirs are not touched)`);
    await this.setUp();
    await this.load();
    await this.fullSync();
    this.startWriter();
    say.heading(
      4,
      `Live writes: INCR, LPUSH, HSET, SET EX on both sources (${fmt(plan.opsPerSecond)} ops/s each)`,
    );
    await this.watch({ seconds: plan.steadySeconds });
    await this.faults();
    await this.watch({ seconds: plan.afterRecoverySeconds });
    await this.writer!.stop();
    const w = this.writer!;
    say.line(
      `writer stopped: ${fmt(w.ops)} writes${w.errors ? `, ${fmt(w.errors)} errors (last: ${w.lastError})` : ', no errors'}`,
    );
    return this.compare();
  }

  // 1. two clusters, an external redis-server, two databases
  private async setUp(): Promise<void> {
    const { say } = this;
    say.heading(1, 'Two clusters and an external Redis');
    const cluster = (name: string, nodes: number) => {
      const p = new MiniCluster(name).withNodes(nodes).withHome(this.home).withEnv(this.env).start();
      this.pending.push(p.catch(() => {}));
      return p;
    };
    const redis = startExternalRedis(this.home, (pid) => {
      this.redisPid = pid;
    });
    this.pending.push(redis.catch(() => {}));
    const t = Date.now();
    const [east, west, external] = await this.abortable(
      Promise.all([cluster('east', 3), cluster('west', 2), redis]),
    );
    say.line(`east: 3 nodes, REST API ${east.api.apiUrl}`);
    say.line(`west: 2 nodes, REST API ${west.api.apiUrl}`);
    say.line(
      `external redis-server ${external.version}: ${external.host}:${external.port} (pid ${external.pid}), ` +
        `password ${JSON.stringify(external.password)}`,
    );
    const [orders, replica] = await this.abortable(
      Promise.all([
        east.createDb({ name: 'orders', shards: 2, memory: '256mb' }),
        west.createDb({
          name: 'replica',
          shards: 3,
          memory: '512mb',
          shardKeyRegex: DEMO_SHARD_KEY_REGEX,
        }),
      ]),
    );
    const addrOf = (b: Bdb): Addr => ({
      host: b.endpoints[0]!.addr[0]!,
      port: b.endpoints[0]!.port ?? b.port,
    });
    const ordersAddr = addrOf(orders);
    const destAddr = addrOf(replica);
    say.line(
      `east/orders: 2 shards, endpoint ${ordersAddr.host}:${ordersAddr.port}, RS's default hash policy`,
    );
    say.line(
      `west/replica: 3 shards, endpoint ${destAddr.host}:${destAddr.port}, shard_key_regex ` +
        `${DEMO_SHARD_KEY_REGEX.map((r) => `/${r}/`).join(' then ')}`,
    );
    say.line('  (the first number of a key is its hash tag: every key of order 42 lives on one shard)');
    say.line(`ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    this.labels = [
      { addr: ordersAddr, label: 'east/orders' },
      { addr: { host: external.host, port: external.port }, label: 'external' },
    ];
    const eastClient = this.client(ordersAddr);
    const extClient = this.client(external, external.password);
    const destClient = this.client(destAddr);
    await this.abortable(Promise.all([eastClient.connect(), extClient.connect(), destClient.connect()]));
    this.stage = {
      east,
      west,
      external,
      orders,
      replica,
      ordersAddr,
      destAddr,
      eastClient,
      extClient,
      destClient,
    };
  }

  // 2. data of every type, with TTLs
  private async load(): Promise<void> {
    const { say, plan, s } = this;
    say.heading(2, 'Data of every type, with TTLs, in both sources');
    const t = Date.now();
    const [e, x] = await this.abortable(
      Promise.all([
        loadKeys(s.eastClient, SHOP, plan.eastKeys, 1, this.signal),
        loadKeys(s.extClient, CACHE, plan.externalKeys, 2, this.signal),
      ]),
    );
    say.line(`east/orders: ${fmt(e.keys)} keys, ${fmt(e.withTtl)} with a TTL: ${uniqueTypes(SHOP)}`);
    say.line(`external:    ${fmt(x.keys)} keys, ${fmt(x.withTtl)} with a TTL: ${uniqueTypes(CACHE)}`);
    say.line(`loaded in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }

  // 3. Replica Of, with a live progress bar of the full sync
  private async fullSync(): Promise<void> {
    const { say, s } = this;
    say.heading(3, 'Replica Of: west/replica <- east/orders + external Redis, full sync');
    const eastUrl = await this.abortable(s.east.sourceUrl('orders'));
    say.line(`source east/orders: ${maskUri(eastUrl)}  (\`minirs db source-url east orders\`)`);
    say.line(`source external:    ${maskUri(s.external.url())}  (password URL-encoded)`);
    const t = Date.now();
    await this.abortable(s.west.replicaOf('replica', ['east/orders', s.external.url()]));
    if (say.tty) {
      this.bars = new cliProgress.MultiBar(
        {
          stream: this.io.stdout as NodeJS.WritableStream,
          format: '  {label} [{bar}] {percentage}%  {bytes}  {text}',
          barsize: 30,
          hideCursor: true,
          clearOnComplete: false,
          autopadding: true,
        },
        cliProgress.Presets.shades_classic,
      );
    }
    const bars = new Map<number, cliProgress.SingleBar>();
    const bytes = (r: SourceRow) =>
      r.raw.rdb_size > 0 ? `${mb(r.raw.rdb_transferred)} of ${mb(r.raw.rdb_size)}` : 'waiting for the RDB';
    let lastLine = 0;
    for (;;) {
      const b = await this.dest();
      const v = replicaStatus(b);
      const rows = this.rows(b);
      if (this.bars) {
        for (const r of rows) {
          const payload = {
            label: r.label.padEnd(11),
            bytes: bytes(r).padEnd(20),
            text: describeSource(r.view, v.replica_sync),
          };
          const bar = bars.get(r.view.uid);
          if (bar) bar.update(r.view.progress, payload);
          else bars.set(r.view.uid, this.bars.create(100, r.view.progress, payload));
        }
      } else if (Date.now() - lastLine >= 1000 || v.status === 'in-sync') {
        lastLine = Date.now();
        say.line(
          `${say.clock()}  ${rows.map((r) => `${r.label}: ${describeSource(r.view, v.replica_sync)} (${bytes(r)})`).join('  |  ')}`,
        );
      }
      if (v.replica_sync === 'stopped') this.stoppedError(v);
      if (v.status === 'in-sync' && rows.length === 2) break;
      if (Date.now() - t > SYNC_TIMEOUT_MS) {
        throw new MinirsError(
          ErrorCodes.TIMEOUT,
          `the full sync did not finish within ${SYNC_TIMEOUT_MS / 1000} s; see \`MINIRS_HOME=${this.home} minirs logs west syncer\``,
        );
      }
      await this.pause(150);
    }
    this.bars?.stop();
    this.bars = undefined;
    const keys = await this.abortable(s.destClient.dbsize());
    say.line(
      `full sync done in ${((Date.now() - t) / 1000).toFixed(1)} s: west/replica holds ${fmt(keys)} keys`,
    );
  }

  private stoppedError(v: ReplicaStatusView): never {
    throw new MinirsError(
      ErrorCodes.INTERNAL,
      `the sync of west/replica stopped: ${v.sources
        .filter((x) => x.last_error)
        .map((x) => x.last_error)
        .join('; ')}`,
    );
  }

  // 4. a bounded writer on both sources
  private startWriter(): void {
    const { plan, s } = this;
    this.writer = new Writer(
      [
        {
          name: 'east/orders',
          client: s.eastClient,
          ids: Math.floor(plan.eastKeys / SHOP.length),
          counter: (id) => `customer:${id}:visits`,
          list: (id) => `order:${id}:items`,
          hash: (id) => `order:${id}`,
          string: (id) => `order:${id}:note`,
        },
        {
          name: 'external',
          client: s.extClient,
          ids: Math.floor(plan.externalKeys / CACHE.length),
          counter: (id) => `hits:${id}`,
          list: (id) => `queue:${id}`,
          hash: (id) => `profile:${id}`,
          string: (id) => `session:${id}`,
        },
      ],
      plan.opsPerSecond,
      plan.writerMaxSeconds,
    );
    this.writer.start();
    this.lastOps = 0;
    this.lastAt = Date.now();
  }

  /** One line: time, the writer's rate since the last line, every source's status. */
  private statusLine(b: Bdb, note = ''): void {
    const v = replicaStatus(b);
    const now = Date.now();
    const ops = this.writer?.ops ?? 0;
    const rate = Math.round(((ops - this.lastOps) * 1000) / Math.max(1, now - this.lastAt));
    this.lastOps = ops;
    this.lastAt = now;
    const parts = this.rows(b).map((r) => `${r.label}: ${describeSource(r.view, v.replica_sync)}`);
    this.say.line(
      `${this.say.clock()}  ${String(rate).padStart(5)} writes/s  |  ${parts.join('  |  ')}${note}`,
    );
  }

  /**
   * Polls the destination every 200 ms and prints a status line every second, and at once when
   * the aggregate status changes, until `until` holds (or `seconds` have passed). Returns whether
   * any poll saw a status other than in-sync.
   */
  private async watch(o: {
    seconds?: number;
    until?: (v: ReplicaStatusView, sawTrouble: boolean, elapsedMs: number) => boolean;
    timeoutMs?: number;
    what?: string;
  }): Promise<{ sawTrouble: boolean; ms: number }> {
    const t = Date.now();
    let sawTrouble = false;
    let lastLine = Date.now();
    let lastStatus: string | undefined;
    for (;;) {
      await this.pause(200);
      const b = await this.dest();
      const v = replicaStatus(b);
      const elapsed = Date.now() - t;
      if (v.status !== 'in-sync') sawTrouble = true;
      if (Date.now() - lastLine >= 1000 || (lastStatus !== undefined && v.status !== lastStatus)) {
        this.statusLine(b);
        lastLine = Date.now();
      }
      lastStatus = v.status;
      if (v.replica_sync === 'stopped') this.stoppedError(v);
      if (o.seconds !== undefined && elapsed >= o.seconds * 1000) return { sawTrouble, ms: elapsed };
      if (o.until?.(v, sawTrouble, elapsed)) {
        if (Date.now() - lastLine > 100) this.statusLine(b);
        return { sawTrouble, ms: elapsed };
      }
      if (o.timeoutMs !== undefined && elapsed > o.timeoutMs) {
        throw new MinirsError(
          ErrorCodes.TIMEOUT,
          `west/replica did not ${o.what ?? 'recover'} within ${o.timeoutMs / 1000} s; see \`MINIRS_HOME=${this.home} minirs logs west syncer\``,
        );
      }
    }
  }

  private async syncCounts(sourceUid: number): Promise<SyncCounts> {
    const st = (await this.abortable(this.s.west.api.syncSourceStats(this.s.replica.uid))) as SyncSourceStats;
    const i = st.sync_source_stats.find((x) => x.uid === String(sourceUid))?.totals;
    return { full_syncs: i?.full_syncs ?? 0, partial_syncs: i?.partial_syncs ?? 0 };
  }

  // 5. a link partition, then a kill -9 of the syncer; the writer goes on
  private async faults(): Promise<void> {
    const { say, s, plan } = this;
    say.heading(5, 'Faults while the writer goes on: a cut link, then kill -9 of the syncer');
    const uid = s.replica.uid;
    const eastSource = this.sourceUid(await this.dest(), 'east/orders');

    const before = await this.syncCounts(eastSource);
    const cut = await this.abortable(
      s.west.api.createFault({ kind: 'partition', target: `source:${uid}/${eastSource}` }),
    );
    say.line(
      `${say.clock()}  POST /v1/faults {kind: partition, target: source:${uid}/${eastSource}} (the east/orders link) -> fault ${cut.id}`,
    );
    let faultOn = true;
    try {
      await this.watch({
        until: (_v, sawTrouble, ms) => sawTrouble && ms >= plan.partitionSeconds * 1000,
        timeoutMs: RECOVERY_TIMEOUT_MS,
        what: 'notice the cut link',
      });
      await this.abortable(s.west.api.deleteFault(cut.id));
      faultOn = false;
      say.line(`${say.clock()}  DELETE /v1/faults/${cut.id}: link healed`);
      const r = await this.watch({
        until: (v) => v.status === 'in-sync',
        timeoutMs: RECOVERY_TIMEOUT_MS,
        what: 'get back in sync after the cut link',
      });
      const after = await this.syncCounts(eastSource);
      const partial = after.partial_syncs - before.partial_syncs;
      const full = after.full_syncs - before.full_syncs;
      say.line(
        `recovered ${(r.ms / 1000).toFixed(1)} s after the heal: ${partial} partial resync${partial === 1 ? '' : 's'}, ` +
          `${full} full sync${full === 1 ? '' : 's'} of east/orders`,
      );
    } finally {
      if (faultOn) await s.west.api.deleteFault(cut.id).catch(() => {});
    }

    const kill = (await this.abortable(
      s.west.api.createFault({ kind: 'kill', target: `syncer:${uid}` }),
    )) as { id: string | number; pid?: number };
    say.line(
      `${say.clock()}  POST /v1/faults {kind: kill, target: syncer:${uid}} -> SIGKILL to pid ${kill.pid ?? '?'}; the watchdog restarts it`,
    );
    const syncerPid = () => s.west.processes().get(`syncer-${uid}`);
    let restartedPid: number | undefined;
    const r = await this.watch({
      until: (v, sawTrouble, ms) => {
        const pid = syncerPid();
        if (restartedPid === undefined && pid !== undefined && pid !== kill.pid) {
          restartedPid = pid;
          say.line(`${say.clock()}  the watchdog restarted the syncer as pid ${pid}`);
        }
        // A restarted syncer starts over with a full sync of every source; should it ever
        // resume without one, a new process reporting in-sync for 10 s is a recovery too.
        return v.status === 'in-sync' && restartedPid !== undefined && (sawTrouble || ms > 10_000);
      },
      timeoutMs: RECOVERY_TIMEOUT_MS,
      what: 'get back in sync after the syncer was killed',
    });
    const counts = await Promise.all(this.rows(await this.dest()).map((x) => this.syncCounts(x.view.uid)));
    const fulls = counts.reduce((n, c) => n + c.full_syncs, 0);
    const partials = counts.reduce((n, c) => n + c.partial_syncs, 0);
    say.line(
      `recovered ${(r.ms / 1000).toFixed(1)} s after the kill; the new syncer synced ${fulls} link${fulls === 1 ? '' : 's'} in full ` +
        `and ${partials} partially (a crashed syncer starts over)`,
    );
  }

  // 6. compare the sources with the destination, key by key
  private async compare(): Promise<CompareResult> {
    const { say, s } = this;
    say.heading(6, 'Compare: every key of both sources against west/replica');
    // Markers written after each source's last write: once all are in the destination, so is
    // everything before them, since order is kept per source shard link. 32 random keys miss a
    // shard of a 2-shard source with probability 2^-31.
    const nonce = randomPassword(6);
    const markers: string[] = [];
    for (const [name, c] of [
      ['east', s.eastClient],
      ['external', s.extClient],
    ] as const) {
      const p = c.pipeline();
      for (let i = 0; i < 32; i++) {
        const k = `demo:done:${name}:${nonce}:${i}`;
        markers.push(k);
        p.set(k, '1');
      }
      await this.abortable(p.exec());
    }
    const t = Date.now();
    for (;;) {
      const n = await this.abortable(s.destClient.exists(...markers));
      if (n === markers.length) break;
      if (Date.now() - t > 30_000) {
        throw new MinirsError(
          ErrorCodes.TIMEOUT,
          `only ${n} of ${markers.length} end markers reached west/replica within 30 s; see \`MINIRS_HOME=${this.home} minirs status west replica\``,
        );
      }
      await this.pause(50);
    }
    say.line(
      `the sources' last writes are in west/replica (${Date.now() - t} ms after the end markers were written)`,
    );
    const eastUrl = await this.abortable(s.east.sourceUrl('orders'));
    const destUri = `redis://${s.destAddr.host}:${s.destAddr.port}`;
    const tc = Date.now();
    say.line(`minirs compare ${maskUri(eastUrl)} ${maskUri(s.external.url())} ${destUri}`);
    const result = await this.abortable(compareDatabases([eastUrl, s.external.url()], destUri));
    say.line(
      `checked ${fmt(result.checked)} keys in ${((Date.now() - tc) / 1000).toFixed(1)} s: ` +
        `${result.missing} missing, ${result.extra} extra, ${result.different} different`,
    );
    for (const ex of result.examples) say.line(`  ${ex.problem.padEnd(9)} ${ex.key}: ${ex.detail}`);
    try {
      const perShard = async (c: StartedMiniCluster, bdbUid: number) =>
        (await this.abortable(c.api.listShards()))
          .filter((x) => x.bdb_uid === bdbUid)
          .sort((a, b) => Number(a.uid) - Number(b.uid))
          .map((x) => (x.stats ? fmt(x.stats.keys) : '?'))
          .join(' / ');
      say.line(
        `keys per shard (GET /v1/shards): east/orders ${await perShard(s.east, s.orders.uid)}, ` +
          `west/replica ${await perShard(s.west, s.replica.uid)}`,
      );
    } catch (err) {
      if (err instanceof DemoInterrupted) throw err;
      // Shard stats are a nicety; the verdict does not depend on them.
    }
    const bad = result.missing + result.extra + result.different;
    const lag = Math.max(0, ...replicaStatus(await this.dest()).sources.map((x) => x.lag));
    say.print(
      bad === 0
        ? `\nVERDICT: identical. west/replica equals its 2 sources key by key (${fmt(result.checked)} keys; lag now ${formatLag(lag)}).`
        : `\nVERDICT: DIFFERENT. west/replica has ${result.missing} missing, ${result.extra} extra and ${result.different} different keys.`,
    );
    return result;
  }

  /** Ends the demo with everything left running, and says how to look around and clean up. */
  keep(): void {
    const { say, home } = this;
    const minirs = `MINIRS_HOME=${home} node ${CLI_MAIN}`;
    say.print('\n== Kept: everything is still running ==');
    say.line(`Look around (or use \`MINIRS_HOME=${home} pnpm --silent minirs ...\` in the repository):`);
    say.line(`  ${minirs} status west replica --watch`);
    say.line(`  ${minirs} db list west`);
    say.line(`  ${minirs} logs west syncer`);
    const st = this.stage;
    if (st) {
      say.line(`  redis-cli -h ${st.destAddr.host} -p ${st.destAddr.port} dbsize          # west/replica`);
      say.line(
        `  redis-cli -h ${st.external.host} -p ${st.external.port} -a '${st.external.password}' --no-auth-warning dbsize   # the external source`,
      );
    }
    say.line('Clean up:');
    say.line(`  ${minirs} cluster delete west; ${minirs} cluster delete east`);
    if (this.redisPid !== undefined) {
      // Waits for it to exit: a redis-server on SIGTERM still writes its log on the way out, which
      // would race the rm -rf below.
      say.line(
        `  kill ${this.redisPid} && while kill -0 ${this.redisPid} 2>/dev/null; do sleep 0.1; done   # the external redis-server`,
      );
    }
    say.line(`  rm -rf ${home}`);
  }

  /** Stops the writer and the clients; idempotent. */
  async quiesce(): Promise<void> {
    this.bars?.stop();
    this.bars = undefined;
    await this.writer?.stop().catch(() => {});
    for (const c of this.clients.splice(0)) c.disconnect();
  }

  /** Leaves nothing behind: the clusters, the external redis-server, the home. */
  async cleanUp(): Promise<void> {
    const { say, home } = this;
    say.print('\n== Clean up ==');
    // Starts interrupted half-way still finish (or fail) on their own; wait, so the deletes see them.
    await Promise.all(this.pending);
    if (this.redisPid !== undefined && pidAlive(this.redisPid)) {
      process.kill(this.redisPid, 'SIGKILL');
      await waitForExit([this.redisPid], 5000);
      say.line(`external redis-server stopped (pid ${this.redisPid})`);
    }
    this.stage?.east.api.close();
    this.stage?.west.api.close();
    const names = listClusterNames(home);
    const deleted = await Promise.all(
      names.map((name) =>
        deleteCluster(name, { home, env: this.env }).then(
          () => name,
          (err: unknown) => {
            say.line(`could not delete cluster ${name}: ${(err as Error).message}`);
            return undefined;
          },
        ),
      ),
    );
    const done = deleted.filter((n): n is string => n !== undefined);
    if (done.length) say.line(`clusters deleted: ${done.join(', ')}`);
    // Whatever the deletes missed (a manager that died mid-create): the home is the demo's own,
    // so every process that carries it is one the demo started.
    const left = processesOfHome(home);
    const what = left.map((pid) => `${pid} (${processCmdline(pid).slice(0, 80) || '?'})`);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (left.length) {
      await waitForExit(left, 5000);
      say.line(`killed what the cluster deletes left: ${what.join(', ')}`);
    }
    rmSync(home, { recursive: true, force: true });
    say.line(`removed ${home}`);
  }
}

/**
 * Runs the demo; resolves with its exit code: 0 when the final compare is clean, 1 when it is
 * not, 130 when interrupted. Other failures throw (after the cleanup).
 */
export async function runDemo(io: CliIo, o: DemoOptions = {}): Promise<number> {
  const demo = new Demo(io, demoPlan(o.quick === true), o.signal);
  let code = 1;
  let interrupted = false;
  try {
    const r = await demo.run();
    code = r.missing + r.extra + r.different === 0 ? 0 : 1;
  } catch (err) {
    if (!(err instanceof DemoInterrupted)) {
      // The reason goes to stderr from the CLI; say here that what follows is the cleanup.
      demo.say.print(`\nThe demo failed: ${(err as Error).message}`);
      await demo.quiesce();
      if (o.keep) demo.keep();
      else await demo.cleanUp();
      throw err;
    }
    interrupted = true;
    code = 130;
  }
  await demo.quiesce();
  if (interrupted) demo.say.print('\nInterrupted.');
  if (o.keep && !interrupted) demo.keep();
  else await demo.cleanUp();
  demo.say.print(`demo took ${demo.say.elapsedSeconds().toFixed(0)} s`);
  return code;
}
