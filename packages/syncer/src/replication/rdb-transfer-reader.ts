import { ErrorCodes } from '@minirs/common';
import { protocolError, ReplicationError } from './errors.js';

/** Redis's CONFIG_RUN_ID_SIZE: the EOF mark of a diskless transfer is 40 bytes. */
export const EOF_MARK_BYTES = 40;
/** Redis reads the bulk header into a 1024-byte buffer; anything longer is not a header. */
const MAX_HEADER_BYTES = 1024;
const LF = 0x0a;
const CR = 0x0d;

export type RdbTransferHeader =
  /** A disk-based transfer: the size is known up front. */
  | { kind: 'length'; size: number }
  /** A diskless transfer: the payload ends with this mark, which is not part of the RDB. */
  | { kind: 'eof'; mark: Buffer };

/**
 * The RDB part of a full sync, after `+FULLRESYNC`: keep-alive newlines while the source
 * prepares the snapshot, then `$<len>\r\n` + len bytes, or `$EOF:<40-byte mark>\r\n` + bytes +
 * the mark. feed() hands out payload bytes as views of the chunks (for the EOF form the last 40
 * bytes seen are held back, copied, until it is clear they are not the mark) and, once the
 * payload is over, returns the bytes after it: the start of the command stream.
 */
export class RdbTransferReader {
  header: RdbTransferHeader | undefined;
  /** Payload bytes handed out so far. */
  transferred = 0;
  /** Keep-alive newlines seen before the header. */
  keepAlives = 0;
  done = false;

  private line: Buffer[] = [];
  private lineBytes = 0;
  private held: Buffer = Buffer.alloc(0);
  /** Bytes of the connection received before this chunk, for error positions. */
  private received: number;

  constructor(
    private readonly peer: string,
    bytesBefore = 0,
  ) {
    this.received = bytesBefore;
  }

  /**
   * Consume a chunk; payload views are pushed onto `out`. Returns undefined while the payload
   * goes on, and the rest of the chunk (possibly empty) once it has ended.
   */
  feed(chunk: Buffer, out: Buffer[]): Buffer | undefined {
    if (this.done) return chunk;
    let i = 0;
    while (this.header === undefined) {
      const lf = chunk.indexOf(LF, i);
      if (lf === -1) {
        this.appendLine(chunk.subarray(i));
        this.received += chunk.length;
        return undefined;
      }
      this.appendLine(chunk.subarray(i, lf));
      const at = this.received + i;
      i = lf + 1;
      this.parseHeader(at);
    }
    const data = i === 0 ? chunk : chunk.subarray(i);
    const rest =
      this.header.kind === 'length'
        ? this.sized(data, this.header.size, out)
        : this.marked(data, this.header.mark, out);
    this.received += chunk.length - (rest?.length ?? 0);
    return rest;
  }

  private appendLine(part: Buffer): void {
    this.lineBytes += part.length;
    if (this.lineBytes > MAX_HEADER_BYTES) {
      throw protocolError(
        `${this.peer} sent ${this.lineBytes} bytes without a newline where the RDB header ($<length> or $EOF:<mark>) belongs. Are host and port those of a Redis?`,
        { op: 'full sync', peer: this.peer, byteOffset: this.received },
      );
    }
    // Copied: the header is tiny and the chunk may be a view the caller reuses.
    if (part.length > 0) this.line.push(Buffer.from(part));
  }

  private parseHeader(at: number): void {
    let line = Buffer.concat(this.line, this.lineBytes);
    this.line = [];
    this.lineBytes = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length === 0) {
      this.keepAlives++;
      return;
    }
    const text = line.toString('latin1');
    if (text.startsWith('-')) {
      throw new ReplicationError(
        ErrorCodes.CONNECTION,
        `${this.peer} aborted the full sync: ${text.slice(1)}. The link retries.`,
        { op: 'full sync', peer: this.peer, reply: text.slice(1), byteOffset: at, retryable: true },
      );
    }
    if (text.startsWith('$EOF:') && text.length >= 5 + EOF_MARK_BYTES) {
      this.header = { kind: 'eof', mark: Buffer.from(line.subarray(5, 5 + EOF_MARK_BYTES)) };
      return;
    }
    if (/^\$[0-9]{1,16}$/.test(text)) {
      this.header = { kind: 'length', size: Number(text.slice(1)) };
      if (this.header.size === 0) this.done = true;
      return;
    }
    throw protocolError(
      `${this.peer} sent ${JSON.stringify(text.slice(0, 80))} where the RDB header ($<length> or $EOF:<mark>) belongs.`,
      { op: 'full sync', peer: this.peer, byteOffset: at },
    );
  }

  private sized(data: Buffer, size: number, out: Buffer[]): Buffer | undefined {
    if (this.done) return data;
    const take = Math.min(size - this.transferred, data.length);
    if (take > 0) {
      out.push(take === data.length ? data : data.subarray(0, take));
      this.transferred += take;
    }
    if (this.transferred < size) return undefined;
    this.done = true;
    return data.subarray(take);
  }

  private marked(data: Buffer, mark: Buffer, out: Buffer[]): Buffer | undefined {
    const held = this.held;
    // A mark that starts in the held-back bytes ends within the first 40 bytes of data.
    const bridge = Buffer.concat([held, data.subarray(0, EOF_MARK_BYTES)]);
    let at = bridge.indexOf(mark);
    if (at !== -1) {
      if (at > 0) this.emit(out, at <= held.length ? held.subarray(0, at) : held);
      if (at > held.length) this.emit(out, data.subarray(0, at - held.length));
      return this.finish(data.subarray(at + EOF_MARK_BYTES - held.length));
    }
    at = data.indexOf(mark);
    if (at !== -1) {
      this.emit(out, held);
      this.emit(out, data.subarray(0, at));
      return this.finish(data.subarray(at + EOF_MARK_BYTES));
    }
    if (data.length >= EOF_MARK_BYTES) {
      this.emit(out, held);
      this.emit(out, data.subarray(0, data.length - EOF_MARK_BYTES));
      this.held = Buffer.from(data.subarray(data.length - EOF_MARK_BYTES));
    } else {
      const joined = Buffer.concat([held, data]);
      const keep = Math.max(0, joined.length - EOF_MARK_BYTES);
      this.emit(out, joined.subarray(0, keep));
      this.held = joined.subarray(keep);
    }
    return undefined;
  }

  private emit(out: Buffer[], bytes: Buffer): void {
    if (bytes.length === 0) return;
    out.push(bytes);
    this.transferred += bytes.length;
  }

  private finish(rest: Buffer): Buffer {
    this.done = true;
    this.held = Buffer.alloc(0);
    return rest;
  }
}
