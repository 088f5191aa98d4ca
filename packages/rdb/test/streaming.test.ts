import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureSet, RedisServer, type StartedRedisServer } from '@minirs/harness';
import { parseRdbBuffer, parseRdbStream, type RdbEvent, RdbParser } from '../src/index.js';
import { canon } from './helpers/canon.js';
import { populate } from './helpers/populate.js';

const fx = fixtureSet('rdb');
const FIXTURES = fx.dir;
const files = fx.files;
const SIZES = [1, 2, 3, 5, 7, 13, 64, 128];
const OPTS = { modules: 'skip' as const, captureRaw: true, maxChunkItems: 10 };

describe('streaming: any chunking gives the same events', () => {
  let server: StartedRedisServer;
  const inputs: { name: string; data: Buffer }[] = [];

  beforeAll(async () => {
    server = await new RedisServer().withArgs('--enable-debug-command', 'yes', '--list-compress-depth', '1').start();
    const c = server.client();
    await populate(c);
    await c.call('SAVE');
    inputs.push({ name: 'generated (redis 7.0)', data: readFileSync(join(server.dir, 'dump.rdb')) });
    for (const f of files) inputs.push({ name: f, data: readFileSync(join(FIXTURES, f)) });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('chunk sizes 1, 2, 3, 5, 7, 13, 64, 128 for every fixture and a generated RDB', () => {
    expect(inputs.length).toBe(files.length + 1);
    for (const { name, data } of inputs) {
      const whole = canon([...parseRdbBuffer(data, OPTS)]);
      expect(whole.at(-1), name).toMatch(/"kind":"end"/);
      for (const size of SIZES) {
        expect(canon([...parseRdbBuffer(data, { ...OPTS, chunkSize: size })]), `${name} @${size}`).toEqual(
          whole,
        );
      }
    }
  });

  it('cut in two at every offset (every byte of small files, a stride of big ones)', () => {
    for (const { name, data } of inputs) {
      const whole = canon([...parseRdbBuffer(data, OPTS)]);
      const stride = data.length <= 2048 ? 1 : Math.ceil(data.length / 50);
      for (let cut = 0; cut <= data.length; cut += stride) {
        const p = new RdbParser(OPTS);
        const got: RdbEvent[] = [];
        p.write(data.subarray(0, cut));
        for (let ev = p.read(); ev; ev = p.read()) got.push(ev);
        p.write(data.subarray(cut));
        p.end();
        for (let ev = p.read(); ev; ev = p.read()) got.push(ev);
        expect(canon(got), `${name} cut at ${cut}`).toEqual(whole);
      }
    }
  });

  it('reports progress and leaves what follows the RDB', () => {
    const { data } = inputs[0];
    const p = new RdbParser();
    const progress: number[] = [];
    for (let off = 0; off < data.length; off += 4096) {
      p.write(data.subarray(off, off + 4096));
      while (p.read()) progress.push(p.bytesConsumed);
      expect(p.needsInput || p.done).toBe(true);
    }
    p.write(Buffer.from('+CONTINUE\r\n'));
    while (p.read()) progress.push(p.bytesConsumed);
    expect(p.done).toBe(true);
    expect(progress.at(-1)).toBe(data.length);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(p.remainder().toString()).toBe('+CONTINUE\r\n');
  });

  it('backpressure: the source is pulled only as far as the consumer reads', async () => {
    const { data } = inputs[0];
    let pulled = 0;
    let returned = false;
    const source: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]() {
        let off = 0;
        return {
          async next() {
            if (off >= data.length) return { done: true, value: undefined };
            pulled++;
            const chunk = data.subarray(off, off + 1024);
            off += 1024;
            return { done: false, value: chunk };
          },
          async return() {
            returned = true;
            return { done: true, value: undefined };
          },
        };
      },
    };
    let keys = 0;
    for await (const ev of parseRdbStream(source)) {
      if (ev.kind === 'keyStart' && ++keys === 3) break;
    }
    expect(returned).toBe(true);
    // Exactly the chunks a parser needs before it can give the third key, whatever the keys'
    // order (redis-server's dict order varies from run to run: a big value among the first keys
    // made "less than half the file" fail now and then).
    const p = new RdbParser();
    let needed = 0;
    let seen = 0;
    for (let off = 0; seen < 3 && off < data.length; off += 1024) {
      p.write(data.subarray(off, off + 1024));
      needed++;
      for (let ev = p.read(); ev && seen < 3; ev = p.read()) if (ev.kind === 'keyStart') seen++;
    }
    expect(seen).toBe(3);
    expect(needed).toBeLessThan(Math.ceil(data.length / 1024));
    expect(pulled, `${needed} of ${Math.ceil(data.length / 1024)} chunks`).toBe(needed);
  });
});

describe('bounded memory on a 1M-element list', () => {
  let server: StartedRedisServer;
  beforeAll(async () => {
    server = await new RedisServer().start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('yields it in chunks of at most maxChunkItems, buffering little', async () => {
    const c = server.client();
    const N = 1_000_000;
    for (let i = 0; i < N; i += 20_000) {
      const args: string[] = [];
      for (let j = i; j < i + 20_000; j++) args.push(`e${j}`);
      await c.rpush('big', ...args);
    }
    await c.sadd('bigset', ...Array.from({ length: 100_000 }, (_, i) => `m${i}`));
    await c.call('SAVE');
    const parser = new RdbParser({ maxChunkItems: 1000 });
    let elements = 0;
    let maxChunk = 0;
    let maxBuffered = 0;
    let first = '';
    let last = '';
    let members = 0;
    const heap0 = process.memoryUsage().heapUsed;
    let heapMax = heap0;
    let chunks = 0;
    for await (const ev of parseRdbStream(
      createReadStream(join(server.dir, 'dump.rdb'), { highWaterMark: 64 * 1024 }),
      {
        parser,
      },
    )) {
      maxBuffered = Math.max(maxBuffered, parser.bytesBuffered);
      if (ev.kind !== 'chunk') continue;
      if (ev.value.type === 'list') {
        if (!elements) first = ev.value.elements[0].toString();
        elements += ev.value.elements.length;
        maxChunk = Math.max(maxChunk, ev.value.elements.length);
        last = ev.value.elements.at(-1)!.toString();
      } else if (ev.value.type === 'set') members += ev.value.members.length;
      if (++chunks % 100 === 0) heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
    }
    expect(elements).toBe(N);
    expect(members).toBe(100_000);
    expect([first, last]).toEqual(['e0', `e${N - 1}`]);
    expect(maxChunk).toBe(1000);
    // One 64 KB read plus at most one quicklist node (8 KB listpacks by default).
    expect(maxBuffered).toBeLessThan(256 * 1024);
    // The whole list as Buffers would take well over 100 MB of heap.
    expect(heapMax - heap0).toBeLessThan(64 * 1024 * 1024);
  });
});
