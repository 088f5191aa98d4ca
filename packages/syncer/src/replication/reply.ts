import { protocolError } from './errors.js';

/** An error reply (`-ERR ...`): a value, so callers decide whether it is fatal. */
export class ErrorReply {
  constructor(readonly message: string) {}
}

/** A RESP2 reply: simple string, integer, bulk (Buffer), null, array or error. */
export type Reply = string | number | Buffer | null | ErrorReply | Reply[];

const CR = 0x0d;
const LF = 0x0a;
const MAX_LINE = 64 * 1024;
const MAX_DEPTH = 8;

export interface Parsed {
  reply: Reply;
  end: number;
}

/**
 * Parse one reply at `pos`; undefined when incomplete. Only the handshake uses this (PING,
 * AUTH, REPLCONF, PSYNC, INFO and caller-supplied pre-steps), so replies are small and a
 * re-parse from the start on more data is fine. `at` is the byte offset of buf[0] on the
 * connection, for error messages.
 */
export function parseReply(
  buf: Buffer,
  pos: number,
  peer: string,
  at: number,
  depth = 0,
): Parsed | undefined {
  const lineEnd = findCrlf(buf, pos, peer, at);
  if (lineEnd === undefined) return undefined;
  const type = buf[pos]!;
  const text = buf.subarray(pos + 1, lineEnd).toString('latin1');
  const next = lineEnd + 2;
  switch (type) {
    case 0x2b: // +
      return { reply: text, end: next };
    case 0x2d: // -
      return { reply: new ErrorReply(text), end: next };
    case 0x3a: // :
      return { reply: integer(text, peer, at + pos), end: next };
    case 0x24: {
      // $
      const len = integer(text, peer, at + pos);
      if (len < 0) return { reply: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      if (buf[next + len] !== CR || buf[next + len + 1] !== LF) {
        throw bad(peer, at + next + len, 'expected CRLF after a bulk reply');
      }
      return { reply: buf.subarray(next, next + len), end: next + len + 2 };
    }
    case 0x2a: {
      // *
      const n = integer(text, peer, at + pos);
      if (n < 0) return { reply: null, end: next };
      if (depth >= MAX_DEPTH) throw bad(peer, at + pos, 'replies nested too deep');
      const items: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, p, peer, at, depth + 1);
        if (item === undefined) return undefined;
        items.push(item.reply);
        p = item.end;
      }
      return { reply: items, end: p };
    }
    default:
      throw bad(
        peer,
        at + pos,
        `expected a reply, got ${JSON.stringify(buf.subarray(pos, Math.min(lineEnd, pos + 80)).toString('latin1'))}`,
      );
  }
}

function findCrlf(buf: Buffer, pos: number, peer: string, at: number): number | undefined {
  const lf = buf.indexOf(LF, pos);
  if (lf === -1) {
    if (buf.length - pos > MAX_LINE) throw bad(peer, at + pos, `no line end within ${MAX_LINE} bytes`);
    return undefined;
  }
  if (lf === pos || buf[lf - 1] !== CR) throw bad(peer, at + lf, 'expected CRLF line ends');
  return lf - 1;
}

function integer(text: string, peer: string, at: number): number {
  if (!/^-?[0-9]{1,18}$/.test(text)) throw bad(peer, at, `expected an integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function bad(peer: string, byteOffset: number, what: string) {
  return protocolError(
    `Malformed reply from ${peer} at byte ${byteOffset} of the connection: ${what}. Are host and port those of a Redis?`,
    { op: 'handshake', peer, byteOffset },
  );
}

/** Short printable form of a reply for messages. */
export function describeReply(r: Reply): string {
  if (r instanceof ErrorReply) return `-${r.message}`;
  if (Buffer.isBuffer(r)) return JSON.stringify(r.subarray(0, 80).toString('latin1'));
  if (Array.isArray(r)) return `[${r.length} items]`;
  return JSON.stringify(r);
}
