import { RespProtocolError } from './errors.js';
import { RespFrame } from './frame.js';
import { RespType } from './types.js';

export interface RespDecoderOptions {
  /**
   * Decode what a client sends a server: each top-level frame must be an array of bulk strings
   * (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or an inline command line (`PING\r\n`, type Inline).
   * Default false: any RESP2/RESP3 reply.
   */
  requests?: boolean;
  /** Largest bulk string accepted; Redis's proto-max-bulk-len default. */
  maxBulkLength?: number;
  /** Largest aggregate element count accepted. */
  maxAggregateLength?: number;
  /** Deepest nesting of aggregates accepted (the top-level array is depth 1). */
  maxDepth?: number;
  /** Longest header or simple-string line accepted while waiting for its CRLF. */
  maxLineLength?: number;
  /** Longest inline command accepted while waiting for its newline (Redis: 64 KiB). */
  maxInlineLength?: number;
}

export type FrameHandler = (frame: RespFrame) => void;

const CR = 0x0d;
const LF = 0x0a;

/**
 * Streaming RESP2/RESP3 decoder. Feed it chunks as they arrive; it calls `onFrame` for every
 * complete top-level frame, each a view over the received bytes (see RespFrame).
 *
 * Invariants that make it cheap:
 * - A chunk that starts at a frame boundary is used as is: its frames are views into it.
 * - A frame cut by a chunk boundary is completed in a buffer the decoder owns. Bytes are only
 *   ever appended to that buffer's unused tail, so frames handed out earlier never change.
 *   The buffer grows geometrically, or straight to the size a bulk string announced, so a
 *   64 MiB bulk over 64 KiB chunks costs one allocation and one copy of each byte.
 * - Scanning resumes at the first unfinished element (a stack of per-level remaining counts),
 *   and not at all while a bulk body is still short of the bytes its header announced.
 *
 * Bad input raises RespProtocolError (code MINIRS_ERR_PROTOCOL) with the stream offset of the
 * offending byte; the decoder then stays failed and rethrows it on every later write.
 */
export class RespDecoder {
  private readonly requests: boolean;
  private readonly maxBulk: number;
  private readonly maxAggregate: number;
  private readonly maxDepth: number;
  private readonly maxLine: number;
  private readonly maxInline: number;

  private buf: Buffer = Buffer.alloc(0);
  /** True when `buf` is ours, so its tail past `len` may be written. */
  private owned = false;
  private len = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  /** Start of the top-level frame in progress (== len when nothing is pending). */
  private frameStart = 0;
  /** Next unscanned element. */
  private pos = 0;
  /** Scanning cannot progress before buf holds this many bytes. */
  private need = 0;
  /** `need` is the end of a bulk body whose header has been read. */
  private awaitingBody = false;

  private depth = 0;
  /** Per open aggregate: elements still to come, and whether it is an attribute (grown on demand). */
  private remaining: Int32Array;
  private isAttr: Uint8Array;

  // Header of the top-level value in progress (after any attribute prefix).
  private topType = 0;
  private topHeader = 0;
  private topValueStart = 0;
  private topValueEnd = 0;
  private topLength = 0;

  private failed: RespProtocolError | null = null;

  constructor(opts: RespDecoderOptions = {}) {
    this.requests = opts.requests ?? false;
    this.maxBulk = opts.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxAggregate = opts.maxAggregateLength ?? 2 ** 31 - 1;
    this.maxDepth = opts.maxDepth ?? 64;
    this.maxLine = opts.maxLineLength ?? 1024 * 1024;
    this.maxInline = opts.maxInlineLength ?? 64 * 1024;
    const initial = Math.min(this.maxDepth, 64) + 1;
    this.remaining = new Int32Array(initial);
    this.isAttr = new Uint8Array(initial);
  }

  /** Stream offset just past the last complete frame. */
  get offset(): number {
    return this.base + this.frameStart;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.len - this.frameStart;
  }

  /** The error that failed this decoder, if any. */
  get error(): RespProtocolError | null {
    return this.failed;
  }

  /**
   * Decode a chunk. Frames are delivered synchronously, in order. If `onFrame` throws, the
   * frames delivered so far stay consumed and the rest of the chunk is kept for the next write.
   */
  write(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return;
    // While a bulk body is short of its announced length, give the pending frame only the
    // bytes it lacks: its buffer was sized for exactly that, and what follows can then be used
    // in place instead of being copied behind it.
    const missing = this.need - this.len;
    if (this.awaitingBody && chunk.length > missing) {
      this.write(chunk.subarray(0, missing), onFrame);
      this.write(chunk.subarray(missing), onFrame);
      return;
    }
    this.append(chunk);
    if (this.need > this.len) return;
    this.awaitingBody = false;
    try {
      this.scan(onFrame);
    } catch (err) {
      if (err instanceof RespProtocolError) this.failed = err;
      throw err;
    }
  }

  /** Decode a buffer holding whole frames only; throws if bytes are left over. */
  decodeAll(data: Buffer): RespFrame[] {
    const out: RespFrame[] = [];
    this.write(data, (f) => out.push(f));
    if (this.buffered > 0) {
      throw new RespProtocolError(`incomplete frame: ${this.buffered} bytes at the end`, this.offset);
    }
    return out;
  }

  /**
   * Hand back the bytes not yet returned as frames (a view) and start over empty: for
   * connections that stop speaking RESP mid-stream (a raw replication pipe, an RDB payload).
   */
  takeBuffered(): Buffer {
    const rest = this.buf.subarray(this.frameStart, this.len);
    this.base += this.len;
    this.buf = Buffer.alloc(0);
    this.owned = false;
    this.len = this.frameStart = this.pos = this.need = 0;
    this.awaitingBody = false;
    this.depth = 0;
    return rest;
  }

  private append(chunk: Buffer): void {
    const pending = this.len - this.frameStart;
    if (pending === 0) {
      this.base += this.len;
      this.buf = chunk;
      this.owned = false;
      this.len = chunk.length;
      this.frameStart = this.pos = this.need = 0;
      // Offsets of the top value are only live while a frame is pending.
      return;
    }
    if (this.owned && this.buf.length - this.len >= chunk.length) {
      chunk.copy(this.buf, this.len);
      this.len += chunk.length;
      return;
    }
    const total = pending + chunk.length;
    const known = this.need - this.frameStart;
    const cap = known >= total ? known : Math.max(total * 2, 1024);
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, this.frameStart, this.len);
    chunk.copy(next, pending);
    const shift = this.frameStart;
    this.base += shift;
    this.buf = next;
    this.owned = true;
    this.len = total;
    this.frameStart = 0;
    this.pos -= shift;
    this.need = this.need > shift ? this.need - shift : 0;
    this.topHeader -= shift;
    this.topValueStart -= shift;
    this.topValueEnd -= shift;
  }

  private fail(reason: string, at: number): never {
    throw new RespProtocolError(reason, this.base + at);
  }

  private scan(onFrame: FrameHandler): void {
    const buf = this.buf;
    const len = this.len;
    const requests = this.requests;
    let p = this.pos;

    while (p < len) {
      const t = buf[p]!;
      const depth = this.depth;

      if (requests) {
        if (depth === 0 && t !== RespType.Array) {
          const r = this.inline(p, onFrame);
          if (r < 0 || this.buf !== buf) return;
          p = r;
          continue;
        }
        if (depth > 0 && t !== RespType.BulkString) {
          this.fail(`expected '$' for a command argument, got ${describeByte(t)}`, p);
        }
      }

      if (!isKnownType(t)) this.fail(`unknown type byte ${describeByte(t)}`, p);
      // The header line: type byte, payload, CRLF. A bare LF is never valid here.
      let cr = p + 1;
      while (cr < len) {
        const c = buf[cr]!;
        if (c === CR) break;
        if (c === LF) this.fail('line feed without carriage return', cr);
        cr++;
      }
      if (cr + 1 >= len) {
        if (cr - p > this.maxLine) this.fail(`line longer than ${this.maxLine} bytes without CRLF`, p);
        this.pos = p;
        this.need = len + 1;
        return;
      }
      if (buf[cr + 1] !== LF) this.fail('expected LF after CR', cr + 1);
      let next = cr + 2;
      let valueStart = p + 1;
      let valueEnd = cr;
      let length = cr - p - 1;

      switch (t) {
        case RespType.BulkString:
        case RespType.BlobError:
        case RespType.VerbatimString: {
          const n = this.readLength(p, cr, t === RespType.BulkString && !requests, this.maxBulk);
          length = n;
          if (n < 0) {
            valueStart = valueEnd = next;
            break;
          }
          const bodyEnd = next + n;
          if (bodyEnd + 2 > len) {
            this.pos = p;
            this.need = bodyEnd + 2;
            this.awaitingBody = true;
            return;
          }
          if (buf[bodyEnd] !== CR || buf[bodyEnd + 1] !== LF) {
            this.fail(
              `expected CRLF after ${n}-byte ${t === RespType.BulkString ? 'bulk string' : 'blob'}`,
              bodyEnd,
            );
          }
          if (t === RespType.VerbatimString && (n < 4 || buf[next + 3] !== 0x3a)) {
            this.fail('verbatim string without a "fmt:" prefix', next);
          }
          valueStart = next;
          valueEnd = bodyEnd;
          next = bodyEnd + 2;
          break;
        }
        case RespType.Array:
        case RespType.Map:
        case RespType.Set:
        case RespType.Push:
        case RespType.Attribute: {
          // Redis ignores a request whose multibulk count is zero or negative (`*0`, `*-10`).
          const n =
            requests && depth === 0
              ? Math.max(-1, this.readSignedLength(p, cr, this.maxAggregate))
              : this.readLength(p, cr, t === RespType.Array, this.maxAggregate);
          length = n;
          valueStart = next;
          if (n <= 0) {
            valueEnd = next;
            if (t === RespType.Attribute) {
              // An empty attribute annotates the next value; it is not a value itself.
              p = next;
              continue;
            }
            break;
          }
          if (depth >= this.maxDepth) this.fail(`aggregates nested deeper than ${this.maxDepth}`, p);
          if (depth + 1 >= this.remaining.length) this.grow();
          if (depth === 0 && t !== RespType.Attribute) this.setTop(t, p, next, next, n);
          this.remaining[depth] = t === RespType.Map || t === RespType.Attribute ? 2 * n : n;
          this.isAttr[depth] = t === RespType.Attribute ? 1 : 0;
          this.depth = depth + 1;
          p = next;
          continue;
        }
        case RespType.SimpleString:
        case RespType.Error:
          break;
        case RespType.Integer:
          if (!isInteger(buf, p + 1, cr, false)) this.fail('invalid integer', p + 1);
          break;
        case RespType.BigNumber:
          if (!isInteger(buf, p + 1, cr, true)) this.fail('invalid big number', p + 1);
          break;
        case RespType.Double:
          if (!isDouble(buf, p + 1, cr)) this.fail('invalid double', p + 1);
          break;
        case RespType.Boolean:
          if (cr !== p + 2 || (buf[p + 1] !== 0x74 && buf[p + 1] !== 0x66))
            this.fail("boolean must be 't' or 'f'", p + 1);
          break;
        case RespType.Null:
          if (cr !== p + 1) this.fail('null must be empty', p + 1);
          break;
        default:
          this.fail(`unknown type byte ${describeByte(t)}`, p);
      }

      // A scalar (or empty aggregate) ended at `next`.
      if (depth === 0) this.setTop(t, p, valueStart, valueEnd, length);
      p = next;
      // A handler that took the buffered bytes (takeBuffered) ends this scan.
      if (this.completeElement(p, onFrame) && this.buf !== buf) return;
    }
    this.pos = p;
  }

  private setTop(t: number, header: number, vs: number, ve: number, length: number): void {
    this.topType = t;
    this.topHeader = header;
    this.topValueStart = vs;
    this.topValueEnd = ve;
    this.topLength = length;
  }

  /**
   * Account for an element ending at `end`: pop finished aggregates; emit the top-level frame
   * when the stack empties. Returns true when a frame was emitted.
   */
  private completeElement(end: number, onFrame: FrameHandler): boolean {
    let depth = this.depth;
    while (depth > 0) {
      const i = depth - 1;
      const left = this.remaining[i]! - 1;
      this.remaining[i] = left;
      if (left > 0) {
        this.pos = end;
        return false;
      }
      depth--;
      this.depth = depth;
      // A finished attribute annotates the next value at its level: nothing completes.
      if (this.isAttr[i]) {
        this.pos = end;
        return false;
      }
    }
    const isAggregateTop =
      this.topType === RespType.Array ||
      this.topType === RespType.Map ||
      this.topType === RespType.Set ||
      this.topType === RespType.Push;
    const frame = new RespFrame(
      this.buf,
      this.frameStart,
      end,
      this.topType,
      this.topHeader,
      this.topValueStart,
      isAggregateTop && this.topLength > 0 ? end : this.topValueEnd,
      this.topLength,
    );
    this.frameStart = this.pos = end;
    this.need = 0;
    onFrame(frame);
    return true;
  }

  /** An inline command line at p; returns the offset after it, or -1 when it is incomplete. */
  private inline(p: number, onFrame: FrameHandler): number {
    const buf = this.buf;
    const nl = buf.indexOf(LF, p);
    if (nl < 0 || nl >= this.len) {
      if (this.len - p > this.maxInline) this.fail(`inline command longer than ${this.maxInline} bytes`, p);
      this.pos = p;
      this.need = this.len + 1;
      return -1;
    }
    const lineEnd = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
    const frame = new RespFrame(buf, p, nl + 1, RespType.Inline, p, p, lineEnd, lineEnd - p);
    this.frameStart = this.pos = nl + 1;
    this.need = 0;
    onFrame(frame);
    return nl + 1;
  }

  private grow(): void {
    const size = Math.min(this.maxDepth + 1, this.remaining.length * 2);
    const remaining = new Int32Array(size);
    remaining.set(this.remaining);
    const isAttr = new Uint8Array(size);
    isAttr.set(this.isAttr);
    this.remaining = remaining;
    this.isAttr = isAttr;
  }

  /** A length that may be negative (a request's multibulk count). */
  private readSignedLength(p: number, cr: number, max: number): number {
    if (this.buf[p + 1] !== 0x2d) return this.readLength(p, cr, false, max);
    if (cr === p + 2) this.fail('missing length', p + 1);
    return -this.readLength(p + 1, cr, false, max);
  }

  /** Length field of a header: digits, or -1 where `allowNull`. */
  private readLength(p: number, cr: number, allowNull: boolean, max: number): number {
    const buf = this.buf;
    const s = p + 1;
    if (s === cr) this.fail('missing length', s);
    if (buf[s] === 0x2d) {
      if (allowNull && cr === s + 2 && buf[s + 1] === 0x31) return -1;
      this.fail(`negative length ${buf.toString('latin1', s, cr)}`, s);
    }
    if (buf[s] === 0x3f) this.fail('streamed RESP3 strings and aggregates are not supported', s);
    if (cr - s > 12) this.fail(`length ${buf.toString('latin1', s, Math.min(cr, s + 24))} exceeds ${max}`, s);
    let n = 0;
    for (let i = s; i < cr; i++) {
      const c = buf[i]! - 0x30;
      if (c < 0 || c > 9) this.fail(`invalid length ${JSON.stringify(buf.toString('latin1', s, cr))}`, i);
      n = n * 10 + c;
    }
    if (n > max) this.fail(`length ${n} exceeds ${max}`, s);
    return n;
  }
}

function isKnownType(t: number): boolean {
  switch (t) {
    case RespType.SimpleString:
    case RespType.Error:
    case RespType.Integer:
    case RespType.BulkString:
    case RespType.Array:
    case RespType.Null:
    case RespType.Double:
    case RespType.Boolean:
    case RespType.BigNumber:
    case RespType.BlobError:
    case RespType.VerbatimString:
    case RespType.Map:
    case RespType.Set:
    case RespType.Push:
    case RespType.Attribute:
      return true;
    default:
      return false;
  }
}

function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b >= 0x21 && b <= 0x7e ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

function isInteger(buf: Buffer, s: number, e: number, allowPlus: boolean): boolean {
  if (s < e && (buf[s] === 0x2d || (allowPlus && buf[s] === 0x2b))) s++;
  if (s >= e) return false;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isDouble(buf: Buffer, s: number, e: number): boolean {
  if (s >= e) return false;
  const text = buf.toString('latin1', s, e).toLowerCase();
  if (text === 'inf' || text === '-inf' || text === '+inf' || text === 'nan' || text === '-nan') return true;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text);
}
