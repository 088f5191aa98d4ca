import { createConnection } from 'node:net';
import { parseInfo } from './stats.js';

export interface RedisTarget {
  host: string;
  port: number;
  password: string;
}

export type ProbeResult = { ok: true; pid: number } | { ok: false; error: string };

type Reply = { kind: 'simple' | 'error' | 'int'; text: string } | { kind: 'bulk'; text: string | null };

function command(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** One RESP2 reply at `offset`, or undefined while it is incomplete. Arrays are not expected here. */
function readReply(buf: Buffer, offset: number): { reply: Reply; next: number } | undefined {
  const eol = buf.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', offset + 1, eol);
  switch (buf[offset]) {
    case 0x2b: // +
      return { reply: { kind: 'simple', text: line }, next: eol + 2 };
    case 0x2d: // -
      return { reply: { kind: 'error', text: line }, next: eol + 2 };
    case 0x3a: // :
      return { reply: { kind: 'int', text: line }, next: eol + 2 };
    case 0x24: {
      // $
      const len = Number(line);
      if (len < 0) return { reply: { kind: 'bulk', text: null }, next: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return {
        reply: { kind: 'bulk', text: buf.toString('utf8', eol + 2, eol + 2 + len) },
        next: eol + 2 + len + 2,
      };
    }
    default:
      return {
        reply: { kind: 'error', text: `unexpected reply type ${JSON.stringify(line.slice(0, 20))}` },
        next: buf.length,
      };
  }
}

/**
 * Answers whether a redis-server with our password serves host:port, and its process_id (how
 * adoption proves the pid file names that very server). One connection, AUTH + PING + INFO
 * server pipelined. Raw RESP rather than ioredis so the shard can say hello before paying for
 * loading ioredis (see Shard.start).
 */
export function probeRedis(t: RedisTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: t.host, port: t.port });
    let buf: Buffer = Buffer.alloc(0);
    let offset = 0;
    const replies: Reply[] = [];
    let settled = false;
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ ok: false, error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    sock.once('connect', () => {
      sock.write(command(['AUTH', t.password]) + command(['PING']) + command(['INFO', 'server']));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const r = readReply(buf, offset);
        if (!r) break;
        replies.push(r.reply);
        offset = r.next;
      }
      if (replies.length < 3) return;
      const [auth, ping, info] = replies as [Reply, Reply, Reply];
      if (auth.kind === 'error') return finish({ ok: false, error: auth.text });
      if (ping.kind !== 'simple' || ping.text !== 'PONG')
        return finish({ ok: false, error: `PING answered ${ping.text}` });
      if (info.kind !== 'bulk' || info.text === null)
        return finish({ ok: false, error: `INFO answered ${info.text}` });
      finish({ ok: true, pid: Number(parseInfo(info.text).get('process_id')) });
    });
    sock.on('error', (err) => finish({ ok: false, error: err.message }));
    sock.on('close', () => finish({ ok: false, error: 'connection closed before the replies' }));
  });
}
