import { RespDecoder, toValue } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { differentialScript, type Step } from './differential-script.js';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

const CROSSSLOT = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";

/** Run the script on one connection; the raw bytes of every reply, in order. */
async function run(port: number, script: Step[]): Promise<Buffer[]> {
  const r = await RawClient.connect(port);
  try {
    const out: Buffer[] = [];
    for (const [args] of script) {
      r.send(...args);
      out.push(Buffer.from((await r.next(10_000)).raw()));
    }
    return out;
  } finally {
    r.close();
  }
}

function sortedValue(raw: Buffer): string {
  // Decode the bytes again and sort every array and set in the value.
  const f = new RespDecoder().decodeAll(raw)[0]!;
  const v = toValue(f, { strings: true });
  const norm = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(norm).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
      : x instanceof Set
        ? [...x].map(String).sort()
        : x;
  return JSON.stringify(norm(v));
}

describe('differential: the same script against redis-server, a 1-shard and a 4-shard database', () => {
  let plain: StartedRedisServer;
  let bed: StartedProxyTestBed;
  let oneShard: number;
  let fourShards: number;
  const script = differentialScript();

  beforeAll(async () => {
    plain = await new RedisServer().start();
    bed = await new ProxyTestBed().withShards(5).start();
    oneShard = (await bed.addDb({ shards: [bed.shards[0]!], sharding: false })).port;
    fourShards = (await bed.addDb({ shards: bed.shards.slice(1) })).port;
  });
  afterAll(async () => {
    await bed?.stop();
    await plain?.stop();
  });

  it(`has a few hundred commands (${script.length})`, () => {
    expect(script.length).toBeGreaterThan(250);
  });

  it('gives the same replies, except CROSSSLOT and order where RS documents them', async () => {
    const expected = await run(plain.port, script);
    const one = await run(oneShard, script);
    const four = await run(fourShards, script);
    const diffs: string[] = [];
    script.forEach(([args, flag], i) => {
      const cmd = args.join(' ');
      const want = expected[i]!.toString('latin1');
      const check = (name: string, got: Buffer, sharded: boolean) => {
        const text = got.toString('latin1');
        if (flag === 'ignore') return;
        if (flag === 'crossslot' && sharded) {
          if (text !== CROSSSLOT)
            diffs.push(`${name} #${i} ${cmd}: want CROSSSLOT, got ${JSON.stringify(text)}`);
          return;
        }
        const same = flag === 'sorted' ? sortedValue(got) === sortedValue(expected[i]!) : text === want;
        if (!same)
          diffs.push(`${name} #${i} ${cmd}: want ${JSON.stringify(want)}, got ${JSON.stringify(text)}`);
      };
      check('1-shard', one[i]!, false);
      check('4-shard', four[i]!, true);
    });
    expect(diffs).toEqual([]);
  });
});
