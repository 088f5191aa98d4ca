import { constants } from 'node:buffer';
import type { ReplicationCommand } from './command.js';
import { protocolError } from './errors.js';

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
/** Redis's PROTO_INLINE_MAX_SIZE: a line (inline command or header) longer than this is garbage. */
export const MAX_INLINE_BYTES = 64 * 1024;
const MAX_HEADER_DIGITS = 20;
const MAX_ARGC = 0x7fffffff;
const MAX_BULK = constants.MAX_LENGTH - 2;
const EMPTY = Buffer.alloc(0);
const PREALLOCATE_LIMIT = 16 * 1024 * 1024;

/**
 * Zero-copy reader of a replication command stream: multibulk commands (`*N` then N `$len`
 * bulks), inline lines (a lone `\n` keep-alive, `PING\r\n`) and empty multibulks, each with the
 * exact replication offset after it. Arguments are views of the fed chunks; bytes are copied
 * only when a command spans chunks, into a buffer that grows by doubling (amortised linear even
 * for a 512 MB argument).
 *
 * Usage: feed(chunk) whenever next() returns undefined; next() until it returns undefined.
 * A keep-alive comes out as a command with an empty argv (it still moves the offset).
 *
 * Invariant: bytes of `buf` before `end` are never overwritten once written (commands handed
 * out may view them); new bytes only go after `end` of a buffer this reader allocated.
 */
export class CommandStreamReader {
  private buf: Buffer = EMPTY;
  /** Start of the command being parsed (its first byte). */
  private pos = 0;
  /** Bytes of buf that hold data. */
  private end = 0;
  /** Replication offset of buf[0]. */
  private base: number;

  // Progress within the current multibulk command; argc === -1 means "not started".
  private argc = -1;
  private args: Buffer[] = [];
  private cursor = 0;
  private bulkLen = -1;
  /** Where to resume looking for a line end, so a long partial line is scanned once. */
  private scanFrom = 0;
  /** Bytes from pos the current command needs at least, to size a merge buffer. */
  private needed = 0;

  constructor(
    startOffset: number,
    private readonly peer = 'source',
  ) {
    this.base = startOffset;
  }

  /** Replication offset after the last command returned by next(). */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Bytes fed but not yet returned as commands. */
  get pendingBytes(): number {
    return this.end - this.pos;
  }

  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const pending = this.end - this.pos;
    if (pending === 0) {
      this.base += this.end;
      this.buf = chunk;
      this.pos = 0;
      this.end = chunk.length;
      this.cursor = 0;
      this.scanFrom = 0;
      return;
    }
    if (this.buf.length - this.end >= chunk.length && this.buf !== chunk) {
      // Free space of a buffer we allocated: never handed out, safe to fill.
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    // Double to stay amortised-linear; trust a declared length only 16 MiB ahead, so garbage
    // claiming a 4 GB argument cannot make us allocate it.
    const have = pending + chunk.length;
    const size = Math.max(have, 2 * pending, Math.min(this.needed, have + PREALLOCATE_LIMIT));
    const merged = Buffer.allocUnsafe(size);
    this.buf.copy(merged, 0, this.pos, this.end);
    chunk.copy(merged, pending);
    this.base += this.pos;
    this.cursor -= this.pos;
    this.scanFrom -= this.pos;
    this.buf = merged;
    this.end = pending + chunk.length;
    this.pos = 0;
  }

  /** The next complete command, or undefined when more bytes are needed. Throws on bad bytes. */
  next(): ReplicationCommand | undefined {
    if (this.argc === -1) {
      if (this.pos >= this.end) return undefined;
      if (this.buf[this.pos] !== STAR) return this.inline();
      const header = this.line(this.pos + 1, 'the argument count of a command (*<count>)');
      if (header === undefined) return undefined;
      const argc = this.integer(this.pos + 1, header, 'argument count');
      this.cursor = header + 2;
      if (argc <= 0) {
        // `*0` / `*-1`: nothing to run, but the bytes count toward the offset, as in Redis.
        return this.complete(EMPTY_ARGV);
      }
      if (argc > MAX_ARGC) this.fail(this.pos, `argument count ${argc} is larger than Redis allows`);
      this.argc = argc;
      this.args = [];
      this.bulkLen = -1;
    }
    while (this.args.length < this.argc) {
      if (this.bulkLen === -1) {
        if (this.cursor >= this.end) return this.wait(this.cursor - this.pos + 1);
        if (this.buf[this.cursor] !== DOLLAR) {
          this.fail(this.cursor, `expected '$' (argument ${this.args.length + 1} of ${this.argc})`);
        }
        const header = this.line(this.cursor + 1, 'an argument length ($<length>)');
        if (header === undefined) return this.wait(this.end - this.pos + 1);
        const len = this.integer(this.cursor + 1, header, 'argument length');
        if (len < 0 || len > MAX_BULK) this.fail(this.cursor, `argument length ${len} is out of range`);
        this.bulkLen = len;
        this.cursor = header + 2;
      }
      const stop = this.cursor + this.bulkLen;
      if (stop + 2 > this.end) return this.wait(stop + 2 - this.pos);
      if (this.buf[stop] !== CR || this.buf[stop + 1] !== LF) {
        this.fail(stop, `expected CRLF after an argument of ${this.bulkLen} bytes`);
      }
      this.args.push(this.buf.subarray(this.cursor, stop));
      this.cursor = stop + 2;
      this.bulkLen = -1;
    }
    const argv = this.args;
    this.args = [];
    this.argc = -1;
    return this.complete(argv);
  }

  private complete(argv: Buffer[]): ReplicationCommand {
    const start = this.pos;
    this.pos = this.cursor;
    this.scanFrom = this.cursor;
    this.needed = 0;
    return { argv, raw: this.buf.subarray(start, this.pos), offset: this.base + this.pos, db: 0 };
  }

  private wait(needed: number): undefined {
    this.needed = needed;
    return undefined;
  }

  /** An inline command: everything up to LF, split on blanks. A lone LF is a keep-alive. */
  private inline(): ReplicationCommand | undefined {
    const first = this.buf[this.pos]!;
    // A reply where a command belongs means the peer is not streaming commands at all.
    if (first === 0x2b || first === 0x2d || first === 0x3a || first === DOLLAR) {
      const text = this.buf.subarray(this.pos, Math.min(this.end, this.pos + 200)).toString('latin1');
      this.fail(this.pos, `expected a command, got a reply: ${JSON.stringify(text.split('\n')[0])}`);
    }
    const from = Math.max(this.scanFrom, this.pos);
    // Bound the search: a merge buffer holds unwritten bytes after `end`.
    const view = this.buf.length === this.end ? this.buf : this.buf.subarray(0, this.end);
    const lf = view.indexOf(LF, from);
    if (lf === -1) {
      if (this.end - this.pos > MAX_INLINE_BYTES) {
        this.fail(this.pos, `an inline command longer than ${MAX_INLINE_BYTES} bytes without a newline`);
      }
      this.scanFrom = this.end;
      return this.wait(this.end - this.pos + 1);
    }
    const stop = lf > this.pos && this.buf[lf - 1] === CR ? lf - 1 : lf;
    const argv: Buffer[] = [];
    let i = this.pos;
    while (i < stop) {
      while (i < stop && (this.buf[i] === 0x20 || this.buf[i] === 0x09)) i++;
      const s = i;
      while (i < stop && this.buf[i] !== 0x20 && this.buf[i] !== 0x09) i++;
      if (i > s) argv.push(this.buf.subarray(s, i));
    }
    this.cursor = lf + 1;
    return this.complete(argv.length === 0 ? EMPTY_ARGV : argv);
  }

  /** Index of the CR of the CRLF ending a header that starts at `from`, or undefined if not there yet. */
  private line(from: number, what: string): number | undefined {
    const limit = Math.min(this.end, from + MAX_HEADER_DIGITS + 1);
    for (let i = from; i < limit; i++) {
      if (this.buf[i] === CR) {
        if (i + 1 >= this.end) return undefined;
        if (this.buf[i + 1] !== LF) this.fail(i + 1, `expected LF after CR in ${what}`);
        return i;
      }
    }
    if (limit - from > MAX_HEADER_DIGITS) this.fail(from, `${what} is not a number followed by CRLF`);
    return undefined;
  }

  private integer(from: number, to: number, what: string): number {
    let i = from;
    let negative = false;
    if (this.buf[i] === 0x2d) {
      negative = true;
      i++;
    }
    if (i === to) this.fail(from, `empty ${what}`);
    let n = 0;
    for (; i < to; i++) {
      const c = this.buf[i]!;
      if (c < 0x30 || c > 0x39) this.fail(i, `${what} has a non-digit byte 0x${c.toString(16)}`);
      n = n * 10 + (c - 0x30);
    }
    if (!Number.isSafeInteger(n)) this.fail(from, `${what} is too large`);
    return negative ? -n : n;
  }

  private fail(at: number, what: string): never {
    const offset = this.base + this.pos;
    throw protocolError(
      `Malformed replication stream from ${this.peer} at offset ${this.base + at} (command starting at offset ${offset}): ${what}. The link must be dropped; a new PSYNC resumes after the last applied command.`,
      { op: 'read replication stream', peer: this.peer, offset, byteOffset: this.base + at },
    );
  }
}

const EMPTY_ARGV: Buffer[] = [];
Object.freeze(EMPTY_ARGV);
