import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ControlConnection,
  type ControlMessage,
  connectControl,
  type ProxyDbConfig,
  type ProxyProcessConfig,
  type ProxyShardRoute,
} from '@minirs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort, RedisServer, type StartedRedisServer } from '@minirs/harness';
import { ShardKeyRules } from '../src/shard-key.js';
import type { ProxyConfigMessage } from '../src/proxy-process.js';

/**
 * A proxy process driven the way the cluster-manager drives it, without the manager: real
 * redis-servers as shards (requirepass = the internal password), `node dist/main.js` with a
 * MINIRS_PROC_CONFIG, and `config` messages over its control socket.
 *
 *   const bed = await new ProxyTestBed().withShards(4).start();
 *   const db = await bed.addDb({ uid: 1 });
 *   const c = bed.client(db);  ...  await bed.stop();
 */

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
export const INTERNAL_PASSWORD = 'internal-secret';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface DbOptions {
  tls_mode?: ProxyDbConfig['tls_mode'];
  enforce_client_authentication?: ProxyDbConfig['enforce_client_authentication'];
  client_certs?: string[];
  uid?: number;
  port?: number;
  /** Shards of this db (defaults to all the bed's shards). */
  shards?: StartedRedisServer[];
  sharding?: boolean;
  redis_pass?: string;
  admin_pass?: string;
  shard_key_regex?: { regex: string }[];
}

/** Even split of 16384 slots over n shards, like the manager's. */
export function slotRanges(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([Math.floor((i * 16384) / n), Math.floor(((i + 1) * 16384) / n) - 1]);
  return out;
}

const defaultRules = ShardKeyRules.compile(undefined);

/** Slot of a key under the given rules (RS defaults when omitted). */
export function slotOfKey(key: string, rules = defaultRules): number {
  const b = Buffer.from(key);
  return rules.slot(b, 0, b.length);
}

/** Index of the shard that serves `slot` when n shards split the slots evenly. */
export function shardOfSlot(slot: number, n: number): number {
  return slotRanges(n).findIndex(([a, b]) => slot >= a && slot <= b);
}

/** `perShard` keys (prefix + number) that land on each of n shards; index = shard. */
export function keysPerShard(n: number, perShard: number, prefix = 'k'): string[][] {
  const out: string[][] = Array.from({ length: n }, () => []);
  for (let i = 0; out.some((l) => l.length < perShard); i++) {
    const k = `${prefix}${i}`;
    const s = shardOfSlot(slotOfKey(k), n);
    if (out[s]!.length < perShard) out[s]!.push(k);
  }
  return out;
}

export class ProxyTestBed {
  private shardCount = 0;
  private extra: Partial<ProxyConfigMessage> = {};
  private processConfig: Partial<ProxyProcessConfig> = {};

  withShards(n: number): this {
    this.shardCount = n;
    return this;
  }

  /** Override fields of the proxy's MINIRS_PROC_CONFIG (TLS certificate paths...). */
  withProcessConfig(over: Partial<ProxyProcessConfig>): this {
    this.processConfig = over;
    return this;
  }

  withShardTimeout(ms: number): this {
    this.extra.shard_timeout_ms = ms;
    return this;
  }

  async start(): Promise<StartedProxyTestBed> {
    const shards = await Promise.all(
      Array.from({ length: this.shardCount }, () => new RedisServer().withPassword(INTERNAL_PASSWORD).start()),
    );
    try {
      const proxy = await startProxy(this.processConfig);
      return new StartedProxyTestBed(shards, proxy, this.extra);
    } catch (err) {
      await Promise.all(shards.map((s) => s.stop()));
      throw err;
    }
  }
}

export class StartedProxyTestBed {
  readonly dbs: ProxyDbConfig[] = [];
  private readonly clients: Redis[] = [];
  private nextUid = 1;

  constructor(
    readonly shards: StartedRedisServer[],
    readonly proxy: StartedProxy,
    private readonly extra: Partial<ProxyConfigMessage>,
  ) {}

  /** Route shards in order, slots split evenly; uid of route i is 100 + shard index. */
  routes(shards: StartedRedisServer[]): ProxyShardRoute[] {
    const ranges = slotRanges(shards.length);
    return shards.map((s, i) => ({
      uid: 100 + this.shards.indexOf(s),
      host: s.host,
      port: s.port,
      slot_start: ranges[i]![0],
      slot_end: ranges[i]![1],
      status: 'active' as const,
    }));
  }

  async dbConfig(o: DbOptions = {}): Promise<ProxyDbConfig> {
    const shards = o.shards ?? this.shards;
    return {
      uid: o.uid ?? this.nextUid++,
      name: `db${o.uid ?? this.nextUid}`,
      port: o.port ?? (await freePort()),
      redis_pass: o.redis_pass ?? '',
      admin_pass: o.admin_pass ?? 'admin-secret',
      sharding: o.sharding ?? shards.length > 1,
      shard_key_regex: o.shard_key_regex ?? [{ regex: '.*\\{(?<tag>.*)\\}.*' }, { regex: '(?<tag>.*)' }],
      tls_mode: o.tls_mode ?? 'disabled',
      enforce_client_authentication: o.enforce_client_authentication ?? 'disabled',
      client_certs: o.client_certs ?? [],
      shards: this.routes(shards),
    };
  }

  /** Add a database and wait until the proxy listens on its port. */
  async addDb(o: DbOptions = {}): Promise<ProxyDbConfig> {
    const db = await this.dbConfig(o);
    this.dbs.push(db);
    const ev = await this.apply(
      (e) => e.detail?.bdb_uid === db.uid && ['listening', 'listen-failed'].includes(e.event),
    );
    if (ev.event !== 'listening') throw new Error(`db ${db.uid}: ${JSON.stringify(ev.detail)}`);
    return db;
  }

  /** Send the current db list; resolves with the first event matching `until` (if given). */
  async apply(
    until?: (e: Extract<ControlMessage, { type: 'event' }>) => boolean,
  ): Promise<Extract<ControlMessage, { type: 'event' }>> {
    const wait = until ? this.proxy.waitForEvent(until) : null;
    this.proxy.control.send({ type: 'config', config: { dbs: this.dbs, ...this.extra } });
    if (wait) return wait;
    // No event to wait for: a stats request after the config is answered after it was applied.
    await this.proxy.control.request('stats');
    return { type: 'event', event: 'applied' };
  }

  client(db: ProxyDbConfig, opts: RedisOptions = {}): Redis {
    const c = new Redis({
      host: '127.0.0.1',
      port: db.port,
      password: db.redis_pass || undefined,
      maxRetriesPerRequest: 1,
      ...opts,
    });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  /** A client straight to shard i (as the proxy sees it). */
  shardClient(i: number): Redis {
    const c = this.shards[i]!.client();
    this.clients.push(c);
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.proxy.stop();
    await Promise.all(this.shards.map((s) => s.stop()));
  }
}

export interface StartedProxy {
  proc: ChildProcess;
  control: ControlConnection;
  dir: string;
  config: ProxyProcessConfig;
  events: Extract<ControlMessage, { type: 'event' }>[];
  stats: unknown[];
  waitForEvent(
    pred: (e: Extract<ControlMessage, { type: 'event' }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<ControlMessage, { type: 'event' }>>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startProxy(over: Partial<ProxyProcessConfig> = {}): Promise<StartedProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'minirs-proxy-'));
  const config: ProxyProcessConfig = {
    cluster: 'test',
    node_uid: 1,
    addr: '127.0.0.1',
    socket: join(dir, 'proxy.sock'),
    log_file: join(dir, 'proxy.log'),
    internal_password: INTERNAL_PASSWORD,
    tls_cert: join(dir, 'missing-cert.pem'),
    tls_key: join(dir, 'missing-key.pem'),
    ca_cert: join(dir, 'missing-ca.pem'),
    ...over,
  };
  const proc = spawn(process.execPath, [MAIN], {
    env: { ...process.env, MINIRS_PROC_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(proc);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 10_000;
  let control: ControlConnection | undefined;
  while (!control) {
    if (gone) throw new Error(`proxy exited during start: ${stderr}`);
    try {
      control = await connectControl(config.socket, undefined, 500);
    } catch {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`proxy control socket did not appear: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const events: Extract<ControlMessage, { type: 'event' }>[] = [];
  const stats: unknown[] = [];
  const waiters: {
    pred: (e: Extract<ControlMessage, { type: 'event' }>) => boolean;
    resolve: (e: Extract<ControlMessage, { type: 'event' }>) => void;
  }[] = [];
  let hello: () => void;
  const helloSeen = new Promise<void>((r) => {
    hello = r;
  });
  control.on('message', (m: ControlMessage) => {
    if (m.type === 'hello') hello();
    if (m.type === 'stats') stats.push(m.stats);
    if (m.type !== 'event') return;
    events.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await helloSeen;
  const conn = control;
  return {
    proc,
    control: conn,
    dir,
    config,
    events,
    stats,
    exited,
    waitForEvent(pred, timeoutMs = 10_000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out waiting for a proxy event')), timeoutMs);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
    async stop() {
      conn.close();
      if (!gone) {
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
