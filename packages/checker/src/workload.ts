import { Redis } from 'ioredis';
import {
  counterKey,
  dataKey,
  GROUPS,
  historyKey,
  type KeyKind,
  PER_GROUP,
  txCounterKey,
  txHistoryKey,
} from './keyspace.js';
import type { Rng } from './rng.js';

/**
 * One writer per source: a single connection, batches of pipelined commands in an order drawn
 * from the round's seed. Every command type of the issue: strings with TTLs and APPEND, INCR
 * counters, RPUSH histories, LPUSH+LTRIM, HSET/HINCRBY, SADD/SREM, ZADD/ZINCRBY, XADD, DEL (one
 * key and fanned out over groups), MSET over groups, PEXPIRE, a few big values, MULTI and EVAL on
 * one tag, and (sharded sources, when asked) FLUSHALL/FLUSHDB.
 *
 * A command's fate is ok (the source replied), refused (never sent: the connection was down) or
 * unknown (an error or a dropped connection: it may or may not have run). The oracle takes the
 * source's final state as the truth and uses these counts only to bound it.
 */

export interface WriterOptions {
  host: string;
  port: number;
  password?: string;
  prefix: string;
  /** FLUSHALL/FLUSHDB now and then (sharded sources only). */
  flush: boolean;
  /**
   * Flushes only in this first part of the writer's run (ms after start()): after the last one
   * the sources write a while more, so the round ends with keys to compare (a flush a moment
   * before the end left the oracle nothing: checker smoke, seed 1 --flush, 0 keys checked).
   */
  flushForMs?: number;
  /** Upper bound on commands sent, whatever the time. */
  maxOps: number;
  /** DEL and MSET over keys of several tag groups (fanned out by a sharded endpoint); default on. */
  crossSlot?: boolean;
  /**
   * Several sources, this one flushing: its flush erases the other sources' keys on the
   * destination too. `before` holds the other writers; `after` learns the marker this writer set
   * right after its flush (the flush is applied on the destination once the marker is there).
   */
  aroundFlush?: { before(): Promise<void>; after(markerKey: string, n: number): void };
}

/** The key a flushing writer sets right after each flush: its value counts the flushes. */
export function flushMarkerKey(prefix: string): string {
  return `${prefix}:{gm}:mark`;
}

export interface CounterFate {
  ok: number;
  unknown: number;
}

export interface WriterStats {
  prefix: string;
  sent: number;
  ok: number;
  unknown: number;
  refused: number;
  transactions: number;
  scripts: number;
  flushes: number;
  bigValues: number;
  /** The key generation at the end (another source's flushes each start one). */
  generation: number;
  /** First few error replies, for the report. */
  errors: string[];
}

const SCRIPT =
  "redis.call('INCR', KEYS[1]); redis.call('RPUSH', KEYS[2], ARGV[1]); redis.call('HINCRBY', KEYS[3], 'n', 1); return 1";

type Cmd = [string, ...(string | number | Buffer)[]];

function isNotSent(err: unknown): boolean {
  // ioredis refuses at once, without writing, when the connection is down and the offline queue is off.
  return /enableOfflineQueue|Connection is closed|isn't writeable/i.test(
    String((err as Error)?.message ?? err),
  );
}

export class SourceWriter {
  readonly stats: WriterStats;
  /** INCR fates per counter key (the oracle bounds the source's value by them). */
  readonly counters = new Map<string, CounterFate>();
  private readonly client: Redis;
  private readonly txClient: Redis;
  private seq = 0;
  private stopping = false;
  private done?: Promise<void>;
  private hold?: { opened: () => void; release: Promise<void> };
  /** Set once the source may have lost writes outside the workload (killed, flushed). */
  dataLost = false;
  /** The key generation written now (see keyspace.groupTag). */
  gen = 0;
  private gate?: { reached: () => void; release: () => void; open: Promise<void>; held: Promise<void> };
  private flushSeq = 0;

  constructor(
    private readonly o: WriterOptions,
    private readonly rng: Rng,
  ) {
    this.stats = {
      prefix: o.prefix,
      sent: 0,
      ok: 0,
      unknown: 0,
      refused: 0,
      transactions: 0,
      scripts: 0,
      flushes: 0,
      bigValues: 0,
      generation: 0,
      errors: [],
    };
    const opts = {
      host: o.host,
      port: o.port,
      ...(o.password ? { password: o.password } : {}),
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      retryStrategy: () => 100,
      connectTimeout: 2000,
      commandTimeout: 5000,
      lazyConnect: true,
    };
    this.client = new Redis(opts);
    this.txClient = new Redis(opts);
    this.client.on('error', () => {});
    this.txClient.on('error', () => {});
  }

  async connect(): Promise<void> {
    await Promise.all([this.client.connect(), this.txClient.connect()]);
  }

  private counterFate(key: string): CounterFate {
    let f = this.counters.get(key);
    if (!f) {
      f = { ok: 0, unknown: 0 };
      this.counters.set(key, f);
    }
    return f;
  }

  private noteError(err: unknown): void {
    if (this.stats.errors.length < 8)
      this.stats.errors.push(String((err as Error)?.message ?? err).slice(0, 200));
  }

  private key(kind: KeyKind, g = this.rng.int(0, GROUPS - 1)): string {
    return dataKey(this.o.prefix, g, kind, this.rng.int(0, PER_GROUP - 1), this.gen);
  }

  /** One plain command drawn from the mix, with what to do with its reply. */
  private nextCommand(): { cmd: Cmd; counter?: string } {
    const r = this.rng;
    const g = r.int(0, GROUPS - 1);
    const kind = r.weighted<string>([
      ['set', 10],
      ['setpx', 5],
      ['append', 5],
      ['incr', 10],
      ['hist', 8],
      ['lpush', 6],
      ['hset', 5],
      ['hincrby', 6],
      ['sadd', 5],
      ['srem', 2],
      ['zadd', 4],
      ['zincrby', 6],
      ['xadd', 4],
      ['del', 3],
      ['delmany', this.o.crossSlot === false ? 0 : 1],
      ['mset', this.o.crossSlot === false ? 0 : 2],
      ['pexpire', 3],
      ['persist', 1],
      ['big', 0.15],
    ]);
    switch (kind) {
      case 'set':
        return { cmd: ['SET', this.key('s', g), r.text(r.int(1, 64))] };
      case 'setpx':
        // 3-40 s: some expire during the round, on the source, and replicate as DEL.
        return { cmd: ['SET', this.key('s', g), r.text(r.int(1, 32)), 'PX', r.int(3000, 40_000)] };
      case 'append':
        return { cmd: ['APPEND', this.key('a', g), r.text(r.int(1, 16))] };
      case 'incr': {
        const k = counterKey(this.o.prefix, g, this.gen);
        return { cmd: ['INCR', k], counter: k };
      }
      case 'hist':
        return { cmd: ['RPUSH', historyKey(this.o.prefix, g, this.gen), ++this.seq] };
      case 'lpush': {
        const k = this.key('l', g);
        return { cmd: ['LPUSH', k, r.text(r.int(1, 12))] };
      }
      case 'hset':
        return { cmd: ['HSET', this.key('h', g), `f${r.int(0, 9)}`, r.text(r.int(1, 24))] };
      case 'hincrby':
        return { cmd: ['HINCRBY', this.key('h', g), `c${r.int(0, 3)}`, r.int(-5, 20)] };
      case 'sadd':
        return { cmd: ['SADD', this.key('set', g), `m${r.int(0, 40)}`, `m${r.int(0, 40)}`] };
      case 'srem':
        return { cmd: ['SREM', this.key('set', g), `m${r.int(0, 40)}`] };
      case 'zadd':
        return { cmd: ['ZADD', this.key('z', g), r.int(-1000, 1000) / 8, `e${r.int(0, 30)}`] };
      case 'zincrby':
        return { cmd: ['ZINCRBY', this.key('z', g), r.int(1, 9) / 4, `e${r.int(0, 30)}`] };
      case 'xadd':
        return { cmd: ['XADD', this.key('x', g), 'MAXLEN', 40, '*', 'f', r.text(r.int(1, 20))] };
      case 'del':
        return { cmd: ['DEL', this.key(r.pick<KeyKind>(['s', 'a', 'l', 'h', 'set', 'z', 'x']), g)] };
      case 'delmany':
        // Keys of several groups: the proxy of a sharded source fans it out.
        return { cmd: ['DEL', this.key('s', 0), this.key('l', 3), this.key('h', 5), this.key('z', 7)] };
      case 'mset':
        return {
          cmd: [
            'MSET',
            this.key('s', 1),
            r.text(8),
            this.key('s', 2),
            r.text(8),
            this.key('s', 6),
            r.text(8),
          ],
        };
      case 'pexpire':
        return {
          cmd: [
            'PEXPIRE',
            this.key(r.pick<KeyKind>(['l', 'h', 'set', 'z', 'x', 'a']), g),
            r.int(4000, 60_000),
          ],
        };
      case 'persist':
        return { cmd: ['PERSIST', this.key(r.pick<KeyKind>(['s', 'h', 'l']), g)] };
      default: {
        this.stats.bigValues++;
        return { cmd: ['SET', this.key('big', g), r.text(r.int(100_000, 600_000))] };
      }
    }
  }

  /** Preload before the sync starts, so the full sync has something to carry (and to be cut in). */
  async preload(keys: number): Promise<void> {
    const p = this.client.pipeline();
    for (let i = 0; i < keys; i++) {
      const g = i % GROUPS;
      const k = dataKey(this.o.prefix, g, 'pre', i);
      switch (i % 5) {
        case 0:
          p.set(k, this.rng.text(40));
          break;
        case 1:
          p.hset(k, 'a', this.rng.text(20), 'b', String(i));
          break;
        case 2:
          p.rpush(k, 'x', this.rng.text(10), 'z');
          break;
        case 3:
          p.zadd(k, i, 'm', i + 1, this.rng.text(6));
          break;
        default:
          p.sadd(k, 'p', this.rng.text(6));
      }
      if (i % 7 === 0) p.pexpire(k, 120_000 + i);
    }
    p.set(dataKey(this.o.prefix, 0, 'big', 99), this.rng.text(400_000));
    const res = (await p.exec()) ?? [];
    const bad = res.find(([e]) => e);
    if (bad) throw new Error(`preload of ${this.o.prefix} failed: ${String(bad[0])}`);
  }

  /**
   * While held, the next transaction stops after MULTI and its QUEUED commands and waits for
   * release (the nemesis injects a fault in between). Resolves once the transaction is open.
   */
  holdNextTransaction(release: Promise<void>): Promise<void> {
    return new Promise((opened) => {
      this.hold = { opened: () => opened(), release };
    });
  }

  private async transaction(): Promise<void> {
    const r = this.rng;
    const g = r.int(0, GROUPS - 1);
    const txc = txCounterKey(this.o.prefix, g, this.gen);
    const txh = txHistoryKey(this.o.prefix, g, this.gen);
    const th = dataKey(this.o.prefix, g, 'h', 0, this.gen);
    const seq = ++this.seq;
    this.stats.sent++;
    if (!this.hold && r.chance(0.35)) {
      this.stats.scripts++;
      try {
        await this.txClient.eval(SCRIPT, 3, txc, txh, th, seq);
        this.stats.ok++;
      } catch (err) {
        this.fate(err);
      }
      return;
    }
    this.stats.transactions++;
    const hold = this.hold;
    this.hold = undefined;
    try {
      // Each command on its own, awaited: a fault can land between MULTI and EXEC.
      const c = this.txClient;
      await c.call('MULTI');
      await c.call('INCR', txc);
      await c.call('RPUSH', txh, seq);
      await c.call('HINCRBY', th, 'n', 1);
      if (hold) {
        hold.opened();
        await hold.release;
      }
      const res = (await c.call('EXEC')) as unknown[] | null;
      if (!Array.isArray(res) || res.some((x) => x instanceof Error))
        this.fate(new Error(`EXEC: ${String(res)}`));
      else this.stats.ok++;
    } catch (err) {
      hold?.opened();
      this.fate(err);
      // A connection left inside MULTI would queue the next transaction's MULTI.
      await this.txClient.call('DISCARD').catch(() => {});
    }
  }

  private fate(err: unknown): void {
    if (isNotSent(err)) this.stats.refused++;
    else {
      this.stats.unknown++;
      this.noteError(err);
    }
  }

  private async batch(): Promise<void> {
    const n = this.rng.int(1, 10);
    const p = this.client.pipeline();
    const counters: (string | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      const { cmd, counter } = this.nextCommand();
      p.call(cmd[0], ...cmd.slice(1));
      counters.push(counter);
    }
    if (this.rng.chance(0.05)) {
      const k = historyKey(this.o.prefix, this.rng.int(0, GROUPS - 1), this.gen);
      p.call('LTRIM', k, -150, -1);
      counters.push(undefined);
    }
    for (let i = 0; i < PER_GROUP && this.rng.chance(0.3); i++) {
      p.call('LTRIM', this.key('l'), 0, 20);
      counters.push(undefined);
    }
    this.stats.sent += counters.length;
    let res: [Error | null, unknown][] = [];
    try {
      res = ((await p.exec()) ?? []) as [Error | null, unknown][];
    } catch (err) {
      res = counters.map(() => [err as Error, null]);
    }
    for (let i = 0; i < counters.length; i++) {
      const [err] = res[i] ?? [new Error('no reply')];
      const c = counters[i];
      if (!err) {
        this.stats.ok++;
        if (c) this.counterFate(c).ok++;
      } else if (isNotSent(err)) {
        this.stats.refused++;
      } else {
        this.stats.unknown++;
        this.noteError(err);
        if (c) this.counterFate(c).unknown++;
      }
    }
  }

  private async flush(): Promise<void> {
    const around = this.o.aroundFlush;
    if (around) await around.before();
    this.stats.flushes++;
    this.stats.sent++;
    this.dataLost = true;
    try {
      await this.client.call(this.rng.chance(0.5) ? 'FLUSHALL' : 'FLUSHDB');
      this.stats.ok++;
    } catch (err) {
      this.fate(err);
    }
    if (!around) return;
    // The marker comes after the flush in this source's stream (whether or not the flush ran:
    // its fate may be unknown), so the destination holds it only once the flush is applied.
    const n = ++this.flushSeq;
    const key = flushMarkerKey(this.o.prefix);
    for (let i = 0; i < 200 && !this.stopping; i++) {
      try {
        await this.client.call('SET', key, String(n));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    around.after(key, n);
  }

  /** Holds the writer after its current step; resolves once it is held (or stopped). */
  pause(): Promise<void> {
    if (this.gate) return this.gate.held;
    let reached = () => {};
    const held = new Promise<void>((r) => {
      reached = r;
    });
    let release = () => {};
    const open = new Promise<void>((r) => {
      release = r;
    });
    this.gate = { reached, release, open, held };
    if (!this.done || this.stopping) reached();
    return held;
  }

  /** Lets a held writer go on, writing keys of generation `gen` from now on. */
  resume(gen: number): void {
    this.gen = gen;
    const g = this.gate;
    this.gate = undefined;
    g?.release();
  }

  start(): void {
    const flushUntil = Date.now() + (this.o.flushForMs ?? Number.POSITIVE_INFINITY);
    this.done = (async () => {
      while (!this.stopping && this.stats.sent < this.o.maxOps) {
        const gate = this.gate;
        if (gate) {
          gate.reached();
          await gate.open;
          continue;
        }
        if (this.client.status !== 'ready' || this.txClient.status !== 'ready') {
          await new Promise((r) => setTimeout(r, 50));
          // The held transaction cannot start: let the nemesis go on.
          if (this.hold && this.txClient.status !== 'ready') {
            this.hold.opened();
            this.hold = undefined;
          }
          continue;
        }
        const step = this.rng.weighted<string>([
          ['batch', 20],
          ['tx', this.hold ? 1000 : 3],
          ['flush', this.o.flush && Date.now() < flushUntil ? 0.15 : 0],
        ]);
        if (step === 'batch') await this.batch();
        else if (step === 'tx') await this.transaction();
        else await this.flush();
        await new Promise((r) => setTimeout(r, this.rng.int(2, 12)));
      }
      this.hold?.opened();
      this.gate?.reached();
    })();
  }

  async stop(): Promise<WriterStats> {
    this.stopping = true;
    this.gate?.reached();
    this.gate?.release();
    await this.done;
    this.stats.generation = this.gen;
    return this.stats;
  }

  close(): void {
    this.client.disconnect();
    this.txClient.disconnect();
  }
}
