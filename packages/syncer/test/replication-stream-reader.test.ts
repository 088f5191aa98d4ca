import { describe, expect, it } from 'vitest';
import { CommandStreamReader, type ReplicationCommand, ReplicationError } from '../src/replication/index.js';

const CHUNK_SIZES = [1, 2, 3, 5, 7, 13, 64, 128];

interface Seen {
  argv: string[];
  raw: string;
  offset: number;
}

function see(cmd: ReplicationCommand): Seen {
  return {
    argv: cmd.argv.map((a) => a.toString('latin1')),
    raw: cmd.raw.toString('latin1'),
    offset: cmd.offset,
  };
}

/** Feed `chunks` in order, draining after each, as the link does. */
function readAll(chunks: Buffer[], start = 0): Seen[] {
  const reader = new CommandStreamReader(start, 'test');
  const out: Seen[] = [];
  for (const c of chunks) {
    reader.feed(c);
    for (let cmd = reader.next(); cmd; cmd = reader.next()) out.push(see(cmd));
  }
  expect(reader.pendingBytes).toBe(0);
  return out;
}

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function mb(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a, 'latin1');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const big = Buffer.alloc(300, 0x61);
big[10] = 0x0d;
big[11] = 0x0a;
const PIECES: Buffer[] = [
  mb('PING'),
  Buffer.from('\n'),
  mb('SELECT', '3'),
  mb('SET', 'k\r\n', 'v\nal'),
  mb('SET', '', ''),
  Buffer.from('PING\r\n'),
  Buffer.from('*0\r\n'),
  mb('RPUSH', 'list', big, '*', '$3'),
  Buffer.from('  \r\n'),
  mb('REPLCONF', 'GETACK', '*'),
  Buffer.from('SET  a\tb\n'),
  mb('DEL', Buffer.from([0, 1, 2, 255])),
];
const STREAM = Buffer.concat(PIECES);

describe('CommandStreamReader', () => {
  const expected = (() => {
    let offset = 1000;
    return PIECES.map((p) => {
      offset += p.length;
      return offset;
    });
  })();

  it('reads multibulk, inline and keep-alive commands with the offset after each', () => {
    const out = readAll([STREAM], 1000);
    expect(out.map((c) => c.offset)).toEqual(expected);
    expect(out.map((c) => c.raw)).toEqual(PIECES.map((p) => p.toString('latin1')));
    expect(out[0]!.argv).toEqual(['PING']);
    expect(out[1]!.argv).toEqual([]);
    expect(out[3]!.argv).toEqual(['SET', 'k\r\n', 'v\nal']);
    expect(out[4]!.argv).toEqual(['SET', '', '']);
    expect(out[5]!.argv).toEqual(['PING']);
    expect(out[6]!.argv).toEqual([]);
    expect(out[7]!.argv[2]).toBe(big.toString('latin1'));
    expect(out[8]!.argv).toEqual([]);
    expect(out[10]!.argv).toEqual(['SET', 'a', 'b']);
    expect(Buffer.from(out[11]!.argv[1]!, 'latin1')).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('gives the same commands for a cut at every offset', () => {
    const whole = readAll([STREAM], 1000);
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const out = readAll([STREAM.subarray(0, cut), STREAM.subarray(cut)], 1000);
      expect(out, `cut at ${cut}`).toEqual(whole);
    }
  });

  it.each(CHUNK_SIZES)('gives the same commands in chunks of %i bytes', (size) => {
    expect(readAll(split(STREAM, size), 1000)).toEqual(readAll([STREAM], 1000));
  });

  it('hands out views of the fed chunk, not copies, when a command fits in one chunk', () => {
    const chunk = Buffer.from(mb('SET', 'key', 'value'));
    const reader = new CommandStreamReader(0);
    reader.feed(chunk);
    const cmd = reader.next()!;
    expect(cmd.argv[2]!.buffer).toBe(chunk.buffer);
    expect(cmd.raw.buffer).toBe(chunk.buffer);
  });

  it('keeps earlier commands intact while later bytes are merged behind them', () => {
    // A partial command is merged into a buffer that later chunks fill; commands already handed
    // out must not see their bytes change.
    const stream = Buffer.concat([mb('SET', 'a', '1'), mb('SET', 'b', 'x'.repeat(50)), mb('SET', 'c', '3')]);
    const reader = new CommandStreamReader(0);
    const kept: ReplicationCommand[] = [];
    for (const c of split(stream, 7)) {
      reader.feed(c);
      for (let cmd = reader.next(); cmd; cmd = reader.next()) kept.push(cmd);
    }
    expect(kept.map((c) => see(c).argv)).toEqual([
      ['SET', 'a', '1'],
      ['SET', 'b', 'x'.repeat(50)],
      ['SET', 'c', '3'],
    ]);
  });

  it('reads a 4 MiB argument arriving in 64 KiB chunks', () => {
    const value = Buffer.alloc(4 * 1024 * 1024, 0x7a);
    const stream = Buffer.concat([mb('SET', 'big', value), mb('PING')]);
    const out = readAll(split(stream, 64 * 1024));
    expect(out).toHaveLength(2);
    expect(out[0]!.argv[2]!.length).toBe(value.length);
    expect(out[1]!.offset).toBe(stream.length);
  });

  it('does not allocate what a header merely claims (garbage saying 4 GB)', () => {
    const before = process.memoryUsage().arrayBuffers;
    const reader = new CommandStreamReader(0);
    reader.feed(Buffer.from('*1\r\n$4000000000\r\nabc'));
    expect(reader.next()).toBeUndefined();
    reader.feed(Buffer.alloc(1024, 0x61));
    expect(reader.next()).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  const BAD: [string, Buffer, number, number][] = [
    // name, bytes (after a good SET), offset of the bad command, offset of the bad byte
    ['a non-bulk argument', Buffer.from('*2\r\n$3\r\nSET\r\n:1\r\n'), 0, 13],
    ['a non-numeric count', Buffer.from('*x\r\n'), 0, 1],
    ['no CRLF after an argument', Buffer.from('*1\r\n$3\r\nabcXY'), 0, 11],
    ['a reply in the stream', Buffer.from('+OK\r\n'), 0, 0],
    ['an error reply in the stream', Buffer.from('-ERR nope\r\n'), 0, 0],
    ['an overlong length', Buffer.from(`*1\r\n$${'9'.repeat(30)}\r\n`), 0, 5],
    ['CR without LF', Buffer.from('*1\r\r'), 0, 3],
    ['a negative length', Buffer.from('*1\r\n$-1\r\n'), 0, 4],
    ['an endless inline line', Buffer.alloc(70 * 1024, 0x41), 0, 0],
  ];

  it.each(BAD)('fails on %s with the same offsets however the bytes are cut', (_name, bad, cmdAt, byteAt) => {
    const good = mb('SET', 'k', 'v');
    const stream = Buffer.concat([good, bad]);
    const base = 5000 + good.length;
    const attempt = (chunks: Buffer[]): ReplicationError => {
      const reader = new CommandStreamReader(5000, 'test');
      try {
        for (const c of chunks) {
          reader.feed(c);
          for (let cmd = reader.next(); cmd; cmd = reader.next());
        }
      } catch (err) {
        return err as ReplicationError;
      }
      throw new Error('no error');
    };
    const cuts =
      bad.length > 1000 ? [0, good.length, stream.length - 1] : [...Array(stream.length + 1).keys()];
    for (const cut of cuts) {
      const err = attempt([stream.subarray(0, cut), stream.subarray(cut)]);
      expect(err).toBeInstanceOf(ReplicationError);
      expect(err.code).toBe('MINIRS_ERR_PROTOCOL');
      expect(err.offset, `cut ${cut}`).toBe(base + cmdAt);
      expect(err.byteOffset, `cut ${cut}`).toBe(base + byteAt);
      expect(err.message).toContain(`offset ${base + byteAt}`);
    }
    for (const size of CHUNK_SIZES) {
      const err = attempt(split(stream, size));
      expect(err.offset).toBe(base + cmdAt);
    }
  });
});
