import { RespDecoder, type RespDecoderOptions } from './decoder.js';
import { RespProtocolError } from './errors.js';
import type { RespFrame } from './frame.js';
import { RespType, respTypeName } from './types.js';
import { ErrorReply } from './values.js';

/**
 * The first `count` replies at the head of `buf`, and the offset just past them; undefined
 * while `buf` holds fewer. Bytes after them are never decoded: for connections that stop
 * speaking RESP after a few replies (a replication handshake before its RDB, a proxy's link
 * setup before a raw pipe). Re-decodes from the start on every call, so it is for small
 * request/reply exchanges, not streams. Throws RespProtocolError with offsets into `buf`.
 */
export function takeReplies(
  buf: Buffer,
  count: number,
  opts: RespDecoderOptions = {},
): { replies: RespFrame[]; end: number } | undefined {
  if (count <= 0) return { replies: [], end: 0 };
  if (buf.length === 0) return undefined;
  const decoder = new RespDecoder(opts);
  const replies: RespFrame[] = [];
  let end = 0;
  decoder.write(buf, (frame) => {
    replies.push(frame);
    if (replies.length < count) return;
    end = decoder.offset;
    // Ends the scan: what follows may not be RESP at all.
    decoder.takeBuffered();
  });
  return replies.length === count ? { replies, end } : undefined;
}

/**
 * A RESP2 reply as plain data, for request/reply code that compares values ('OK', 'PONG'):
 * simple string -> string, error -> ErrorReply, integer -> number, bulk -> Buffer (a view),
 * null bulk or array -> null, array -> PlainReply[].
 */
export type PlainReply = string | number | Buffer | null | ErrorReply | PlainReply[];

/**
 * The frame as a PlainReply. A RESP3-only type or an attribute is a protocol error: a client
 * that never sent HELLO 3 is never owed one. The error's offset indexes `frame.buf`.
 */
export function toPlainReply(frame: RespFrame): PlainReply {
  if (frame.headerStart !== frame.start) {
    throw new RespProtocolError('a RESP3 attribute where a RESP2 reply was expected', frame.start);
  }
  switch (frame.type) {
    case RespType.SimpleString:
      return frame.str();
    case RespType.Error:
      return new ErrorReply(frame.str());
    case RespType.Integer:
      return frame.int();
    case RespType.BulkString:
      return frame.length < 0 ? null : frame.bytes();
    case RespType.Array:
      return frame.length < 0 ? null : frame.elements.map(toPlainReply);
    default:
      throw new RespProtocolError(
        `a RESP3 ${respTypeName(frame.type)} where a RESP2 reply was expected`,
        frame.start,
      );
  }
}
