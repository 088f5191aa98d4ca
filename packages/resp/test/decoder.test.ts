import { describe, expect, it } from 'vitest';
import {
  isRespProtocolError,
  RespDecoder,
  type RespDecoderOptions,
  type RespProtocolError,
  RespType,
} from '../src/index.js';
import { CHUNK_SIZES, chunks, cutAt, decodePieces, REPLY_STREAMS, REQUEST_STREAMS } from './streams.js';

function expectSameAtEveryCut(stream: Buffer, opts?: RespDecoderOptions) {
  const whole = decodePieces([stream], opts);
  expect(whole.length).toBeGreaterThan(0);
  for (let cut = 0; cut <= stream.length; cut++) {
    expect(decodePieces(cutAt(stream, cut), opts), `cut at ${cut}`).toEqual(whole);
  }
  for (const size of CHUNK_SIZES) {
    expect(decodePieces(chunks(stream, size), opts), `chunks of ${size}`).toEqual(whole);
  }
  return whole;
}

describe('RespDecoder: replies', () => {
  for (const [name, text] of Object.entries(REPLY_STREAMS)) {
    it(`${name}: the same frames whatever the cut`, () => {
      const stream = Buffer.from(text, 'latin1');
      const frames = expectSameAtEveryCut(stream);
      // The raw bytes of the frames are the stream, in order, with nothing lost or doubled.
      expect(frames.map((f) => f.raw).join('')).toBe(text);
      expect(frames.at(-1)!.end).toBe(stream.length);
    });
  }

  it('decodes every stream concatenated, cut everywhere', () => {
    const stream = Buffer.from(Object.values(REPLY_STREAMS).join(''), 'latin1');
    expectSameAtEveryCut(stream);
  });

  it('gives each type its payload, length and nulls', () => {
    const [simple, nullBulk, bulk, nullArr, arr, map, push, verb, resp3null] = new RespDecoder().decodeAll(
      Buffer.from(
        '+OK\r\n$-1\r\n$4\r\na\r\nb\r\n*-1\r\n*2\r\n:1\r\n:-2\r\n%1\r\n+k\r\n#t\r\n>1\r\n+p\r\n=7\r\ntxt:abc\r\n_\r\n',
      ),
    );
    expect(simple!.type).toBe(RespType.SimpleString);
    expect(simple!.str()).toBe('OK');
    expect(nullBulk!.isNull).toBe(true);
    expect(bulk!.bytes().toString()).toBe('a\r\nb');
    expect(bulk!.length).toBe(4);
    expect(nullArr!.isNull).toBe(true);
    expect(arr!.elements.map((e) => e.int())).toEqual([1, -2]);
    expect(map!.length).toBe(1);
    expect(map!.elements.map((e) => e.type)).toEqual([RespType.SimpleString, RespType.Boolean]);
    expect(map!.elements[1]!.bool()).toBe(true);
    expect(push!.type).toBe(RespType.Push);
    expect(verb!.format).toBe('txt');
    expect(verb!.str()).toBe('abc');
    expect(resp3null!.isNull).toBe(true);
  });

  it('keeps attributes with the value they annotate', () => {
    const [f] = new RespDecoder().decodeAll(Buffer.from('|1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n'));
    expect(f!.type).toBe(RespType.BulkString);
    expect(f!.str()).toBe('v');
    expect(f!.start).toBe(0);
    expect(f!.headerStart).toBe(14);
    expect(f!.attributes!.elements.map((e) => e.str())).toEqual(['ttl', '5']);
  });

  it('hands out views that stay valid while later chunks arrive', () => {
    const d = new RespDecoder();
    const got: string[] = [];
    const held: ReturnType<typeof d.decodeAll> = [];
    for (const piece of ['$5\r\nhel', 'lo\r\n$3\r\nab', 'c\r\n+x', 'y\r\n']) {
      d.write(Buffer.from(piece), (f) => held.push(f));
      got.push(...held.map((f) => f.str()));
    }
    expect(held.map((f) => f.str())).toEqual(['hello', 'abc', 'xy']);
  });

  it('assembles a 64 MiB bulk string from 64 KiB chunks with one buffer', () => {
    const size = 64 * 1024 * 1024;
    const header = Buffer.from(`$${size}\r\n`);
    const body = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4096) body.writeUInt32LE(i, i);
    const stream = Buffer.concat([header, body, Buffer.from('\r\n+after\r\n')]);
    const d = new RespDecoder();
    const frames: ReturnType<typeof d.decodeAll> = [];
    const chunk = 64 * 1024;
    for (let i = 0; i < stream.length; i += chunk)
      d.write(stream.subarray(i, i + chunk), (f) => frames.push(f));
    expect(frames).toHaveLength(2);
    const [big, after] = frames;
    expect(big!.length).toBe(size);
    expect(big!.end - big!.start).toBe(header.length + size + 2);
    expect(big!.bytes().equals(body)).toBe(true);
    // Sized from the announced length: no doubling, no regrowth.
    expect(big!.buf.length).toBe(header.length + size + 2);
    expect(after!.str()).toBe('after');
  });

  it('counts offsets across chunks', () => {
    const d = new RespDecoder();
    const ends: number[] = [];
    for (const piece of ['+a\r', '\n:1', '\r\n$2\r\nxy\r', '\n'])
      d.write(Buffer.from(piece), () => ends.push(d.offset));
    expect(ends).toEqual([4, 8, 16]);
  });

  it('accepts 64 levels of nesting', () => {
    const stream = Buffer.from(`${'*1\r\n'.repeat(64)}:1\r\n`);
    let f = new RespDecoder().decodeAll(stream)[0]!;
    for (let i = 0; i < 63; i++) f = f.elements[0]!;
    expect(f.elements[0]!.int()).toBe(1);
  });

  it('takeBuffered returns what follows the last frame, for a switch to raw bytes', () => {
    const d = new RespDecoder();
    let rest: Buffer | undefined;
    d.write(Buffer.from('+FULLRESYNC abc 0\r\n$5\r\nREDIS0011'), (f) => {
      expect(f.str()).toBe('FULLRESYNC abc 0');
      rest = d.takeBuffered();
    });
    expect(rest!.toString()).toBe('$5\r\nREDIS0011');
    expect(d.buffered).toBe(0);
  });
});

describe('RespDecoder: requests', () => {
  for (const [name, text] of Object.entries(REQUEST_STREAMS)) {
    it(`${name}: the same frames whatever the cut`, () => {
      const stream = Buffer.from(text, 'latin1');
      const frames = expectSameAtEveryCut(stream, { requests: true });
      expect(frames.map((f) => f.raw).join('')).toBe(text);
    });
  }

  it('types inline lines as Inline without their line ending', () => {
    const frames = new RespDecoder({ requests: true }).decodeAll(Buffer.from('PING\r\nECHO x\n'));
    expect(frames.map((f) => [f.type, f.str()])).toEqual([
      [RespType.Inline, 'PING'],
      [RespType.Inline, 'ECHO x'],
    ]);
  });
});

interface Bad {
  input: string;
  offset: number;
  reason: RegExp;
  opts?: RespDecoderOptions;
}

const MALFORMED: Record<string, Bad> = {
  'bad type byte': { input: '+OK\r\n?x\r\n', offset: 5, reason: /unknown type byte '\?'/ },
  'bad type byte (binary)': { input: '\x00\r\n', offset: 0, reason: /unknown type byte 0x00/ },
  'negative bulk length': { input: '$-2\r\n', offset: 1, reason: /negative length -2/ },
  'negative array length': { input: '*-5\r\n', offset: 1, reason: /negative length/ },
  'negative map length': { input: '%-1\r\n', offset: 1, reason: /negative length/ },
  'huge bulk length': { input: '$99999999999999999999\r\n', offset: 1, reason: /exceeds/ },
  'bulk over 512 MiB': { input: '$536870913\r\n', offset: 1, reason: /536870913 exceeds 536870912/ },
  'huge array length': { input: '*4294967296\r\n', offset: 1, reason: /exceeds/ },
  'missing length': { input: '$\r\n', offset: 1, reason: /missing length/ },
  'non-digit length': { input: '*1x\r\n', offset: 2, reason: /invalid length/ },
  'missing CRLF after bulk': {
    input: '$3\r\nfooXY',
    offset: 7,
    reason: /expected CRLF after 3-byte bulk string/,
  },
  'bare LF': { input: '+OK\n', offset: 3, reason: /line feed without carriage return/ },
  'CR without LF': { input: ':1\rX', offset: 3, reason: /expected LF after CR/ },
  'bad integer': { input: ':12a\r\n', offset: 1, reason: /invalid integer/ },
  'empty integer': { input: ':\r\n', offset: 1, reason: /invalid integer/ },
  'bad boolean': { input: '#x\r\n', offset: 1, reason: /boolean/ },
  'bad null': { input: '_x\r\n', offset: 1, reason: /null must be empty/ },
  'bad double': { input: ',abc\r\n', offset: 1, reason: /invalid double/ },
  'bad big number': { input: '(1.5\r\n', offset: 1, reason: /invalid big number/ },
  'verbatim without format': { input: '=3\r\nabc\r\n', offset: 4, reason: /fmt/ },
  'streamed string': { input: '$?\r\n', offset: 1, reason: /streamed/ },
  'nesting deeper than 64': {
    input: `${'*1\r\n'.repeat(65)}:1\r\n`,
    offset: 256,
    reason: /nested deeper than 64/,
  },
  'nesting in maps': { input: `${'%1\r\n+k\r\n'.repeat(65)}:1\r\n`, offset: 64 * 8, reason: /nested deeper/ },
  'endless line': {
    input: `+${'x'.repeat(100)}`,
    offset: 0,
    reason: /without CRLF/,
    opts: { maxLineLength: 50 },
  },
  'request: argument not bulk': {
    input: '*1\r\n:1\r\n',
    offset: 4,
    reason: /expected '\$'/,
    opts: { requests: true },
  },
  'request: null argument': {
    input: '*1\r\n$-1\r\n',
    offset: 5,
    reason: /negative length/,
    opts: { requests: true },
  },
  'request: endless inline': {
    input: 'x'.repeat(70_000),
    offset: 0,
    reason: /inline command longer than 65536/,
    opts: { requests: true },
  },
};

describe('RespDecoder: malformed input', () => {
  for (const [name, bad] of Object.entries(MALFORMED)) {
    it(`${name}: protocol error at byte ${bad.offset}, whatever the cut`, () => {
      const stream = Buffer.from(bad.input, 'latin1');
      const cuts = stream.length > 1000 ? [0, 1, 1000, stream.length] : [...Array(stream.length + 1).keys()];
      for (const cut of cuts) {
        const d = new RespDecoder(bad.opts);
        let err: unknown;
        try {
          for (const piece of cutAt(stream, cut)) d.write(piece, () => {});
        } catch (e) {
          err = e;
        }
        expect(isRespProtocolError(err), `cut ${cut}: ${String(err)}`).toBe(true);
        const pe = err as RespProtocolError;
        expect(pe.code).toBe('MINIRS_ERR_PROTOCOL');
        expect(pe.offset, `cut ${cut}`).toBe(bad.offset);
        expect(pe.reason).toMatch(bad.reason);
        expect(pe.message).toContain(`at byte ${bad.offset}`);
        // A failed decoder stays failed instead of resynchronising on garbage.
        expect(() => d.write(Buffer.from('+OK\r\n'), () => {})).toThrow(pe);
      }
    });
  }

  it('reports the stream offset after earlier frames and chunks', () => {
    const d = new RespDecoder();
    const seen: string[] = [];
    d.write(Buffer.from('+one\r\n+tw'), (f) => seen.push(f.str()));
    d.write(Buffer.from('o\r\n'), (f) => seen.push(f.str()));
    expect(() => d.write(Buffer.from(':1\r\n$x\r\n'), (f) => seen.push(f.str()))).toThrow(
      expect.objectContaining({ offset: 17, code: 'MINIRS_ERR_PROTOCOL' }),
    );
    expect(seen).toEqual(['one', 'two', '1']);
  });

  it('a throwing handler keeps the rest of the chunk for the next write', () => {
    const d = new RespDecoder();
    let calls = 0;
    expect(() =>
      d.write(Buffer.from('+a\r\n+b\r\n'), () => {
        calls++;
        if (calls === 1) throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    const rest: string[] = [];
    d.write(Buffer.from('+c\r\n'), (f) => rest.push(f.str()));
    expect(rest).toEqual(['b', 'c']);
  });
});

describe('RespDecoder: edge cases Redis accepts', () => {
  it('requests: a zero or negative multibulk count is an empty command, as Redis ignores it', () => {
    const frames = new RespDecoder({ requests: true }).decodeAll(
      Buffer.from('*-10\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n'),
    );
    expect(frames.map((f) => f.length)).toEqual([-1, 0, -1, 1]);
  });

  it('requests: a non-numeric negative count is still a protocol error', () => {
    expect(() => new RespDecoder({ requests: true }).decodeAll(Buffer.from('*-x\r\n'))).toThrow(
      /invalid length/,
    );
  });

  it('replies nested far deeper than 64 levels decode when maxDepth allows it', () => {
    const depth = 5000;
    const input = Buffer.from(`${'*1\r\n'.repeat(depth)}:1\r\n+after\r\n`);
    const d = new RespDecoder({ maxDepth: 1_000_000 });
    const out: string[] = [];
    for (let i = 0; i < input.length; i += 777)
      d.write(input.subarray(i, i + 777), (f) => out.push(f.raw().toString()));
    expect(out).toHaveLength(2);
    expect(out[0]!.length).toBe(depth * 4 + 4);
    expect(out[1]).toBe('+after\r\n');
  });
});
