import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import {
  describeLoadWrite,
  LOAD_MSET_KEYS,
  RdbLoader,
  type RdbLoadWrite,
  type RdbLoadWriter,
  type RdbWriteReply,
} from '../src/index.js';
import { compareServers } from './helpers/compare.js';
import { populate } from './helpers/populate.js';

const DEBUG = ['--enable-debug-command', 'yes'];

/** A pipelined ioredis connection with a window of `size` unanswered writes; it records what went out. */
class WindowWriter implements RdbLoadWriter {
  inFlight = 0;
  maxInFlight = 0;
  readonly sent: string[][] = [];
  private waiters: (() => void)[] = [];
  constructor(
    private readonly client: Redis,
    private readonly size: number,
  ) {}
  write(args: ReadonlyArray<string | Buffer>, onReply: (reply: RdbWriteReply) => void): void {
    if (this.inFlight >= this.size) throw new Error('write past the window');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.sent.push([String(args[0]), ...(args[0] === 'MSET' ? [String(args.length)] : [])]);
    const done = (reply: RdbWriteReply) => {
      this.inFlight--;
      onReply(reply);
      this.waiters.shift()?.();
    };
    this.client.callBuffer(String(args[0]), ...args.slice(1)).then(
      () => done({ kind: 'ok' }),
      (err: Error) => done({ kind: 'error', error: err.message }),
    );
  }
  hasRoom(): boolean {
    return this.inFlight < this.size;
  }
  capacity(): Promise<void> {
    return this.hasRoom() ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/** Feeds `rdb` to the loader in `chunk`-byte pieces, loading after each, as the syncer does. */
async function loadInChunks(loader: RdbLoader, w: RdbLoadWriter, rdb: Buffer, chunk: number): Promise<void> {
  for (let at = 0; at < rdb.length; at += chunk) {
    loader.parser.write(rdb.subarray(at, at + chunk));
    await loader.load(w);
  }
  loader.parser.end();
  await loader.load(w);
}

describe('RdbLoader into a live redis-server 7', () => {
  let source: StartedRedisServer;
  let target: StartedRedisServer;
  let sc: Redis;
  let tc: Redis;
  let rdb: Buffer;

  beforeAll(async () => {
    source = await new RedisServer().withArgs(...DEBUG).start();
    target = await new RedisServer().withArgs(...DEBUG).start();
    sc = source.client();
    tc = target.client();
    await populate(sc);
    // Enough plain strings for several MSETs.
    const p = sc.pipeline();
    for (let i = 0; i < 1000; i++) p.set(`plain:${i}`, `v${i}`);
    await p.exec();
    await sc.call('SAVE');
    rdb = readFileSync(join(source.dir, 'dump.rdb'));
  });
  afterAll(async () => {
    await source?.stop();
    await target?.stop();
  });

  for (const [window, chunk] of [
    [1, 7],
    [64, 64 * 1024],
  ] as const) {
    it(`every db, type and TTL arrives (window ${window}, ${chunk}-byte chunks), never past the window`, async () => {
      await tc.flushall();
      const w = new WindowWriter(tc, window);
      const errors: string[] = [];
      const outcomes = new Map<string, number>();
      const loader = new RdbLoader({
        planner: { targetRdbVersion: 10, now: Date.now },
        onWriteError: (e, write) => errors.push(`${describeLoadWrite(write)}: ${e}`),
        onKey: (_k, outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1),
        selectDb: async (db) => {
          // The window drains first: SELECT changes what every later write means.
          while (w.inFlight > 0) await new Promise((r) => setTimeout(r, 1));
          await tc.select(db);
          return true;
        },
      });
      await loadInChunks(loader, w, rdb, chunk);
      while (w.inFlight > 0) await new Promise((r) => setTimeout(r, 1));
      await tc.select(0);
      expect(errors).toEqual([]);
      expect(w.maxInFlight).toBeLessThanOrEqual(window);
      const msets = w.sent.filter((c) => c[0] === 'MSET');
      // A batch goes at the end of each load(): with tiny chunks the strings go one SET each.
      if (chunk > 4096) expect(msets.length).toBeGreaterThanOrEqual(1000 / LOAD_MSET_KEYS);
      expect(msets.every((c) => (Number(c[1]) - 1) / 2 <= LOAD_MSET_KEYS)).toBe(true);
      const n = await compareServers(sc, tc);
      expect(outcomes.get('load')).toBe(n);
    });
  }

  it('without selectDb only db 0 loads; the other dbs are counted, not written', async () => {
    await tc.flushall();
    const w = new WindowWriter(tc, 16);
    const outcomes = new Map<string, number>();
    const loader = new RdbLoader({
      planner: { targetRdbVersion: 10, now: Date.now },
      onWriteError: (e) => {
        throw new Error(e);
      },
      onKey: (_k, outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1),
    });
    await loadInChunks(loader, w, rdb, 4096);
    while (w.inFlight > 0) await new Promise((r) => setTimeout(r, 1));
    expect(await tc.dbsize()).toBe(await sc.dbsize());
    await sc.select(3);
    const db3 = await sc.dbsize();
    await sc.select(0);
    expect(db3).toBeGreaterThan(0);
    expect(outcomes.get('other-db')).toBe(db3);
  });

  it('a write the target refuses is reported once, with what it was, and the load goes on', async () => {
    await tc.flushall();
    await tc.config('SET', 'maxmemory', '1');
    await tc.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      const w = new WindowWriter(tc, 8);
      const refused: { error: string; write: RdbLoadWrite }[] = [];
      const loader = new RdbLoader({
        planner: { targetRdbVersion: 10, now: Date.now },
        onWriteError: (error, write) => refused.push({ error, write }),
      });
      await loadInChunks(loader, w, rdb, 64 * 1024);
      while (w.inFlight > 0) await new Promise((r) => setTimeout(r, 1));
      expect(refused.length).toBe(w.sent.length);
      expect(refused[0]!.error).toMatch(/^OOM/);
      const mset = refused.find((r) => r.write.command === 'MSET')!;
      expect(describeLoadWrite(mset.write)).toMatch(/^MSET of \d+ keys from \S+/);
      expect(await tc.dbsize()).toBe(0);
    } finally {
      await tc.config('SET', 'maxmemory', '0');
    }
  });
});
