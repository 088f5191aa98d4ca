import { describe, expect, it } from 'vitest';
import {
  ErrorReply,
  type PlainReply,
  RespDecoder,
  type RespFrame,
  RespProtocolError,
  takeReplies,
  toPlainReply,
} from '../src/index.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function plain(wire: string): PlainReply {
  const frames = new RespDecoder().decodeAll(b(wire));
  expect(frames).toHaveLength(1);
  return toPlainReply(frames[0] as RespFrame);
}

function protocolError(fn: () => unknown): RespProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RespProtocolError) return err;
    throw err;
  }
  throw new Error('expected a RespProtocolError');
}

describe('takeReplies', () => {
  // What a replication handshake sees: replies, then bytes that are not RESP at all.
  const replies = '+OK\r\n-ERR unknown command\r\n:42\r\n$5\r\nhe\r\no\r\n*2\r\n$1\r\na\r\n*-1\r\n';
  const after = '\n\n\x00\xff garbage that must never be decoded';
  const stream = b(replies + after);

  it('gives nothing until every reply asked for is whole, at every cut', () => {
    const ends = [5, 27, 32, 43, 59];
    for (let cut = 0; cut <= stream.length; cut++) {
      const head = stream.subarray(0, cut);
      for (let count = 1; count <= ends.length; count++) {
        const r = takeReplies(head, count);
        if (cut < ends[count - 1]!) {
          expect(r, `cut ${cut} count ${count}`).toBeUndefined();
          continue;
        }
        expect(r!.end).toBe(ends[count - 1]);
        expect(r!.replies.map((f) => f.raw().toString('latin1')).join('')).toBe(
          replies.slice(0, ends[count - 1]),
        );
      }
    }
  });

  it('leaves what follows the replies undecoded', () => {
    const r = takeReplies(stream, 5)!;
    expect(stream.subarray(r.end).toString('latin1')).toBe(after);
    expect(takeReplies(stream, 0)).toEqual({ replies: [], end: 0 });
  });

  it('throws protocol errors with the offset into the buffer, and honours the decoder limits', () => {
    const garbage = protocolError(() => takeReplies(b('+OK\r\nHELLO\r\n'), 2));
    expect(garbage.offset).toBe(5);
    expect(garbage.reason).toMatch(/unknown type byte 'H'/);
    // The bad second reply is never reached when one reply is asked for.
    expect(takeReplies(b('+OK\r\nHELLO\r\n'), 1)!.end).toBe(5);
    const long = protocolError(() => takeReplies(b(`+${'A'.repeat(100)}`), 1, { maxLineLength: 64 }));
    expect(long.offset).toBe(0);
    expect(long.reason).toMatch(/line longer than 64 bytes/);
    const deep = protocolError(() => takeReplies(b('*1\r\n*1\r\n*1\r\n:1\r\n'), 1, { maxDepth: 2 }));
    expect(deep.reason).toMatch(/nested deeper than 2/);
    expect(takeReplies(b('*1\r\n*1\r\n:1\r\n'), 1, { maxDepth: 2 })!.end).toBe(12);
  });
});

describe('toPlainReply', () => {
  it('gives RESP2 replies as plain values', () => {
    expect(plain('+OK\r\n')).toBe('OK');
    expect(plain(':-12\r\n')).toBe(-12);
    expect(plain('$-1\r\n')).toBeNull();
    expect(plain('*-1\r\n')).toBeNull();
    expect(plain('$3\r\n\x00\r\n\r\n')).toEqual(b('\x00\r\n'));
    const err = plain('-WRONGPASS invalid username-password pair\r\n');
    expect(err).toBeInstanceOf(ErrorReply);
    expect((err as ErrorReply).code).toBe('WRONGPASS');
    expect((err as ErrorReply).message).toBe('WRONGPASS invalid username-password pair');
    expect(plain('*3\r\n$1\r\nk\r\n*1\r\n:1\r\n-ERR x\r\n')).toEqual([b('k'), [1], new ErrorReply('ERR x')]);
  });

  it('refuses RESP3-only types and attributes, at their offset', () => {
    for (const [wire, offset] of [
      ['_\r\n', 0],
      ['%1\r\n+a\r\n+b\r\n', 0],
      ['*2\r\n:1\r\n,1.5\r\n', 8],
      ['|1\r\n+a\r\n+b\r\n+OK\r\n', 0],
      ['!3\r\nERR\r\n', 0],
    ] as const) {
      const e = protocolError(() => plain(wire));
      expect(e.offset, wire).toBe(offset);
      expect(e.reason).toMatch(/where a RESP2 reply was expected/);
    }
  });
});
