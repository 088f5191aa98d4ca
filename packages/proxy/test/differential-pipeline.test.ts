import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { RedisServer, rng, type StartedRedisServer } from '@minirs/harness';
import { encodeCommand, RespDecoder } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { CROSSSLOT_REPLY, cutsEvery, encodeMix, generateMix, type MixStep } from './pipeline-mix.js';

/**
 * Pipelined differential (issue 16): seeded random mixes of transactions, plain and fan-out
 * commands written in one go into redis-server and into minirs endpoints (1 and 3 shards),
 * cut into every chunking; every reply must be the same bytes as redis-server's, except the
 * CROSSSLOT refusals RS documents for keys of several slots (see pipeline-mix.ts).
 */

/** Write `bytes` cut at `cuts` (each piece its own write, after the previous one left), read `count` replies. */
async function pipeline(port: number, bytes: Buffer, cuts: number[], count: number): Promise<Buffer[]> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const decoder = new RespDecoder();
  const replies: Buffer[] = [];
  let closed = false;
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    decoder.write(chunk, (f) => replies.push(Buffer.from(f.raw())));
    wake?.();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let from = 0;
    for (const at of [...cuts, bytes.length]) {
      await new Promise<void>((resolve) => socket.write(bytes.subarray(from, at), () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
      from = at;
    }
    const deadline = Date.now() + 20_000;
    while (replies.length < count && !closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return replies;
  } finally {
    socket.destroy();
  }
}

/** The first difference between `got` and `want`, with the commands around it, or null. */
function firstDiff(steps: MixStep[], want: Buffer[], got: Buffer[]): string | null {
  const n = Math.max(want.length, got.length);
  for (let i = 0; i < n; i++) {
    const w = want[i]?.toString('latin1');
    const g = got[i]?.toString('latin1');
    if (w === g) continue;
    const around = steps
      .slice(Math.max(0, i - 6), i + 1)
      .map((s, j) => `${Math.max(0, i - 6) + j}: ${s.args.join(' ')}${s.crossSlot ? ' (cross-slot)' : ''}`)
      .join('\n  ');
    return `reply ${i} of ${steps.length}: want ${JSON.stringify(w)}, got ${JSON.stringify(g)}\n  ${around}`;
  }
  return null;
}

describe('pipelined differential: transactions, plain and fan-out commands in every chunking', () => {
  let plain: StartedRedisServer;
  let bed: StartedProxyTestBed;
  let oneShard: number;
  let threeShards: number;

  beforeAll(async () => {
    plain = await new RedisServer().start();
    bed = await new ProxyTestBed().withShards(4).start();
    oneShard = (await bed.addDb({ shards: [bed.shards[0]!], sharding: false })).port;
    threeShards = (await bed.addDb({ shards: bed.shards.slice(1) })).port;
  });
  afterAll(async () => {
    await bed?.stop();
    await plain?.stop();
  });

  /** The replies redis-server gives: as is (1 shard), and with RS's CROSSSLOT refusals (sharded). */
  async function reference(steps: MixStep[]): Promise<{ one: Buffer[]; sharded: Buffer[] }> {
    const one = await pipeline(plain.port, encodeMix(steps), [], steps.length);
    const sharded = (await pipeline(plain.port, encodeMix(steps, true), [], steps.length)).map((b, i) =>
      steps[i]!.crossSlot ? Buffer.from(CROSSSLOT_REPLY) : b,
    );
    expect(one.length).toBe(steps.length);
    expect(sharded.length).toBe(steps.length);
    return { one, sharded };
  }

  async function check(seed: number, steps: MixStep[], cutsList: number[][]): Promise<string[]> {
    const ref = await reference(steps);
    const bytes = encodeMix(steps);
    const failures: string[] = [];
    for (const cuts of cutsList) {
      for (const [name, port, want] of [
        ['1-shard', oneShard, ref.one],
        ['3-shard', threeShards, ref.sharded],
      ] as const) {
        const got = await pipeline(port, bytes, cuts, steps.length);
        const diff = firstDiff(steps, want, got);
        if (diff)
          failures.push(
            `seed ${seed}, ${name}, cut at [${cuts.slice(0, 8).join(',')}${cuts.length > 8 ? ',...' : ''}]: ${diff}`,
          );
      }
      if (failures.length > 0) break;
    }
    return failures;
  }

  it('answers the pipeline of issue 16 as redis-server does (inline, 1 and 3 shards)', async () => {
    const steps: MixStep[] = [
      ['FLUSHALL'],
      ['MULTI'],
      ['INCR', 't:{a}:x'],
      ['EXEC'],
      ['MULTI'],
      ['INCR', 't:{a}:x'],
      ['EXEC'],
      ['SET', 'p', '1'],
    ].map((args) => ({ args, inline: true }));
    const ref = await reference(steps);
    expect(ref.one.map((b) => b.toString())).toEqual([
      '+OK\r\n',
      '+OK\r\n',
      '+QUEUED\r\n',
      '*1\r\n:1\r\n',
      '+OK\r\n',
      '+QUEUED\r\n',
      '*1\r\n:2\r\n',
      '+OK\r\n',
    ]);
    expect(await check(0, steps, [[]])).toEqual([]);
  });

  it('gives the same replies for small mixes cut at every offset', async () => {
    const failures: string[] = [];
    for (const seed of [1, 2, 3]) {
      const steps = generateMix(seed, 14);
      const len = encodeMix(steps).length;
      const cutsList = Array.from({ length: len - 1 }, (_, i) => [i + 1]);
      failures.push(...(await check(seed, steps, cutsList)));
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('gives the same replies for 30 seeded mixes in chunks of 1, 2, 3, 5, 7, 13, 64 and 128 bytes', async () => {
    const failures: string[] = [];
    for (let seed = 100; seed < 130; seed++) {
      const steps = generateMix(seed, 60 + (seed % 5) * 30);
      const len = encodeMix(steps).length;
      const sizes = [1, 2, 3, 5, 7, 13, 64, 128];
      // Every size for the first seeds, two random ones per seed after (the whole run stays short).
      const r = rng(seed);
      const chosen = seed < 104 ? sizes : [sizes[Math.floor(r() * 3)]!, sizes[3 + Math.floor(r() * 5)]!];
      failures.push(...(await check(seed, steps, [[], ...chosen.map((s) => cutsEvery(len, s))])));
      if (failures.length > 0) break;
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it('takes 200 pipelined MULTI/INCR/LPUSH/EXEC/SET blocks without an error (1 and 3 shards)', async () => {
    const steps: MixStep[] = [{ args: ['FLUSHALL'], inline: false }];
    for (let i = 0; i < 200; i++) {
      for (const args of [
        ['MULTI'],
        ['INCR', '{t}:n'],
        ['LPUSH', '{t}:l', String(i)],
        ['EXEC'],
        ['SET', `p${i}`, '1'],
      ])
        steps.push({ args, inline: false });
    }
    const bytes = encodeMix(steps);
    for (const port of [oneShard, threeShards]) {
      const got = await pipeline(port, bytes, [], steps.length);
      expect(got.length).toBe(steps.length);
      expect(got.filter((b) => b[0] === 0x2d).map(String)).toEqual([]);
      expect(got[steps.length - 2]!.toString()).toBe('*2\r\n:200\r\n:200\r\n');
    }
  });

  it('takes a few thousand commands with MULTI blocks through redis-cli --pipe with zero errors', async () => {
    const steps = generateMix(7, 0).slice(0, 1);
    const r = rng(7);
    for (let i = 0; steps.length < 4000; i++) {
      const tag = `t${Math.floor(r() * 20)}`;
      if (r() < 0.4) {
        steps.push({ args: ['MULTI'], inline: false });
        steps.push({ args: ['INCR', `{${tag}}:n`], inline: false });
        steps.push({ args: ['LPUSH', `{${tag}}:l`, String(i)], inline: false });
        steps.push({ args: ['LTRIM', `{${tag}}:l`, '0', '9'], inline: false });
        steps.push({ args: ['EXEC'], inline: false });
      } else if (r() < 0.5) {
        steps.push({ args: ['MSET', `a${i}`, '1', `b${i}`, '2'], inline: false });
      } else {
        steps.push({ args: ['HINCRBY', `{${tag}}:h`, 'f', '1'], inline: false });
      }
    }
    const input = Buffer.concat(steps.map((s) => encodeCommand(s.args)));
    const results: string[] = [];
    for (const port of [plain.port, oneShard, threeShards]) {
      const out = await redisCliPipe(port, input);
      results.push(
        out
          .match(/errors: (\d+), replies: (\d+)/)
          ?.slice(1)
          .join('/') ?? out,
      );
    }
    expect(results).toEqual([`0/${steps.length}`, `0/${steps.length}`, `0/${steps.length}`]);
  });
});

/** `redis-cli --pipe` into port with `input` on stdin; its last line ("errors: N, replies: M"). */
function redisCliPipe(port: number, input: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--pipe', '--pipe-timeout', '20'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('error', reject);
    p.on('exit', () => resolve(out.trim()));
    p.stdin.end(input);
  });
}
