import type { RespFrame } from './frame.js';
import { RespType } from './types.js';
import { RespWriter } from './writer.js';

/**
 * Plain JavaScript values for RESP, for code that wants data rather than frames (tests, the
 * syncer's control replies, the proxy's own answers). The wrappers keep what plain values
 * would lose: a simple string is not a bulk string, an error is not a string.
 */
export class SimpleString {
  constructor(readonly value: string) {}
}

export class ErrorReply {
  constructor(
    readonly message: string,
    /** Sent as a RESP3 blob error (`!`) rather than a line (`-`). */
    readonly blob = false,
  ) {}

  /** The error code: the first word (ERR, WRONGTYPE, CROSSSLOT, NOAUTH). */
  get code(): string {
    const sp = this.message.indexOf(' ');
    return sp < 0 ? this.message : this.message.slice(0, sp);
  }
}

export class VerbatimString {
  constructor(
    readonly format: string,
    readonly text: Buffer,
  ) {}
}

export class Push {
  constructor(readonly items: RespValue[]) {}
}

/** A RESP3 double that must stay a double on the wire even when it is an integer (`,1`). */
export class Double {
  constructor(readonly value: number) {}
}

export type RespValue =
  | null
  | string
  | Buffer
  | number
  | bigint
  | boolean
  | SimpleString
  | ErrorReply
  | VerbatimString
  | Double
  | Push
  | RespValue[]
  | Map<RespValue, RespValue>
  | Set<RespValue>;

export interface ToValueOptions {
  /** Decode bulk strings as utf8 strings instead of Buffers. */
  strings?: boolean;
}

/**
 * The frame as a RespValue: bulk -> Buffer (or string), integer -> number (bigint beyond 2^53),
 * RESP2/RESP3 nulls -> null, double -> Double, big number -> bigint, map -> Map, set -> Set.
 * Attributes are dropped (read them from `frame.attributes`).
 */
export function toValue(frame: RespFrame, opts: ToValueOptions = {}): RespValue {
  switch (frame.type) {
    case RespType.SimpleString:
      return new SimpleString(frame.str());
    case RespType.Error:
      return new ErrorReply(frame.str());
    case RespType.BlobError:
      return new ErrorReply(frame.str(), true);
    case RespType.Integer: {
      const n = frame.int();
      return Number.isSafeInteger(n) ? n : frame.bigint();
    }
    case RespType.BulkString:
      if (frame.length < 0) return null;
      return opts.strings ? frame.str() : Buffer.from(frame.bytes());
    case RespType.Null:
      return null;
    case RespType.Double:
      return new Double(frame.double());
    case RespType.Boolean:
      return frame.bool();
    case RespType.BigNumber:
      return frame.bigint();
    case RespType.VerbatimString:
      return new VerbatimString(frame.format, Buffer.from(frame.bytes()));
    case RespType.Array:
      if (frame.length < 0) return null;
      return frame.elements.map((e) => toValue(e, opts));
    case RespType.Set:
      return new Set(frame.elements.map((e) => toValue(e, opts)));
    case RespType.Push:
      return new Push(frame.elements.map((e) => toValue(e, opts)));
    case RespType.Map: {
      const m = new Map<RespValue, RespValue>();
      const els = frame.elements;
      for (let i = 0; i < els.length; i += 2) m.set(toValue(els[i]!, opts), toValue(els[i + 1]!, opts));
      return m;
    }
    case RespType.Inline:
      return frame.str();
    default:
      throw new TypeError(`cannot convert ${frame} to a value`);
  }
}

/**
 * Write a value as a reply in the client's protocol. RESP2 has no map, set, double, boolean,
 * null or push: they degrade the way Redis degrades them (flat arrays, bulk strings, :1/:0,
 * `$-1`).
 */
export function writeValue(w: RespWriter, v: RespValue, protocol: 2 | 3 = 2): RespWriter {
  if (v === null) return protocol === 3 ? w.null() : w.bulk(null);
  if (typeof v === 'string' || Buffer.isBuffer(v)) return w.bulk(v);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return w.integer(v);
    return protocol === 3 ? w.double(v) : w.bulk(formatDouble(v));
  }
  if (typeof v === 'bigint') {
    if (v >= -(2n ** 63n) && v < 2n ** 63n) return w.integer(v);
    return protocol === 3 ? w.bigNumber(v) : w.bulk(String(v));
  }
  if (typeof v === 'boolean') return protocol === 3 ? w.boolean(v) : w.integer(v ? 1 : 0);
  if (v instanceof SimpleString) return w.simple(v.value);
  if (v instanceof ErrorReply) return v.blob && protocol === 3 ? w.blobError(v.message) : w.error(v.message);
  if (v instanceof Double) return protocol === 3 ? w.double(v.value) : w.bulk(formatDouble(v.value));
  if (v instanceof VerbatimString) return protocol === 3 ? w.verbatim(v.format, v.text) : w.bulk(v.text);
  if (v instanceof Push) {
    if (protocol === 3) w.push(v.items.length);
    else w.array(v.items.length);
    for (const x of v.items) writeValue(w, x, protocol);
    return w;
  }
  if (Array.isArray(v)) {
    w.array(v.length);
    for (const x of v) writeValue(w, x, protocol);
    return w;
  }
  if (v instanceof Map) {
    if (protocol === 3) w.map(v.size);
    else w.array(v.size * 2);
    for (const [k, x] of v) {
      writeValue(w, k, protocol);
      writeValue(w, x, protocol);
    }
    return w;
  }
  if (v instanceof Set) {
    if (protocol === 3) w.set(v.size);
    else w.array(v.size);
    for (const x of v) writeValue(w, x, protocol);
    return w;
  }
  throw new TypeError(`cannot encode ${String(v)} as RESP`);
}

/** One reply, encoded. */
export function encodeValue(v: RespValue, protocol: 2 | 3 = 2): Buffer {
  return writeValue(new RespWriter(256), v, protocol).finish();
}

function formatDouble(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  return String(n);
}
