import { createServer, type Server, type Socket } from 'node:net';
import { freePort, waitFor } from '@minirs/harness';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CommandStreamReader,
  type FullSyncEnd,
  type ReplicationCommand,
  type ReplicationConsumer,
  ReplicationError,
  ReplicationLink,
  type ReplicationLinkOptions,
  readReplicationInfo,
  tcpSocketFactory,
} from '../src/replication/index.js';

/**
 * A programmable fake source, for protocol edge cases only (malformed or hostile replies);
 * real behaviour is tested against redis-server in replication-link.test.ts.
 */
class FakeSource {
  readonly server: Server;
  port = 0;
  readonly psyncs: string[][] = [];
  readonly acks: number[] = [];
  readonly sockets: Socket[] = [];

  constructor(
    private readonly onPsync: (s: Socket, args: string[], n: number) => void,
    private readonly onPing: (s: Socket) => void = (s) => s.write('+PONG\r\n'),
    private readonly onAck: (s: Socket, offset: number) => void = () => {},
  ) {
    this.server = createServer((socket) => {
      this.sockets.push(socket);
      socket.on('error', () => {});
      const reader = new CommandStreamReader(0);
      socket.on('data', (chunk) => {
        reader.feed(chunk);
        for (let cmd = reader.next(); cmd; cmd = reader.next()) this.dispatch(socket, cmd);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private dispatch(socket: Socket, cmd: ReplicationCommand): void {
    const argv = cmd.argv.map((a) => a.toString());
    const name = argv[0]?.toUpperCase();
    if (name === 'PING') this.onPing(socket);
    else if (name === 'AUTH') socket.write('+OK\r\n');
    else if (name === 'REPLCONF' && argv[1]?.toUpperCase() === 'ACK') {
      this.acks.push(Number(argv[2]));
      this.onAck(socket, Number(argv[2]));
    } else if (name === 'REPLCONF') socket.write('+OK\r\n');
    else if (name === 'PSYNC') {
      this.psyncs.push(argv.slice(1));
      this.onPsync(socket, argv.slice(1), this.psyncs.length);
    } else if (name === 'INFO') {
      const body = '# Replication\r\nrole:master\r\nmaster_replid:abc\r\nmaster_repl_offset:777\r\n';
      socket.write(`$${body.length}\r\n${body}\r\n`);
    } else socket.write(`-ERR unknown command '${argv[0]}'\r\n`);
  }
}

const fakes: FakeSource[] = [];
const links: ReplicationLink[] = [];
afterEach(async () => {
  await Promise.all(links.splice(0).map((l) => l.close()));
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const REPLID = 'a'.repeat(40);
const REPLID2 = 'b'.repeat(40);
const MARK = '0123456789abcdef0123456789abcdef01234567';
/** A minimal RDB: magic, repl-stream-db = 2, EOF opcode, zero checksum (unchecked). */
const RDB = Buffer.concat([
  Buffer.from('REDIS0010'),
  Buffer.from([0xfa, 14]),
  Buffer.from('repl-stream-db'),
  Buffer.from([0xc0, 2, 0xff]),
  Buffer.alloc(8),
]);

function mb(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

class Recorder implements ReplicationConsumer {
  rdb: Buffer[] = [];
  ends: FullSyncEnd[] = [];
  got: { argv: string[]; offset: number; db: number }[] = [];
  fullSyncStart(): void {
    this.rdb = [];
  }
  rdbChunk(chunk: Buffer): void {
    this.rdb.push(Buffer.from(chunk));
  }
  fullSyncEnd(info: FullSyncEnd): void {
    this.ends.push(info);
  }
  commands(batch: readonly ReplicationCommand[]): void {
    for (const c of batch)
      this.got.push({ argv: c.argv.map((a) => a.toString()), offset: c.offset, db: c.db });
  }
}

async function fake(
  onPsync: ConstructorParameters<typeof FakeSource>[0],
  onPing?: (s: Socket) => void,
  onAck?: (s: Socket, offset: number) => void,
) {
  const f = await new FakeSource(onPsync, onPing, onAck).start();
  fakes.push(f);
  return f;
}

function link(port: number, extra: Partial<ReplicationLinkOptions> = {}) {
  const l = new ReplicationLink({
    connect: tcpSocketFactory({ host: '127.0.0.1', port }),
    peer: `fake:${port}`,
    retry: { maxAttempts: 0, initialDelayMs: 10 },
    readTimeoutMs: 5_000,
    ...extra,
  });
  links.push(l);
  return l;
}

async function failure(p: Promise<void>): Promise<ReplicationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ReplicationError);
  return err as ReplicationError;
}

const fullResync = (s: Socket, offset = 100) =>
  s.write(`+FULLRESYNC ${REPLID} ${offset}\r\n$${RDB.length}\r\n${RDB.toString('latin1')}`, 'latin1');

describe('ReplicationLink protocol edge cases (fake source)', () => {
  it('follows keep-alives, the $EOF mark, the first-ACK rule, GETACK, SELECT, and resumes with PSYNC replid offset+1', async () => {
    const stream1 = [mb('PING'), '\n', mb('SELECT', '5'), mb('SET', 'k', 'v'), mb('REPLCONF', 'GETACK', '*')];
    const stream1Bytes = stream1.join('').length;
    let streamed = false;
    const f = await fake(
      (s, _args, n) => {
        if (n === 1) {
          s.write(`\n\n+FULLRESYNC ${REPLID} 1000\r\n\n\n$EOF:${MARK}\r\n`);
          s.write(Buffer.concat([RDB, Buffer.from(MARK)]));
        } else {
          s.write(`+CONTINUE ${REPLID2}\r\n${mb('INCR', 'n')}`);
        }
      },
      undefined,
      // Like a diskless Redis: the stream starts only after the replica's first ACK.
      (s) => {
        if (streamed) return;
        streamed = true;
        s.write(stream1.join(''));
      },
    );
    const rec = new Recorder();
    const l = link(f.port, { retry: { initialDelayMs: 10 } });
    const done = l.run(rec);
    done.catch(() => {});
    await waitFor(() => rec.got.length === 1 && f.acks.includes(1000 + stream1Bytes), 'GETACK answered');

    expect(Buffer.concat(rec.rdb).equals(RDB)).toBe(true);
    expect(rec.ends[0]!.streamDb).toBe(2);
    expect(rec.ends[0]!.rdbBytes).toBe(RDB.length);
    expect(f.acks[0]).toBe(1000);
    const setEnd = 1000 + stream1.slice(0, 4).join('').length;
    expect(rec.got[0]).toEqual({ argv: ['SET', 'k', 'v'], offset: setEnd, db: 5 });
    expect(f.psyncs[0]).toEqual(['?', '-1']);
    await waitFor(() => f.acks.filter((a) => a === 1000 + stream1Bytes).length >= 3, 'periodic ACKs');

    // The source drops the link: it comes back asking for the byte after the last applied one.
    f.sockets[0]!.destroy();
    await waitFor(() => rec.got.length === 2, 'the command after +CONTINUE');
    expect(f.psyncs[1]).toEqual([REPLID, String(1000 + stream1Bytes + 1)]);
    expect(rec.got[1]).toEqual({
      argv: ['INCR', 'n'],
      offset: 1000 + stream1Bytes + mb('INCR', 'n').length,
      db: 5,
    });
    expect(l.position).toEqual({ replid: REPLID2, offset: rec.got[1]!.offset, db: 5 });
  });

  it.each([
    ['garbage instead of +PONG', (s: Socket) => s.write('HELLO\r\n'), /unknown type byte 'H'/],
    [
      'an endless line instead of +PONG',
      (s: Socket) => s.write(`+${'A'.repeat(100 * 1024)}`),
      /line longer than 65536 bytes/,
    ],
    // We never send HELLO 3: a RESP3 reply is not from a Redis speaking to a replica.
    ['a RESP3 null instead of +PONG', (s: Socket) => s.write('_\r\n'), /where a RESP2 reply was expected/],
  ])('a source answering PING with %s is a protocol error', async (_n, onPing, message) => {
    const f = await fake(() => {}, onPing);
    const err = await failure(link(f.port).run(new Recorder()));
    expect(err.code).toBe('MINIRS_ERR_PROTOCOL');
    expect(err.retryable).toBe(false);
    expect(err.byteOffset).toBe(0);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['a bad replid', `+FULLRESYNC nope 0\r\n`, /answered PSYNC/],
    ['+CONTINUE to PSYNC ? -1', `+CONTINUE\r\n`, /answered PSYNC/],
    ['an unknown command error', `-ERR unknown command 'PSYNC'\r\n`, /unknown command/],
    ['a bad RDB header', `+FULLRESYNC ${REPLID} 0\r\n$abc\r\n`, /RDB header/],
    ['a payload that is not an RDB', `+FULLRESYNC ${REPLID} 0\r\n$11\r\nHELLO WORLD`, /not an RDB/],
    ['a payload too short for an RDB', `+FULLRESYNC ${REPLID} 0\r\n$5\r\nHELLO`, /too short/],
  ])('PSYNC answered with %s is a protocol error', async (_n, reply, message) => {
    const f = await fake((s) => s.write(reply));
    const err = await failure(link(f.port).run(new Recorder()));
    expect(err.code).toBe('MINIRS_ERR_PROTOCOL');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(message);
  });

  it('garbage in the command stream is a protocol error at the exact offset, after the good commands', async () => {
    const good = mb('SET', 'k', 'v');
    const f = await fake((s) => {
      fullResync(s, 100);
      s.write(`${good}*2\r\n$3\r\nSET\r\n!!!\r\n`);
    });
    const rec = new Recorder();
    const err = await failure(link(f.port).run(rec));
    expect(err.code).toBe('MINIRS_ERR_PROTOCOL');
    expect(err.offset).toBe(100 + good.length);
    expect(err.byteOffset).toBe(100 + good.length + '*2\r\n$3\r\nSET\r\n'.length);
    expect(rec.got).toEqual([{ argv: ['SET', 'k', 'v'], offset: 100 + good.length, db: 2 }]);
  });

  it('a silent source is a timeout (retryable), not a hang', async () => {
    const f = await fake(() => {});
    const l = link(f.port, { readTimeoutMs: 300 });
    const err = await failure(l.run(new Recorder()));
    expect(err.code).toBe('MINIRS_ERR_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/reply to PSYNC/);
  });

  it('a source closing mid-RDB is a connection error, retried up to maxAttempts', async () => {
    const f = await fake((s) => {
      s.write(
        `+FULLRESYNC ${REPLID} 0\r\n$${RDB.length}\r\n${RDB.subarray(0, 10).toString('latin1')}`,
        'latin1',
      );
      s.end();
    });
    const l = link(f.port, { retry: { maxAttempts: 2, initialDelayMs: 5 } });
    const retries: number[] = [];
    l.on('retry', (_e, _d, attempt) => retries.push(attempt));
    const err = await failure(l.run(new Recorder()));
    expect(err.code).toBe('MINIRS_ERR_CONNECTION');
    expect(err.message).toMatch(/during the full sync after 10 RDB bytes/);
    expect(retries).toEqual([1, 2]);
    expect(f.psyncs).toHaveLength(3);
  });

  it('an error reply in place of the RDB (failed BGSAVE) is retried', async () => {
    const f = await fake((s, _a, n) => {
      if (n === 1) s.write(`+FULLRESYNC ${REPLID} 0\r\n-ERR BGSAVE failed\r\n`);
      else fullResync(s, 0);
    });
    const rec = new Recorder();
    const l = link(f.port, { retry: { maxAttempts: 3, initialDelayMs: 5 } });
    const done = l.run(rec);
    done.catch(() => {});
    await waitFor(() => rec.ends.length === 1, 'the second attempt to sync');
    expect(l.lastError?.code).toBe('MINIRS_ERR_CONNECTION');
    expect(l.lastError?.reply).toBe('ERR BGSAVE failed');
  });

  it('refused connections and unknown hosts are connection errors', async () => {
    const port = await freePort();
    const refused = await failure(link(port).run(new Recorder()));
    expect(refused.code).toBe('MINIRS_ERR_CONNECTION');
    expect(refused.message).toMatch(/ECONNREFUSED/);
    const l = new ReplicationLink({
      connect: tcpSocketFactory({ host: 'no-such-host.invalid', port: 6379 }),
      retry: { maxAttempts: 0 },
    });
    links.push(l);
    const unknown = await failure(l.run(new Recorder()));
    expect(unknown.code).toBe('MINIRS_ERR_CONNECTION');
  });

  it('runs pre-steps on the connection before the handshake (minirs proxy routing)', async () => {
    const seen: string[][] = [];
    const f = await fake((s) => fullResync(s));
    const l = link(f.port, {
      preamble: async (session) => {
        seen.push(['AUTH', String(await session.expect('AUTH', 'admin', 'pw'))]);
        // The fake source does not know MINIRS.LINK: the error reply comes back as a value.
        const r = await session.call('MINIRS.LINK', '3');
        seen.push(['MINIRS.LINK', String((r as { message: string }).message)]);
      },
    });
    const rec = new Recorder();
    const done = l.run(rec);
    done.catch(() => {});
    await waitFor(() => rec.ends.length === 1, 'the sync after the pre-steps');
    expect(seen).toEqual([
      ['AUTH', 'OK'],
      ['MINIRS.LINK', "ERR unknown command 'MINIRS.LINK'"],
    ]);
  });

  it('a consumer exception ends run() with that exception and drops the connection', async () => {
    const f = await fake((s) => {
      fullResync(s);
      s.write(mb('SET', 'k', 'v'));
    });
    const boom = new Error('destination refused');
    const l = link(f.port, { retry: { maxAttempts: 5 } });
    const err = await l
      .run({
        fullSyncStart() {},
        rdbChunk() {},
        fullSyncEnd() {},
        commands() {
          throw boom;
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBe(boom);
    expect(l.state).toBe('closed');
    expect(f.psyncs).toHaveLength(1);
    await waitFor(() => f.sockets[0]!.destroyed || f.sockets[0]!.readableEnded, 'the connection to close');
  });

  it('close() ends run() even while a connection attempt hangs', async () => {
    let aborted = false;
    const l = new ReplicationLink({
      connect: (signal) =>
        new Promise(() => {
          signal?.addEventListener('abort', () => {
            aborted = true;
          });
        }),
    });
    const done = l.run(new Recorder());
    await waitFor(() => l.state === 'connecting', 'the connection attempt');
    await l.close();
    await done;
    expect(l.state).toBe('closed');
    expect(aborted).toBe(true);
  });

  it('reads INFO replication over its own connection', async () => {
    const f = await fake(() => {});
    const info = await readReplicationInfo({
      connect: tcpSocketFactory({ host: '127.0.0.1', port: f.port }),
    });
    expect(info).toMatchObject({ role: 'master', masterReplid: 'abc', masterReplOffset: 777 });
  });
});
