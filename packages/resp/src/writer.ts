/**
 * Builds RESP bytes into one growing buffer: commands (arrays of bulk strings) and replies of
 * every RESP2/RESP3 type. Headers are written as ASCII digits straight into the buffer; `raw`
 * splices already-encoded frames (a shard's reply, a client's argument) without re-encoding.
 *
 * `finish()` returns the bytes written since the last finish as a view and starts a new
 * segment; the writer never overwrites bytes it has returned, so those views stay valid.
 */
export class RespWriter {
  private buf: Buffer;
  private len = 0;
  private mark = 0;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Bytes written since the last finish(). */
  get length(): number {
    return this.len - this.mark;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const pending = this.len - this.mark;
    const cap = Math.max((pending + n) * 2, 1024);
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, this.mark, this.len);
    this.buf = next;
    this.len = pending;
    this.mark = 0;
  }

  private header(type: number, n: number | bigint): this {
    const digits = typeof n === 'number' && n >= 0 && n < 10 ? null : String(n);
    this.ensure((digits?.length ?? 1) + 3);
    const buf = this.buf;
    buf[this.len++] = type;
    if (digits === null) buf[this.len++] = 0x30 + (n as number);
    else this.len += buf.write(digits, this.len, 'latin1');
    buf[this.len++] = 0x0d;
    buf[this.len++] = 0x0a;
    return this;
  }

  private line(type: number, text: string): this {
    const n = Buffer.byteLength(text);
    this.ensure(n + 3);
    this.buf[this.len++] = type;
    this.len += this.buf.write(text, this.len);
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  /** `*n` header; the caller writes n elements next. `null` writes the RESP2 null array. */
  array(n: number | null): this {
    return n === null ? this.header(0x2a, -1) : this.header(0x2a, n);
  }

  /** `%n` header (n pairs; RESP3). */
  map(pairs: number): this {
    return this.header(0x25, pairs);
  }

  /** `~n` header (RESP3). */
  set(n: number): this {
    return this.header(0x7e, n);
  }

  /** `>n` header (RESP3 out-of-band push). */
  push(n: number): this {
    return this.header(0x3e, n);
  }

  /** `|n` header (RESP3 attribute of n pairs; the annotated value follows). */
  attribute(pairs: number): this {
    return this.header(0x7c, pairs);
  }

  /** Bulk string; numbers are written as their decimal text, `null` as the RESP2 null bulk. */
  bulk(value: string | Buffer | number | bigint | null): this {
    if (value === null) return this.header(0x24, -1);
    if (Buffer.isBuffer(value)) return this.bulkBytes(value, 0, value.length);
    const text = typeof value === 'string' ? value : String(value);
    const n = Buffer.byteLength(text);
    this.header(0x24, n);
    this.ensure(n + 2);
    this.len += this.buf.write(text, this.len);
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  /** Bulk string of src[start, end), copied once. */
  bulkBytes(src: Buffer, start: number, end: number): this {
    this.header(0x24, end - start);
    this.ensure(end - start + 2);
    src.copy(this.buf, this.len, start, end);
    this.len += end - start;
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  /** `+text`: must not contain CR or LF. */
  simple(text: string): this {
    return this.line(0x2b, sanitizeLine(text));
  }

  /** `-message`; the message should start with an error code (ERR, WRONGTYPE, CROSSSLOT). */
  error(message: string): this {
    return this.line(0x2d, sanitizeLine(message));
  }

  integer(n: number | bigint): this {
    return this.header(0x3a, typeof n === 'number' ? Math.trunc(n) : n);
  }

  /** RESP3 `_`. */
  null(): this {
    return this.line(0x5f, '');
  }

  /** RESP3 `,` double (inf, -inf, nan for the special values). */
  double(n: number): this {
    const text = Number.isNaN(n)
      ? 'nan'
      : n === Number.POSITIVE_INFINITY
        ? 'inf'
        : n === Number.NEGATIVE_INFINITY
          ? '-inf'
          : String(n);
    return this.line(0x2c, text);
  }

  /** RESP3 `#t` / `#f`. */
  boolean(b: boolean): this {
    return this.line(0x23, b ? 't' : 'f');
  }

  /** RESP3 `(` big number. */
  bigNumber(n: bigint | string): this {
    return this.line(0x28, String(n));
  }

  /** RESP3 `!` blob error. */
  blobError(message: string | Buffer): this {
    const body = Buffer.isBuffer(message) ? message : Buffer.from(message);
    this.header(0x21, body.length);
    return this.rawBody(body);
  }

  /** RESP3 `=` verbatim string; `format` is three letters (`txt`, `mkd`). */
  verbatim(format: string, text: string | Buffer): this {
    if (format.length !== 3) throw new RangeError(`verbatim format must be 3 characters, got "${format}"`);
    const body = Buffer.concat([Buffer.from(`${format}:`), Buffer.isBuffer(text) ? text : Buffer.from(text)]);
    this.header(0x3d, body.length);
    return this.rawBody(body);
  }

  private rawBody(body: Buffer): this {
    this.ensure(body.length + 2);
    body.copy(this.buf, this.len);
    this.len += body.length;
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
    return this;
  }

  /** Already-encoded bytes: src[start, end). */
  raw(src: Buffer, start = 0, end = src.length): this {
    const n = end - start;
    this.ensure(n);
    src.copy(this.buf, this.len, start, end);
    this.len += n;
    return this;
  }

  /** A command: an array of bulk strings. */
  command(args: ReadonlyArray<string | Buffer | number | bigint>): this {
    this.array(args.length);
    for (const a of args) this.bulk(a);
    return this;
  }

  /** The bytes written since the previous finish (a view that stays valid). */
  finish(): Buffer {
    const out = this.buf.subarray(this.mark, this.len);
    this.mark = this.len;
    // Start the next segment in fresh memory once this buffer is mostly handed out.
    if (this.buf.length - this.len < 256) {
      this.buf = Buffer.allocUnsafe(Math.max(1024, this.buf.length >>> 1));
      this.len = this.mark = 0;
    }
    return out;
  }
}

function sanitizeLine(text: string): string {
  return text.includes('\r') || text.includes('\n') ? text.replace(/[\r\n]+/g, ' ') : text;
}

/** `*n $len arg ...` for one command. */
export function encodeCommand(args: ReadonlyArray<string | Buffer | number | bigint>): Buffer {
  let size = 16;
  for (const a of args) size += (Buffer.isBuffer(a) ? a.length : String(a).length * 3) + 16;
  return new RespWriter(size).command(args).finish();
}
