import { RespProtocolError } from './errors.js';
import type { RespFrame } from './frame.js';
import { RespType } from './types.js';

/**
 * The command name and arguments of a request frame, as offsets into the frame's bytes: reading
 * a command copies nothing. One view can be re-pointed at frame after frame (`parse`), so a
 * proxy's hot path allocates nothing per command beyond what it asks for.
 *
 * Inline commands (`SET k "a b"`) are split the way Redis splits them (quotes, \xHH escapes);
 * their arguments are decoded into one small buffer the view owns.
 */
export class RequestView {
  /** The bytes argument offsets index into: the frame's buffer, or the decoded inline line. */
  buf: Buffer = Buffer.alloc(0);
  argc = 0;
  frame: RespFrame | null = null;
  private offs = new Int32Array(32);
  private lowerName: string | null = null;

  /** Point the view at a request frame (array of bulk strings or inline). */
  parse(frame: RespFrame): this {
    this.frame = frame;
    this.lowerName = null;
    if (frame.type === RespType.Inline) return this.parseInline(frame);
    if (frame.type !== RespType.Array) {
      throw new TypeError(
        `a command is an array of bulk strings, not a ${String.fromCharCode(frame.type)} frame`,
      );
    }
    const argc = Math.max(frame.length, 0);
    if (this.offs.length < argc * 2) this.offs = new Int32Array(Math.max(argc * 2, this.offs.length * 2));
    const buf = frame.buf;
    const offs = this.offs;
    let p = frame.valueStart;
    for (let i = 0; i < argc; i++) {
      // `$<digits>\r\n<body>\r\n`, already validated by the decoder.
      let n = 0;
      let q = p + 1;
      for (let c = buf[q]!; c !== 0x0d; c = buf[++q]!) n = n * 10 + (c - 0x30);
      const s = q + 2;
      offs[2 * i] = s;
      offs[2 * i + 1] = s + n;
      p = s + n + 2;
    }
    this.buf = buf;
    this.argc = argc;
    return this;
  }

  argStart(i: number): number {
    return this.offs[2 * i]!;
  }

  argEnd(i: number): number {
    return this.offs[2 * i + 1]!;
  }

  argLength(i: number): number {
    return this.offs[2 * i + 1]! - this.offs[2 * i]!;
  }

  /** Argument i as a view (no copy). */
  arg(i: number): Buffer {
    return this.buf.subarray(this.offs[2 * i]!, this.offs[2 * i + 1]!);
  }

  argString(i: number, encoding: BufferEncoding = 'utf8'): string {
    return this.buf.toString(encoding, this.offs[2 * i]!, this.offs[2 * i + 1]!);
  }

  /** Argument i as an integer; NaN when it is not one. */
  argInt(i: number): number {
    const s = this.offs[2 * i]!;
    const e = this.offs[2 * i + 1]!;
    if (s === e || e - s > 16) return Number.NaN;
    const n = Number(this.buf.toString('latin1', s, e));
    return Number.isInteger(n) ? n : Number.NaN;
  }

  /** Case-insensitive comparison of argument i with a lower-case ASCII word, without allocating. */
  argIs(i: number, lower: string): boolean {
    const s = this.offs[2 * i]!;
    if (this.offs[2 * i + 1]! - s !== lower.length) return false;
    const buf = this.buf;
    for (let j = 0; j < lower.length; j++) {
      let c = buf[s + j]!;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== lower.charCodeAt(j)) return false;
    }
    return true;
  }

  /** The command name in lower case ('' for an empty command). */
  get name(): string {
    if (this.lowerName !== null) return this.lowerName;
    this.lowerName = this.argc === 0 ? '' : this.argString(0, 'latin1').toLowerCase();
    return this.lowerName;
  }

  /** All arguments as views. */
  args(): Buffer[] {
    const out: Buffer[] = new Array(this.argc);
    for (let i = 0; i < this.argc; i++) out[i] = this.arg(i);
    return out;
  }

  private parseInline(frame: RespFrame): this {
    const parts = splitInlineArgs(frame.buf, frame.valueStart, frame.valueEnd);
    const total = parts.reduce((n, b) => n + b.length, 0);
    const buf = Buffer.allocUnsafe(total);
    if (this.offs.length < parts.length * 2) this.offs = new Int32Array(parts.length * 2);
    let p = 0;
    for (let i = 0; i < parts.length; i++) {
      parts[i]!.copy(buf, p);
      this.offs[2 * i] = p;
      p += parts[i]!.length;
      this.offs[2 * i + 1] = p;
    }
    this.buf = buf;
    this.argc = parts.length;
    return this;
  }
}

/** A fresh view of one request frame. */
export function readCommand(frame: RespFrame): RequestView {
  return new RequestView().parse(frame);
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Split an inline command line like Redis's sdssplitargs: whitespace separates arguments;
 * "double quotes" understand \n \r \t \b \a \\ \" and \xHH; 'single quotes' understand \'.
 * A closing quote must be followed by whitespace. Errors carry the offset within the line.
 */
export function splitInlineArgs(buf: Buffer, start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let p = start;
  while (true) {
    while (p < end && isSpace(buf[p]!)) p++;
    if (p >= end) return out;
    const bytes: number[] = [];
    const argStart = p;
    let inDq = false;
    let inSq = false;
    let done = false;
    while (!done) {
      if (p >= end) {
        if (inDq || inSq)
          throw new RespProtocolError('unbalanced quotes in inline command', argStart - start);
        done = true;
        break;
      }
      const c = buf[p]!;
      if (inDq) {
        if (c === 0x5c && p + 3 < end && buf[p + 1] === 0x78) {
          const hi = hexValue(buf[p + 2]!);
          const lo = hexValue(buf[p + 3]!);
          if (hi >= 0 && lo >= 0) {
            bytes.push(hi * 16 + lo);
            p += 4;
            continue;
          }
        }
        if (c === 0x5c && p + 1 < end) {
          const e = buf[p + 1]!;
          const map: Record<number, number> = { 110: 0x0a, 114: 0x0d, 116: 0x09, 98: 0x08, 97: 0x07 };
          bytes.push(map[e] ?? e);
          p += 2;
          continue;
        }
        if (c === 0x22) {
          if (p + 1 < end && !isSpace(buf[p + 1]!)) {
            throw new RespProtocolError('closing quote must be followed by a space', p + 1 - start);
          }
          p++;
          done = true;
          break;
        }
        bytes.push(c);
        p++;
      } else if (inSq) {
        if (c === 0x5c && p + 1 < end && buf[p + 1] === 0x27) {
          bytes.push(0x27);
          p += 2;
          continue;
        }
        if (c === 0x27) {
          if (p + 1 < end && !isSpace(buf[p + 1]!)) {
            throw new RespProtocolError('closing quote must be followed by a space', p + 1 - start);
          }
          p++;
          done = true;
          break;
        }
        bytes.push(c);
        p++;
      } else if (isSpace(c)) {
        done = true;
      } else if (c === 0x22) {
        inDq = true;
        p++;
      } else if (c === 0x27) {
        inSq = true;
        p++;
      } else {
        bytes.push(c);
        p++;
      }
    }
    out.push(Buffer.from(bytes));
  }
}
