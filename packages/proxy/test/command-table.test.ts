import { encodeCommand, RespDecoder, type RespFrame, readCommand } from '@minirs/resp';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, type StartedRedisServer } from '@minirs/harness';
import { CommandTable, keyPositions } from '../src/index.js';

/** Raw COMMAND reply bytes, decoded with our decoder. */
async function commandReply(r: StartedRedisServer): Promise<RespFrame> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: r.host, port: r.port });
    const d = new RespDecoder();
    s.on('data', (chunk) =>
      d.write(chunk, (f) => {
        s.destroy();
        resolve(f);
      }),
    );
    s.on('error', reject);
    s.write(encodeCommand(['COMMAND']));
  });
}

// Commands whose key positions come from every kind of key spec: index/range, negative
// lastkey, keyword search forwards and backwards, keynum, range with limit, subcommands.
const CASES: string[][] = [
  ['GET', 'k'],
  ['SET', 'k', 'v', 'EX', '10'],
  ['MSET', 'a', '1', 'b', '2', 'c', '3'],
  ['MGET', 'a', 'b', 'c'],
  ['DEL', 'a', 'b'],
  ['RENAME', 'a', 'b'],
  ['BLPOP', 'a', 'b', '0'],
  ['BLMOVE', 'a', 'b', 'LEFT', 'RIGHT', '0'],
  ['LMPOP', '2', 'a', 'b', 'LEFT'],
  ['ZUNIONSTORE', 'd', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
  ['ZINTERCARD', '2', 'a', 'b'],
  ['SINTERCARD', '3', 'a', 'b', 'c', 'LIMIT', '1'],
  ['EVAL', 'return 1', '2', 'k1', 'k2', 'arg'],
  ['EVAL', 'return 1', '0'],
  ['FCALL', 'f', '1', 'k1', 'a'],
  ['XREAD', 'COUNT', '2', 'STREAMS', 's1', 's2', '0', '0'],
  ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '10', 'STREAMS', 's1', '>'],
  ['XGROUP', 'CREATE', 's', 'g', '$'],
  ['OBJECT', 'ENCODING', 'k'],
  ['MEMORY', 'USAGE', 'k'],
  ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE', 'dst'],
  ['GEOSEARCHSTORE', 'dst', 'src', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'],
  ['SORT', 'k', 'LIMIT', '0', '1', 'BY', 'w_*', 'GET', 'o_*', 'STORE', 'dst'],
  ['SORT_RO', 'k', 'ALPHA'],
  ['BITOP', 'AND', 'd', 'a', 'b'],
  ['LCS', 'a', 'b'],
  ['COPY', 'a', 'b', 'REPLACE'],
  ['SMOVE', 'a', 'b', 'm'],
  ['PFMERGE', 'd', 'a', 'b'],
  ['XAUTOCLAIM', 's', 'g', 'c', '10', '0'],
  ['WATCH', 'a', 'b'],
  ['EXISTS', 'a', 'a', 'b'],
  ['BZMPOP', '1', '2', 'a', 'b', 'MIN'],
  ['ECHO', 'x'],
  ['INFO', 'keyspace'],
];

describe('command table from COMMAND key specs', () => {
  let redis: StartedRedisServer;
  let direct: Redis;
  let table: CommandTable;
  beforeAll(async () => {
    redis = await new RedisServer().start();
    direct = redis.client();
    table = CommandTable.fromReply(await commandReply(redis), '7');
  });
  afterAll(async () => {
    direct.disconnect();
    await redis.stop();
  });

  it('knows every command and subcommand redis-server lists', async () => {
    expect(table.size).toBe(Number(await direct.call('COMMAND', 'COUNT')));
    expect(table.get('object')?.subcommands?.has('encoding')).toBe(true);
    expect(table.get('blpop')?.arityOk(2)).toBe(false);
  });

  for (const args of CASES) {
    it(`finds the keys of ${args.join(' ')} where redis-server does`, async () => {
      const [frame] = new RespDecoder({ requests: true }).decodeAll(encodeCommand(args));
      const view = readCommand(frame!);
      const info = table.lookup(view);
      const pos: number[] = [];
      if (info) keyPositions(view, info, pos);
      const ours = pos.map((i) => args[i]);
      let theirs: string[] = [];
      try {
        theirs = (await direct.call('COMMAND', 'GETKEYS', ...args)) as string[];
      } catch (err) {
        // "The command has no key arguments" / "Invalid arguments": no keys.
        expect(String(err)).toMatch(/no key arguments|Invalid arguments/);
      }
      expect([...ours].sort()).toEqual([...theirs].sort());
    });
  }
});
