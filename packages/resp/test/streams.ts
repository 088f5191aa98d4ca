import { RespDecoder, type RespDecoderOptions, type RespFrame, RespType } from '../src/index.js';

/** A frame as plain data: what must come out the same however the stream is cut. */
export interface FrameShape {
  type: string;
  length: number;
  value?: string;
  attributes?: FrameShape;
  elements?: FrameShape[];
}

export function shape(f: RespFrame): FrameShape {
  const out: FrameShape = {
    type: f.type === RespType.Inline ? 'inline' : String.fromCharCode(f.type),
    length: f.length,
  };
  if (f.isAggregate) out.elements = f.elements.map(shape);
  else out.value = f.bytes().toString('latin1');
  const attrs = f.attributes;
  if (attrs) out.attributes = shape(attrs);
  return out;
}

export interface Decoded {
  shape: FrameShape;
  raw: string;
  /** Stream offset just past the frame. */
  end: number;
}

/** Decode `stream` delivered as the given pieces. */
export function decodePieces(pieces: Buffer[], opts?: RespDecoderOptions): Decoded[] {
  const d = new RespDecoder(opts);
  const out: Decoded[] = [];
  for (const p of pieces) {
    d.write(p, (f) => out.push({ shape: shape(f), raw: f.raw().toString('latin1'), end: d.offset }));
  }
  if (d.buffered !== 0) throw new Error(`${d.buffered} bytes left undecoded`);
  return out;
}

export function cutAt(stream: Buffer, cut: number): Buffer[] {
  // Copies, so no piece shares memory with another: the decoder must not rely on adjacency.
  return [Buffer.from(stream.subarray(0, cut)), Buffer.from(stream.subarray(cut))];
}

export function chunks(stream: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i += size) out.push(Buffer.from(stream.subarray(i, i + size)));
  return out;
}

export const CHUNK_SIZES = [1, 2, 3, 5, 7, 13, 64, 128];

/** Replies of every RESP2 and RESP3 type, including the awkward ones. */
export const REPLY_STREAMS: Record<string, string> = {
  simple: '+OK\r\n+\r\n+hello world\r\n',
  errors: '-ERR unknown command\r\n-WRONGTYPE Operation against a key\r\n',
  integers: ':0\r\n:-42\r\n:9223372036854775807\r\n:-9223372036854775808\r\n',
  bulks: '$0\r\n\r\n$-1\r\n$5\r\nhello\r\n$4\r\n\r\n\r\n\r\n$11\r\n*1\r\n$1\r\nx\r\n\r\n',
  arrays: '*0\r\n*-1\r\n*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n*2\r\n*0\r\n*2\r\n$-1\r\n:7\r\n',
  resp3_scalars:
    '_\r\n,3.14\r\n,inf\r\n,-inf\r\n,nan\r\n,1e-5\r\n#t\r\n#f\r\n(12345678901234567890\r\n(-1\r\n',
  resp3_blobs: '!21\r\nSYNTAX invalid syntax\r\n=15\r\ntxt:Some string\r\n=4\r\nmkd:\r\n',
  resp3_aggregates:
    '%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n:3\r\n~3\r\n+a\r\n+b\r\n+c\r\n%0\r\n~0\r\n' +
    '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n',
  attributes:
    '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n' +
    '*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n|0\r\n:2\r\n',
  mixed_pipeline:
    '+OK\r\n$3\r\nbar\r\n*2\r\n$1\r\nk\r\n$-1\r\n:1\r\n-ERR x\r\n*1\r\n*1\r\n*1\r\n*1\r\n:9\r\n_\r\n',
};

export const REQUEST_STREAMS: Record<string, string> = {
  multibulk: '*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n',
  binary: '*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\r\nb\r\n*1\r\n$0\r\n\r\n',
  empty: '*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n',
  inline: 'PING\r\nSET k "a b"\r\n\r\nECHO x\n*1\r\n$4\r\nPING\r\n',
};
