import { connect } from 'node:net';
import { RespDecoder } from './decoder.js';
import type { RespFrame } from './frame.js';
import { encodeCommand } from './writer.js';

export interface AskTarget {
  host: string;
  port: number;
  /** Sent first as AUTH (its reply is the first of the replies). */
  password?: string;
}

/**
 * One short-lived connection: the commands pipelined (after AUTH when there is a password), and
 * their replies in order. For probes that must not load a client library (a shard says hello
 * before it pays for ioredis) or keep a connection: a health check, an INFO read. Never throws:
 * a refused connection, a timeout or a protocol error is the `error` text.
 */
export function askRedis(
  t: AskTarget,
  commands: readonly (readonly string[])[],
  timeoutMs: number,
): Promise<{ replies: RespFrame[] } | { error: string }> {
  const all = t.password !== undefined ? [['AUTH', t.password], ...commands] : [...commands];
  return new Promise((resolve) => {
    const sock = connect({ host: t.host, port: t.port });
    const decoder = new RespDecoder();
    const replies: RespFrame[] = [];
    let settled = false;
    const finish = (r: { replies: RespFrame[] } | { error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.once('connect', () => {
      sock.write(Buffer.concat(all.map((c) => encodeCommand(c))));
    });
    sock.on('data', (chunk: Buffer) => {
      try {
        decoder.write(chunk, (f) => {
          replies.push(f);
        });
      } catch (err) {
        finish({ error: (err as Error).message });
        return;
      }
      if (replies.length >= all.length) finish({ replies });
    });
    sock.on('error', (err) => finish({ error: err.message }));
    sock.on('close', () => finish({ error: 'connection closed before the replies' }));
  });
}
