import { describe, expect, it } from 'vitest';
import { RdbAuxScanner, RdbTransferReader, ReplicationError } from '../src/replication/index.js';

const CHUNK_SIZES = [1, 2, 3, 5, 7, 13, 64, 128];

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Feed chunks; return the payload and the bytes after it (rest of the chunk that ended it + later chunks). */
function transfer(chunks: Buffer[]) {
  const reader = new RdbTransferReader('test');
  const payload: Buffer[] = [];
  const after: Buffer[] = [];
  let done = false;
  for (const c of chunks) {
    if (done) {
      after.push(c);
      continue;
    }
    const out: Buffer[] = [];
    const rest = reader.feed(c, out);
    payload.push(...out);
    if (rest !== undefined) {
      done = true;
      after.push(rest);
    }
  }
  return {
    done,
    payload: Buffer.concat(payload),
    after: Buffer.concat(after),
    transferred: reader.transferred,
    keepAlives: reader.keepAlives,
    header: reader.header,
  };
}

const MARK = Buffer.from('0123456789abcdef0123456789abcdef01234567');
const STREAM_AFTER = Buffer.from('*1\r\n$4\r\nPING\r\n');
// Payload with near-misses of the mark: its first 39 bytes, and its last 39.
const PAYLOAD = Buffer.concat([
  Buffer.from('REDIS0010'),
  MARK.subarray(0, 39),
  Buffer.from([0, 255, 13, 10, 10]),
  MARK.subarray(1),
  Buffer.alloc(200, 7),
]);

describe('RdbTransferReader', () => {
  const cases: [string, Buffer][] = [
    [
      'diskless ($EOF:<mark>)',
      Buffer.concat([Buffer.from(`\n\n$EOF:${MARK}\r\n`), PAYLOAD, MARK, STREAM_AFTER]),
    ],
    [
      'disk-based ($<len>)',
      Buffer.concat([Buffer.from(`\n\n$${PAYLOAD.length}\r\n`), PAYLOAD, STREAM_AFTER]),
    ],
  ];

  it.each(cases)('%s: payload and following stream are exact for a cut at every offset', (_name, bytes) => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = transfer([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(r.done, `cut ${cut}`).toBe(true);
      expect(r.payload.equals(PAYLOAD), `cut ${cut}`).toBe(true);
      expect(r.after.equals(STREAM_AFTER), `cut ${cut}`).toBe(true);
      expect(r.transferred).toBe(PAYLOAD.length);
      expect(r.keepAlives).toBe(2);
    }
  });

  it.each(cases)('%s: the same in chunks of 1, 2, 3, 5, 7, 13, 64, 128 bytes', (_name, bytes) => {
    for (const size of CHUNK_SIZES) {
      const r = transfer(split(bytes, size));
      expect(r.payload.equals(PAYLOAD), `size ${size}`).toBe(true);
      expect(r.after.equals(STREAM_AFTER), `size ${size}`).toBe(true);
    }
  });

  it('reports the announced size and mark', () => {
    expect(transfer([cases[0]![1]]).header).toEqual({ kind: 'eof', mark: MARK });
    expect(transfer([cases[1]![1]]).header).toEqual({ kind: 'length', size: PAYLOAD.length });
  });

  it('is not done while the mark has not fully arrived', () => {
    const bytes = Buffer.concat([Buffer.from(`$EOF:${MARK}\r\n`), PAYLOAD, MARK.subarray(0, 39)]);
    const r = transfer([bytes]);
    expect(r.done).toBe(false);
    expect(r.payload.length).toBeLessThanOrEqual(PAYLOAD.length);
  });

  it.each([
    ['-ERR BGSAVE failed\r\n', 'MINIRS_ERR_CONNECTION', true],
    ['+OK\r\n', 'MINIRS_ERR_PROTOCOL', false],
    ['$abc\r\n', 'MINIRS_ERR_PROTOCOL', false],
    ['$EOF:short\r\n', 'MINIRS_ERR_PROTOCOL', false],
    ['x'.repeat(2000), 'MINIRS_ERR_PROTOCOL', false],
  ])('classifies a bad header %j', (header, code, retryable) => {
    for (const size of [1, 7, 4096]) {
      let caught: unknown;
      try {
        transfer(split(Buffer.from(`\n${header}`), size));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ReplicationError);
      expect((caught as ReplicationError).code).toBe(code);
      expect((caught as ReplicationError).retryable).toBe(retryable);
    }
  });
});

/** RDB string helpers for a hand-built RDB head. */
function rdbStr(s: string): Buffer {
  const b = Buffer.from(s);
  if (b.length < 64) return Buffer.concat([Buffer.from([b.length]), b]);
  return Buffer.concat([Buffer.from([0x40 | (b.length >> 8), b.length & 0xff]), b]);
}
const aux = (k: Buffer, v: Buffer) => Buffer.concat([Buffer.from([0xfa]), k, v]);

describe('RdbAuxScanner', () => {
  const head = Buffer.concat([
    Buffer.from('REDIS0011'),
    aux(rdbStr('redis-ver'), rdbStr('7.2.4')),
    aux(rdbStr('repl-stream-db'), Buffer.from([0xc0, 5])),
    aux(rdbStr('ctime'), Buffer.from([0xc2, 0x78, 0x56, 0x34, 0x12])),
    aux(rdbStr('used-mem'), Buffer.from([0xc1, 0xff, 0x7f])),
    aux(rdbStr('long'), rdbStr('y'.repeat(300))),
    aux(rdbStr('lzf'), Buffer.from([0xc3, 3, 10, 0x41, 0x42, 0x43])),
    aux(rdbStr('big-len'), Buffer.concat([Buffer.from([0x80, 0, 0, 0, 2]), Buffer.from('ok')])),
    aux(rdbStr('repl-offset'), Buffer.from([0xc0, 0xff])),
    Buffer.from([0xfe, 0x00, 0xfb, 0x01, 0x00]),
  ]);

  const check = (chunks: Buffer[]) => {
    const s = new RdbAuxScanner('test');
    let done = false;
    for (const c of chunks) done = s.push(c);
    expect(done).toBe(true);
    const r = s.result();
    expect(r.version).toBe(11);
    expect(r.complete).toBe(true);
    expect(Object.fromEntries(r.aux)).toEqual({
      'redis-ver': '7.2.4',
      'repl-stream-db': '5',
      ctime: String(0x12345678),
      'used-mem': String(0x7fff),
      long: 'y'.repeat(300),
      'big-len': 'ok',
      'repl-offset': '-1',
    });
  };

  it('reads version and aux fields for a cut at every offset', () => {
    for (let cut = 0; cut <= head.length; cut++) check([head.subarray(0, cut), head.subarray(cut)]);
  });

  it.each(CHUNK_SIZES)('reads them in chunks of %i bytes', (size) => check(split(head, size)));

  it('rejects a payload that is not an RDB', () => {
    expect(() => new RdbAuxScanner('test').push(Buffer.from('HELLO WORLD'))).toThrow(/not an RDB/);
  });
});
