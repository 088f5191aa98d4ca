import { RespType } from './types.js';

/**
 * One complete RESP value: a view over the bytes it was received in, never a copy. `buf` is
 * shared with the neighbouring frames and must not be written to; the decoder never reuses the
 * bytes behind a frame it has handed out, so a frame stays valid for as long as it is held.
 *
 * Offsets are indexes into `buf`:
 * - `start`..`end`: the whole frame including CRLFs (and any RESP3 attribute before the value);
 *   `buf.subarray(start, end)` is exactly what to forward.
 * - `valueStart`..`valueEnd`: the payload of a scalar (bulk body, simple string text, digits);
 *   for an aggregate, the bytes of its elements.
 * - `length`: bulk/blob byte length or aggregate element count (pairs for maps), -1 for RESP2
 *   nulls (`$-1`, `*-1`); for line types, the payload length.
 */
export class RespFrame {
  private cachedElements: RespFrame[] | undefined;

  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    /** The value's type byte (see RespType); an attribute prefix does not change it. */
    readonly type: number,
    /** Offset of the value's type byte: `start` unless attributes precede the value. */
    readonly headerStart: number,
    readonly valueStart: number,
    readonly valueEnd: number,
    readonly length: number,
  ) {}

  /** Size of the frame on the wire. */
  get size(): number {
    return this.end - this.start;
  }

  /** The frame's original bytes (a view). */
  raw(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  get isNull(): boolean {
    return this.type === RespType.Null || (this.length === -1 && this.type !== RespType.Inline);
  }

  get isError(): boolean {
    return this.type === RespType.Error || this.type === RespType.BlobError;
  }

  get isAggregate(): boolean {
    const t = this.type;
    return (
      t === RespType.Array ||
      t === RespType.Map ||
      t === RespType.Set ||
      t === RespType.Push ||
      t === RespType.Attribute
    );
  }

  /** Payload bytes (a view); for a verbatim string, the text after its `fmt:` prefix. */
  bytes(): Buffer {
    if (this.type === RespType.VerbatimString) return this.buf.subarray(this.valueStart + 4, this.valueEnd);
    return this.buf.subarray(this.valueStart, this.valueEnd);
  }

  /** Payload as text (utf8 unless told otherwise). */
  str(encoding: BufferEncoding = 'utf8'): string {
    const from = this.type === RespType.VerbatimString ? this.valueStart + 4 : this.valueStart;
    return this.buf.toString(encoding, from, this.valueEnd);
  }

  /** The three-letter format of a verbatim string (`txt`, `mkd`). */
  get format(): string {
    return this.type === RespType.VerbatimString
      ? this.buf.toString('latin1', this.valueStart, this.valueStart + 3)
      : '';
  }

  /** `:` integers, or a bulk string holding one; NaN when the payload is not an integer. */
  int(): number {
    return parseIntBytes(this.buf, this.valueStart, this.valueEnd);
  }

  bigint(): bigint {
    return BigInt(this.buf.toString('latin1', this.valueStart, this.valueEnd));
  }

  /** `,` doubles (inf, -inf, nan included), or a bulk string holding one. */
  double(): number {
    const s = this.buf.toString('latin1', this.valueStart, this.valueEnd).toLowerCase();
    if (s === 'inf' || s === '+inf') return Number.POSITIVE_INFINITY;
    if (s === '-inf') return Number.NEGATIVE_INFINITY;
    if (s === 'nan' || s === '-nan') return Number.NaN;
    return Number(s);
  }

  bool(): boolean {
    return this.buf[this.valueStart] === 0x74; // t
  }

  /** Children of an aggregate, parsed on first use (maps and attributes: key, value, key, ...). */
  get elements(): RespFrame[] {
    if (this.cachedElements) return this.cachedElements;
    const out: RespFrame[] = [];
    if (this.isAggregate && this.length > 0) {
      const count =
        this.type === RespType.Map || this.type === RespType.Attribute ? this.length * 2 : this.length;
      let p = this.valueStart;
      for (let i = 0; i < count; i++) {
        const f = frameAt(this.buf, p);
        out.push(f);
        p = f.end;
      }
    }
    this.cachedElements = out;
    return out;
  }

  /** The RESP3 attribute that preceded this value, if any. */
  get attributes(): RespFrame | null {
    return this.headerStart === this.start ? null : frameAt(this.buf, this.start, true);
  }

  toString(): string {
    return `RespFrame(${String.fromCharCode(this.type || 0x20)} ${this.start}..${this.end})`;
  }
}

/** Parses an ASCII integer in buf[s, e); NaN when it is not one. */
export function parseIntBytes(buf: Buffer, s: number, e: number): number {
  if (s >= e) return Number.NaN;
  let neg = false;
  let i = s;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  } else if (buf[i] === 0x2b) {
    i++;
  }
  if (i >= e) return Number.NaN;
  if (e - i > 15) {
    const n = Number(buf.toString('latin1', s, e));
    return Number.isInteger(n) ? n : Number.NaN;
  }
  let n = 0;
  for (; i < e; i++) {
    const c = buf[i]! - 0x30;
    if (c < 0 || c > 9) return Number.NaN;
    n = n * 10 + c;
  }
  return neg ? -n : n;
}

function crlfAfter(buf: Buffer, p: number): number {
  let cr = p;
  while (buf[cr] !== 0x0d) cr++;
  return cr;
}

/**
 * Parses the frame at `p` of bytes the decoder has already validated; never call it on
 * unchecked input. With `attributeOnly`, returns the attribute itself instead of the value it
 * annotates.
 */
export function frameAt(buf: Buffer, p: number, attributeOnly = false): RespFrame {
  const start = p;
  let t = buf[p]!;
  while (t === RespType.Attribute && !attributeOnly) {
    p = skipFrame(buf, p, true);
    t = buf[p]!;
  }
  const cr = crlfAfter(buf, p + 1);
  switch (t) {
    case RespType.BulkString:
    case RespType.BlobError:
    case RespType.VerbatimString: {
      const n = parseIntBytes(buf, p + 1, cr);
      if (n < 0) return new RespFrame(buf, start, cr + 2, t, p, cr + 2, cr + 2, -1);
      return new RespFrame(buf, start, cr + 4 + n, t, p, cr + 2, cr + 2 + n, n);
    }
    case RespType.Array:
    case RespType.Map:
    case RespType.Set:
    case RespType.Push:
    case RespType.Attribute: {
      const n = parseIntBytes(buf, p + 1, cr);
      if (n < 0) return new RespFrame(buf, start, cr + 2, t, p, cr + 2, cr + 2, -1);
      const end = skipFrame(buf, p, true);
      return new RespFrame(buf, start, end, t, p, cr + 2, end, n);
    }
    default:
      return new RespFrame(buf, start, cr + 2, t, p, p + 1, cr, cr - p - 1);
  }
}

/**
 * End offset of the validated frame at `p`. Iterative: `remaining` counts the values still to
 * skip, so nesting depth costs no stack. An attribute is a prefix, not a value: the value after
 * it is still owed. With `single`, an attribute at `p` is skipped on its own.
 */
export function skipFrame(buf: Buffer, p: number, single = false): number {
  let remaining = 1;
  let first = true;
  while (remaining > 0) {
    const t = buf[p]!;
    const cr = crlfAfter(buf, p + 1);
    remaining--;
    switch (t) {
      case RespType.BulkString:
      case RespType.BlobError:
      case RespType.VerbatimString: {
        const n = parseIntBytes(buf, p + 1, cr);
        p = n < 0 ? cr + 2 : cr + 4 + n;
        break;
      }
      case RespType.Array:
      case RespType.Set:
      case RespType.Push: {
        const n = parseIntBytes(buf, p + 1, cr);
        if (n > 0) remaining += n;
        p = cr + 2;
        break;
      }
      case RespType.Map:
      case RespType.Attribute: {
        const n = parseIntBytes(buf, p + 1, cr);
        if (n > 0) remaining += 2 * n;
        if (t === RespType.Attribute && !(single && first)) remaining += 1;
        p = cr + 2;
        break;
      }
      default:
        p = cr + 2;
    }
    first = false;
  }
  return p;
}
