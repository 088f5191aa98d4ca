import type { RespProtocolError } from '@minirs/resp';

/**
 * redis-server's own text for a malformed request (networking.c, processMultibulkBuffer and
 * processInlineBuffer), from the decoder's error and the bytes of the frame it failed in
 * (`frame`, starting at stream offset `frameOffset`). Clients and test suites match these
 * texts ("invalid multibulk length", "expected '$', got 'f'"...).
 */
export function redisProtocolError(err: RespProtocolError, frame: Buffer, frameOffset: number): string {
  const at = err.offset - frameOffset;
  const r = err.reason;
  const byteAt = (i: number) => (i >= 0 && i < frame.length ? frame[i]! : -1);
  if (r.startsWith("expected '$'")) {
    const b = byteAt(at);
    return `expected '$', got '${b < 0 ? '?' : String.fromCharCode(b)}'`;
  }
  if (r.startsWith('inline command longer')) return 'too big inline request';
  if (r.startsWith('line longer than')) {
    return byteAt(at) === 0x24 ? 'too big bulk count string' : 'too big mbulk count string';
  }
  if (/^(negative length|length |invalid length|missing length|line feed|expected LF)/.test(r)) {
    // The header's type byte: walk back over its digits and sign.
    let i = Math.min(at, frame.length) - 1;
    while (
      i >= 0 &&
      frame[i] !== 0x2a &&
      frame[i] !== 0x24 &&
      (frame[i] === 0x2d || (frame[i]! >= 0x30 && frame[i]! <= 0x39))
    )
      i--;
    return byteAt(i) === 0x24 ? 'invalid bulk length' : 'invalid multibulk length';
  }
  return r;
}

/** redis-server's text for an inline command whose quotes do not parse (sdssplitargs). */
export function redisInlineError(err: RespProtocolError): string {
  if (/unbalanced quotes|closing quote/.test(err.reason)) return 'unbalanced quotes in request';
  return err.reason;
}
