import { describe, expect, it } from 'vitest';
import {
  Double,
  ErrorReply,
  encodeCommand,
  encodeValue,
  Push,
  RespDecoder,
  type RespValue,
  RespWriter,
  SimpleString,
  toValue,
  VerbatimString,
} from '../src/index.js';
import { CHUNK_SIZES, chunks } from './streams.js';

const latin1 = (b: Buffer) => b.toString('latin1');

describe('RespWriter', () => {
  it('encodes commands as arrays of bulk strings', () => {
    expect(latin1(encodeCommand(['SET', 'k', Buffer.from([0, 13, 10]), 42, 10n]))).toBe(
      '*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\r\n\r\n$2\r\n42\r\n$2\r\n10\r\n',
    );
    expect(latin1(encodeCommand(['ECHO', 'héllo']))).toBe('*2\r\n$4\r\nECHO\r\n$6\r\nh\xc3\xa9llo\r\n');
  });

  it('writes every RESP2 and RESP3 type', () => {
    const w = new RespWriter(8);
    w.simple('OK')
      .error('ERR no')
      .integer(-7)
      .integer(2n ** 62n)
      .bulk(null)
      .bulk('')
      .array(null)
      .array(0);
    expect(latin1(w.finish())).toBe(
      '+OK\r\n-ERR no\r\n:-7\r\n:4611686018427387904\r\n$-1\r\n$0\r\n\r\n*-1\r\n*0\r\n',
    );
    w.null().double(1.5).double(Number.POSITIVE_INFINITY).double(Number.NaN).boolean(true).boolean(false);
    w.bigNumber(12345678901234567890n).blobError('SYNTAX bad').verbatim('txt', 'hi');
    w.map(1)
      .simple('k')
      .integer(1)
      .set(1)
      .integer(2)
      .push(1)
      .bulk('m')
      .attribute(1)
      .simple('a')
      .simple('b')
      .integer(3);
    expect(latin1(w.finish())).toBe(
      '_\r\n,1.5\r\n,inf\r\n,nan\r\n#t\r\n#f\r\n(12345678901234567890\r\n!10\r\nSYNTAX bad\r\n=6\r\ntxt:hi\r\n' +
        '%1\r\n+k\r\n:1\r\n~1\r\n:2\r\n>1\r\n$1\r\nm\r\n|1\r\n+a\r\n+b\r\n:3\r\n',
    );
  });

  it('splices raw frames and keeps finished segments intact while it grows', () => {
    const w = new RespWriter(4);
    const first = w.array(2).raw(Buffer.from('xx$1\r\na\r\nyy'), 2, 9).bulk('b').finish();
    const big = w.bulk(Buffer.alloc(10_000, 0x61)).finish();
    expect(latin1(first)).toBe('*2\r\n$1\r\na\r\n$1\r\nb\r\n');
    expect(big.length).toBe(10_000 + 10);
  });

  it('never lets CR or LF into a line', () => {
    expect(latin1(new RespWriter().error('ERR a\r\nb').finish())).toBe('-ERR a b\r\n');
  });
});

describe('values', () => {
  it('degrade to RESP2 the way Redis degrades them', () => {
    const v: RespValue = new Map<RespValue, RespValue>([
      ['a', new Set<RespValue>([1, 2])],
      ['b', null],
      ['c', true],
      ['d', new Double(1)],
      ['e', new VerbatimString('txt', Buffer.from('x'))],
    ]);
    expect(latin1(encodeValue(v, 2))).toBe(
      '*10\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n$1\r\nb\r\n$-1\r\n$1\r\nc\r\n:1\r\n$1\r\nd\r\n$1\r\n1\r\n$1\r\ne\r\n$1\r\nx\r\n',
    );
    expect(latin1(encodeValue(v, 3))).toBe(
      '%5\r\n$1\r\na\r\n~2\r\n:1\r\n:2\r\n$1\r\nb\r\n_\r\n$1\r\nc\r\n#t\r\n$1\r\nd\r\n,1\r\n$1\r\ne\r\n=5\r\ntxt:x\r\n',
    );
  });

  it('round-trip random RESP3 values through the decoder, however chunked', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const gen = (depth: number): RespValue => {
      switch (rand(depth > 3 ? 9 : 13)) {
        case 0:
          return null;
        case 1:
          return Buffer.from(Array.from({ length: rand(40) }, () => rand(256)));
        case 2:
          return rand(1000) - 500;
        case 3:
          return BigInt(rand(1 << 30)) * 10n ** 20n;
        case 4:
          return rand(2) === 1;
        case 5:
          return new SimpleString(`s${rand(100)}`);
        case 6:
          return new ErrorReply(`ERR e${rand(100)}`, rand(2) === 1);
        case 7:
          return new Double(rand(1000) / 8);
        case 8:
          return new VerbatimString('txt', Buffer.from(`v${rand(9)}`));
        case 9:
          return Array.from({ length: rand(5) }, () => gen(depth + 1));
        case 10:
          return new Push(Array.from({ length: 1 + rand(3) }, () => gen(depth + 1)));
        case 11:
          return new Set<RespValue>(Array.from({ length: rand(3) }, () => gen(depth + 1)));
        default:
          return new Map<RespValue, RespValue>(
            Array.from({ length: rand(3) }, () => [gen(depth + 1), gen(depth + 1)]),
          );
      }
    };
    const values = Array.from({ length: 300 }, () => gen(0));
    const stream = Buffer.concat(values.map((v) => encodeValue(v, 3)));
    for (const size of [stream.length, ...CHUNK_SIZES]) {
      const d = new RespDecoder();
      const out: RespValue[] = [];
      for (const c of chunks(stream, size)) d.write(c, (f) => out.push(toValue(f)));
      expect(out).toEqual(values);
    }
  });
});
