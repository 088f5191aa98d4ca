import { protocolError } from './errors.js';

const OPCODE_AUX = 0xfa;
/** Aux fields are a few hundred bytes; an old Redis may store Lua scripts there. Stop looking after this. */
const MAX_SCAN_BYTES = 1024 * 1024;

export interface RdbPreamble {
  /** RDB format version from the magic `REDISnnnn`. */
  version: number;
  /**
   * AUX fields before the first key (redis-ver, repl-stream-db, repl-id, repl-offset, ...).
   * Integer-encoded values are given in decimal; LZF-compressed ones are left out.
   */
  aux: Map<string, string>;
  /** False when the scan stopped at its byte limit before the end of the aux fields. */
  complete: boolean;
}

/**
 * Reads just the head of an RDB (magic, version, AUX fields) as it streams past, without holding
 * more than that head. The link needs `repl-stream-db`: the db the command stream continues in.
 * The full parser lives in @minirs/rdb; this is deliberately only the first few opcodes.
 */
export class RdbAuxScanner {
  private head: Buffer = Buffer.alloc(0);
  /** Start of the first field not yet parsed. */
  private pos = 0;
  private version = -1;
  private readonly aux = new Map<string, string>();
  done = false;
  private complete = false;

  constructor(private readonly peer = 'source') {}

  /** Feed RDB bytes in order; returns true once the aux fields are over (further pushes are ignored). */
  push(chunk: Buffer): boolean {
    if (this.done) return true;
    const want = Math.min(chunk.length, MAX_SCAN_BYTES + 64 - this.head.length);
    this.head = Buffer.concat([this.head, chunk.subarray(0, want)]);
    this.scan();
    if (!this.done && this.head.length >= MAX_SCAN_BYTES) this.done = true;
    return this.done;
  }

  /** What was found; call after push() returned true or the RDB ended. */
  result(): RdbPreamble {
    return { version: this.version, aux: this.aux, complete: this.complete };
  }

  private scan(): void {
    if (this.version === -1) {
      if (this.head.length < 9) return;
      const magic = this.head.subarray(0, 9).toString('latin1');
      if (!/^REDIS[0-9]{4}$/.test(magic)) {
        throw protocolError(
          `The full sync payload from ${this.peer} is not an RDB (it starts with ${JSON.stringify(magic)}).`,
          { op: 'full sync', peer: this.peer },
        );
      }
      this.version = Number(magic.slice(5));
      this.pos = 9;
    }
    while (this.pos < this.head.length) {
      if (this.head[this.pos] !== OPCODE_AUX) {
        this.done = true;
        this.complete = true;
        return;
      }
      const key = this.string(this.pos + 1);
      if (key === undefined) return;
      const value = this.string(key.end);
      if (value === undefined) return;
      if (key.text !== undefined && value.text !== undefined) this.aux.set(key.text, value.text);
      this.pos = value.end;
    }
  }

  /** An RDB string at `at`: its text (undefined if LZF-compressed) and where it ends; undefined if incomplete. */
  private string(at: number): { text: string | undefined; end: number } | undefined {
    const h = this.head;
    if (at >= h.length) return undefined;
    const first = h[at]!;
    const kind = first >> 6;
    if (kind === 3) {
      const enc = first & 0x3f;
      if (enc === 0)
        return at + 2 <= h.length ? { text: String(h.readInt8(at + 1)), end: at + 2 } : undefined;
      if (enc === 1)
        return at + 3 <= h.length ? { text: String(h.readInt16LE(at + 1)), end: at + 3 } : undefined;
      if (enc === 2)
        return at + 5 <= h.length ? { text: String(h.readInt32LE(at + 1)), end: at + 5 } : undefined;
      if (enc === 3) {
        const clen = this.length(at + 1);
        if (clen === undefined) return undefined;
        const ulen = this.length(clen.end);
        if (ulen === undefined) return undefined;
        const end = ulen.end + clen.value;
        return end <= h.length ? { text: undefined, end } : undefined;
      }
      throw protocolError(`Unknown RDB string encoding ${enc} in the aux fields from ${this.peer}.`, {
        op: 'full sync',
        peer: this.peer,
      });
    }
    const len = this.length(at);
    if (len === undefined) return undefined;
    const end = len.end + len.value;
    if (end > h.length) return undefined;
    return { text: h.subarray(len.end, end).toString('utf8'), end };
  }

  /** An RDB length (not a special encoding) at `at`. */
  private length(at: number): { value: number; end: number } | undefined {
    const h = this.head;
    if (at >= h.length) return undefined;
    const first = h[at]!;
    switch (first >> 6) {
      case 0:
        return { value: first & 0x3f, end: at + 1 };
      case 1:
        return at + 2 <= h.length ? { value: ((first & 0x3f) << 8) | h[at + 1]!, end: at + 2 } : undefined;
      default:
        if (first === 0x80)
          return at + 5 <= h.length ? { value: h.readUInt32BE(at + 1), end: at + 5 } : undefined;
        if (first === 0x81) {
          return at + 9 <= h.length ? { value: Number(h.readBigUInt64BE(at + 1)), end: at + 9 } : undefined;
        }
        throw protocolError(
          `Bad RDB length byte 0x${first.toString(16)} in the aux fields from ${this.peer}.`,
          {
            op: 'full sync',
            peer: this.peer,
          },
        );
    }
  }
}
