import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterState } from '@minirs/common';
import { Redis } from 'ioredis';
import {
  compareDatabases,
  type FaultRequest,
  MiniCluster,
  type ReplicaStatusView,
  type StartedMiniCluster,
  waitFor,
} from '@minirs/local';
import type { Scenario, Step } from './scenario.js';

/** Runs one scenario in its own MINIRS_HOME and reports every step (minirs). */

export interface StepResult {
  index: number;
  kind: string;
  label: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  detail?: string;
  error?: string;
}

export interface ScenarioResult {
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  skipReason?: string;
  steps: StepResult[];
  home: string;
}

export interface RunOptions {
  /** MINIRS_HOME for the scenario's clusters; default a fresh folder, removed afterwards. */
  home?: string;
  /** Keep the clusters (stopped) and the home for a look. */
  keep?: boolean;
  onStep?: (r: StepResult) => void;
}

interface Writer {
  stop: boolean;
  ops: number;
  errors: number;
  lastError?: string;
  done: Promise<void>;
}

function kernelFaultsAvailable(): boolean {
  return process.getuid?.() === 0 && spawnSync('nft', ['list', 'tables'], { stdio: 'ignore' }).status === 0;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || !v) throw new Error(`${what} is required (a string)`);
  return v;
}

function num(v: unknown, dflt: number): number {
  return typeof v === 'number' ? v : dflt;
}

/** `{ k: v }` params of a fault step as the REST body. */
const FAULT_FIELDS = [
  'ms',
  'jitter_ms',
  'kbps',
  'bytes',
  'percent',
  'mode',
  'direction',
  'client',
  'peer',
  'duration_ms',
  'mechanism',
] as const;

class ScenarioRun {
  readonly clusters = new Map<string, StartedMiniCluster>();
  readonly writers = new Map<string, Writer>();
  readonly faultIds = new Map<string, { cluster: string; id: string }>();
  readonly clients: Redis[] = [];
  private readonly deadline: number;

  constructor(
    readonly sc: Scenario,
    readonly home: string,
  ) {
    this.deadline = Date.now() + sc.timeoutMs;
  }

  left(ms: number): number {
    return Math.max(1000, Math.min(ms, this.deadline - Date.now()));
  }

  cluster(name: unknown): StartedMiniCluster {
    const c = this.clusters.get(str(name, 'cluster'));
    if (!c) throw new Error(`cluster "${String(name)}" is not created in this scenario (create it in clusters: or with create_cluster)`);
    return c;
  }

  async createCluster(name: string, nodes: number): Promise<void> {
    const c = await new MiniCluster(name).withNodes(nodes).withHome(this.home).withStartTimeout(60_000).start();
    this.clusters.set(name, c);
  }

  async client(cluster: StartedMiniCluster, db: string): Promise<Redis> {
    const ep = await cluster.endpoint(db);
    const r = new Redis({ host: ep.host, port: ep.port, password: ep.password, maxRetriesPerRequest: 2, lazyConnect: false });
    r.on('error', () => {});
    this.clients.push(r);
    return r;
  }

  /** "cluster/db" -> the URI an ordinary client uses; anything else is taken as a URI. */
  async uriOf(ref: string): Promise<string> {
    const m = /^([a-z0-9][a-z0-9-]*)\/([^/]+)$/.exec(ref);
    if (!m || !this.clusters.has(m[1]!)) return ref;
    const ep = await this.clusters.get(m[1]!)!.endpoint(m[2]!);
    const cred = ep.password ? `:${encodeURIComponent(ep.password)}@` : '';
    return `redis://${cred}${ep.host}:${ep.port}`;
  }

  /** {db:<name>} in a target -> the database's uid in that cluster. */
  async expand(c: StartedMiniCluster, target: string): Promise<string> {
    let out = target;
    for (const m of target.matchAll(/\{db:([^}]+)\}/g)) out = out.replace(m[0], String((await c.db(m[1]!)).uid));
    return out;
  }

  async status(c: StartedMiniCluster, db: string): Promise<ReplicaStatusView> {
    return c.replicaStatus(db);
  }

  async step(s: Step): Promise<string | undefined> {
    const a = s.args;
    switch (s.kind) {
      case 'create_cluster':
        await this.createCluster(str(a.name, 'name'), num(a.nodes, 2));
        return undefined;
      case 'create_db': {
        const c = this.cluster(a.cluster);
        const b = await c.createDb({
          name: str(a.name, 'name'),
          shards: num(a.shards, 1),
          ...(a.memory !== undefined ? { memory: a.memory as string | number } : {}),
          ...(typeof a.password === 'string' ? { password: a.password } : {}),
        });
        return `bdb ${b.uid} on port ${b.port}`;
      }
      case 'load': {
        const c = this.cluster(a.cluster);
        const r = await this.client(c, str(a.db, 'db'));
        const keys = num(a.keys, 1000);
        const prefix = typeof a.prefix === 'string' ? a.prefix : 'load';
        const value = 'v'.repeat(num(a.value_bytes, 32));
        for (let i = 0; i < keys; i += 500) {
          // A batch is retried for a while: a node that was just healed may still be starting.
          for (let attempt = 1; ; attempt++) {
          const p = r.pipeline();
          for (let j = i; j < Math.min(keys, i + 500); j++) {
            // Every type, so a compare checks them all.
            switch (j % 6) {
              case 0:
                p.set(`${prefix}:s:${j}`, value);
                break;
              case 1:
                p.hset(`${prefix}:h:${j}`, 'f1', value, 'f2', String(j));
                break;
              case 2:
                p.rpush(`${prefix}:l:${j}`, value, String(j));
                break;
              case 3:
                p.sadd(`${prefix}:set:${j}`, value, String(j));
                break;
              case 4:
                p.zadd(`${prefix}:z:${j}`, j, value);
                break;
              default:
                p.xadd(`${prefix}:x:${j}`, '*', 'v', value);
            }
          }
          const res = await p.exec().catch((e: Error) => [[e, null]] as [Error | null, unknown][]);
          const err = res?.find(([e]) => e);
          if (!err) break;
          if (attempt >= 40 || Date.now() > this.deadline) throw new Error(`load failed: ${String(err[0])}`);
          await new Promise((res2) => setTimeout(res2, 250));
          }
        }
        return `${keys} keys`;
      }
      case 'writer_start': {
        const id = str(a.id, 'id');
        if (this.writers.has(id)) throw new Error(`writer "${id}" already runs`);
        const c = this.cluster(a.cluster);
        const r = await this.client(c, str(a.db, 'db'));
        const prefix = typeof a.prefix === 'string' ? a.prefix : id;
        const maxOps = num(a.max_ops, 200_000);
        const everyMs = num(a.every_ms, 2);
        const value = 'w'.repeat(num(a.value_bytes, 32));
        const w: Writer = { stop: false, ops: 0, errors: 0, done: Promise.resolve() };
        w.done = (async () => {
          while (!w.stop && w.ops < maxOps && Date.now() < this.deadline) {
            try {
              await r.set(`${prefix}:${w.ops % 1000}`, `${value}${w.ops}`);
              await r.incr(`${prefix}:ctr`);
              w.ops++;
            } catch (err) {
              w.errors++;
              w.lastError = (err as Error).message;
              await new Promise((res) => setTimeout(res, 50));
            }
            if (everyMs > 0) await new Promise((res) => setTimeout(res, everyMs));
          }
        })();
        this.writers.set(id, w);
        return `writing ${prefix}:*`;
      }
      case 'writer_stop': {
        const id = str(a.id, 'id');
        const w = this.writers.get(id);
        if (!w) throw new Error(`writer "${id}" was not started`);
        if (a.min_ops !== undefined) {
          const want = num(a.min_ops, 0);
          await waitFor(() => w.ops >= want || Date.now() > this.deadline, `writer ${id} to make ${want} writes`, this.left(120_000), 20);
        }
        w.stop = true;
        await w.done;
        this.writers.delete(id);
        if (a.max_errors !== undefined && w.errors > num(a.max_errors, 0)) {
          throw new Error(`writer ${id} had ${w.errors} errors (max ${String(a.max_errors)}); last: ${w.lastError}`);
        }
        return `${w.ops} writes, ${w.errors} errors`;
      }
      case 'replica_of': {
        const c = this.cluster(a.cluster);
        const sources = a.sources;
        if (!Array.isArray(sources) || sources.length === 0) throw new Error('sources must be a non-empty list');
        const b = await c.replicaOf(str(a.db, 'db'), sources.map(String), {
          ...(a.compression !== undefined ? { compression: num(a.compression, 0) } : {}),
        });
        return `bdb ${b.uid} replica of ${sources.join(', ')}`;
      }
      case 'sync': {
        const c = this.cluster(a.cluster);
        const action = str(a.action, 'action');
        const state = { start: 'enabled', stop: 'stopped', pause: 'paused' }[action];
        if (!state) throw new Error('action is start, stop or pause');
        const b = await c.db(str(a.db, 'db'));
        await c.api.updateBdb(b.uid, { replica_sync: state as 'enabled' });
        return `replica_sync ${state}`;
      }
      case 'fault': {
        const c = this.cluster(a.cluster);
        const body: FaultRequest = {
          kind: str(a.kind, 'kind') as FaultRequest['kind'],
          target: await this.expand(c, str(a.target, 'target')),
        };
        for (const f of FAULT_FIELDS) if (a[f] !== undefined) (body as unknown as Record<string, unknown>)[f] = a[f];
        const rec = await c.faults.inject(body);
        if (typeof a.id === 'string') this.faultIds.set(a.id, { cluster: c.name, id: rec.id });
        return `${rec.id} via ${String(rec.record.mechanism).split(' (')[0]}${rec.record.path ? ` on ${rec.record.path}` : ''}`;
      }
      case 'heal': {
        const ref = str(a.fault, 'fault');
        if (ref === 'all') {
          const names = a.cluster !== undefined ? [str(a.cluster, 'cluster')] : [...this.clusters.keys()];
          const healed: string[] = [];
          for (const n of names) healed.push(...(await this.cluster(n).faults.healAll()));
          return `healed ${healed.join(', ') || 'nothing'}`;
        }
        const f = this.faultIds.get(ref);
        if (!f) throw new Error(`no fault with id "${ref}" was injected in this scenario`);
        await this.cluster(f.cluster).api.deleteFault(f.id);
        return `healed ${f.id}`;
      }
      case 'wait': {
        const c = this.cluster(a.cluster);
        const db = str(a.db, 'db');
        const timeout = this.left(num(a.timeout_ms, 60_000));
        let last: ReplicaStatusView | undefined;
        const t0 = Date.now();
        try {
          await waitFor(
            async () => {
              last = await this.status(c, db);
              return matches(last, a);
            },
            `${c.name}/${db} ${describeWant(a)}`,
            timeout,
            100,
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`);
        }
        return `${describeWant(a)} after ${Date.now() - t0} ms`;
      }
      case 'assert': {
        const c = this.cluster(a.cluster);
        const db = str(a.db, 'db');
        const st = await this.status(c, db);
        if (!matches(st, a)) throw new Error(`expected ${describeWant(a)}; status: ${JSON.stringify(st)}`);
        if (a.keys !== undefined || a.min_keys !== undefined) {
          const n = await (await this.client(c, db)).dbsize();
          if (a.keys !== undefined && n !== a.keys) throw new Error(`expected ${String(a.keys)} keys, found ${n}`);
          if (a.min_keys !== undefined && n < num(a.min_keys, 0)) throw new Error(`expected >= ${String(a.min_keys)} keys, found ${n}`);
        }
        return describeWant(a);
      }
      case 'compare': {
        const srcs = a.sources;
        if (!Array.isArray(srcs) || srcs.length === 0) throw new Error('sources must be a non-empty list');
        const uris = await Promise.all(srcs.map((x) => this.uriOf(String(x))));
        const dest = await this.uriOf(str(a.destination, 'destination'));
        const deadline = Date.now() + this.left(num(a.timeout_ms, 30_000));
        for (;;) {
          const res = await compareDatabases(uris, dest);
          const diff = res.missing + res.extra + res.different;
          if (diff === 0 && res.checked > 0) return `${res.checked} keys equal`;
          if (Date.now() > deadline) {
            throw new Error(
              `compare: ${res.checked} checked, ${res.missing} missing, ${res.extra} extra, ${res.different} different; examples ${JSON.stringify(res.examples.slice(0, 3))}`,
            );
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      case 'reset_admin_pass': {
        const c = this.cluster(a.cluster);
        const b = await c.db(str(a.db, 'db'));
        await c.api.resetAdminPass(b.uid);
        return `new admin password for bdb ${b.uid}`;
      }
      case 'redis_config': {
        // Straight on every shard's redis-server (e.g. a small repl-backlog-size on a source).
        const c = this.cluster(a.cluster);
        const b = await c.db(str(a.db, 'db'));
        const set = (a.set ?? {}) as Record<string, unknown>;
        const state = JSON.parse(readFileSync(c.paths.state, 'utf8')) as ClusterState;
        for (const sh of state.shards.filter((x) => x.bdb_uid === b.uid)) {
          const r = new Redis({ host: sh.addr, port: sh.port, password: state.internal_password, maxRetriesPerRequest: 1 });
          r.on('error', () => {});
          try {
            for (const [k, v] of Object.entries(set)) await r.config('SET', k, String(v));
          } finally {
            r.disconnect();
          }
        }
        return Object.entries(set)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
      }
      case 'transaction': {
        const c = this.cluster(a.cluster);
        const r = await this.client(c, str(a.db, 'db'));
        const cmds = a.commands;
        if (!Array.isArray(cmds) || cmds.length === 0) throw new Error('commands must be a list of [command, args...]');
        const m = r.multi();
        for (const cmd of cmds as unknown[][]) m.call(String(cmd[0]), ...cmd.slice(1).map(String));
        const res = await m.exec();
        const err = res?.find(([e]) => e);
        if (err) throw new Error(`transaction failed: ${String(err[0])}`);
        return `${cmds.length} commands in MULTI/EXEC`;
      }
    }
  }

  async cleanup(keep: boolean): Promise<void> {
    for (const w of this.writers.values()) w.stop = true;
    await Promise.allSettled([...this.writers.values()].map((w) => w.done));
    for (const r of this.clients) r.disconnect();
    await Promise.allSettled([...this.clusters.values()].map((c) => (keep ? c.stop() : c.delete())));
  }
}

function matches(st: ReplicaStatusView, want: Record<string, unknown>): boolean {
  if (want.status !== undefined && st.status !== want.status) return false;
  if (want.replica_sync !== undefined && st.replica_sync !== want.replica_sync) return false;
  if (want.last_error !== undefined) {
    const re = new RegExp(String(want.last_error), 'i');
    if (!st.sources.some((s) => s.last_error && re.test(s.last_error))) return false;
  }
  if (want.min_lag_ms !== undefined && !st.sources.some((s) => s.lag >= num(want.min_lag_ms, 0))) return false;
  if (want.max_lag_ms !== undefined && !st.sources.every((s) => s.lag <= num(want.max_lag_ms, 0))) return false;
  return true;
}

function describeWant(a: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const k of ['status', 'replica_sync', 'last_error', 'min_lag_ms', 'max_lag_ms', 'keys', 'min_keys']) {
    if (a[k] !== undefined) parts.push(`${k}=${String(a[k])}`);
  }
  return parts.join(' ') || 'anything';
}

function label(s: Step): string {
  if (s.name) return s.name;
  const a = s.args;
  const bits = [a.cluster, a.db ?? a.name, a.kind, a.target, a.id, a.fault, a.action, a.status]
    .filter((x) => x !== undefined)
    .map(String);
  return `${s.kind}${bits.length ? ` ${bits.join(' ')}` : ''}`;
}

export async function runScenario(sc: Scenario, o: RunOptions = {}): Promise<ScenarioResult> {
  const t0 = Date.now();
  if (sc.requires.includes('kernel-faults') && !kernelFaultsAvailable()) {
    return {
      file: sc.file,
      name: sc.name,
      status: 'skipped',
      ms: 0,
      skipReason: 'needs kernel network faults (root and nftables; run scripts/setup as root)',
      steps: [],
      home: '',
    };
  }
  const home = o.home ?? mkdtempSync(join('/tmp', 'mrs-scn-'));
  const run = new ScenarioRun(sc, home);
  const steps: StepResult[] = [];
  let failed = false;
  const report = (r: StepResult) => {
    steps.push(r);
    o.onStep?.(r);
  };
  try {
    for (const [i, c] of sc.clusters.entries()) {
      const s0 = Date.now();
      try {
        await run.createCluster(c.name, c.nodes);
        report({ index: i, kind: 'create_cluster', label: `create_cluster ${c.name}`, status: 'passed', ms: Date.now() - s0, detail: `${c.nodes} nodes` });
      } catch (err) {
        failed = true;
        report({ index: i, kind: 'create_cluster', label: `create_cluster ${c.name}`, status: 'failed', ms: Date.now() - s0, error: (err as Error).message });
        break;
      }
    }
    for (const [i, s] of sc.steps.entries()) {
      const r: StepResult = { index: sc.clusters.length + i, kind: s.kind, label: label(s), status: 'skipped', ms: 0 };
      if (failed) {
        report(r);
        continue;
      }
      const s0 = Date.now();
      try {
        if (Date.now() > t0 + sc.timeoutMs) throw new Error(`the scenario's timeout_ms (${sc.timeoutMs}) has passed`);
        r.detail = await run.step(s);
        r.status = 'passed';
      } catch (err) {
        r.status = 'failed';
        r.error = (err as Error).message;
        failed = true;
      }
      r.ms = Date.now() - s0;
      report(r);
    }
  } finally {
    await run.cleanup(!!o.keep);
    if (!o.home && !o.keep) rmSync(home, { recursive: true, force: true });
  }
  return { file: sc.file, name: sc.name, status: failed ? 'failed' : 'passed', ms: Date.now() - t0, steps, home };
}
