import { Fifo } from '@minirs/common';
import { type RespFrame, RespType } from '@minirs/resp';
import type { Session } from '../session.js';
import { INTERNAL_PREFIX, linkAddresses } from '../shard-link.js';
import { ShardStream } from './shard-stream.js';

const MONITOR = Buffer.from('*1\r\n$7\r\nMONITOR\r\n');
const INTERNAL_ARG = Buffer.from(`"${INTERNAL_PREFIX}`, 'latin1');

/**
 * Commands a MONITOR connection cannot send through the endpoint: the proxy answers them for
 * ordinary clients (sent to the monitor's shard link they would act on that link), or they
 * would turn the link into something else (a subscriber).
 */
const NOT_ON_MONITOR = new Set([
  'auth',
  'hello',
  'client',
  'config',
  'select',
  'echo',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'minirs.shards',
  'minirs.link',
]);

/**
 * MONITOR through a database endpoint (RS supports it): a dedicated link to every shard of the
 * database runs MONITOR, and the client gets one `+OK` once every shard answered it, then the
 * lines of all shards as they come. Shown are the commands the shards got from this proxy's
 * links (the clients of this endpoint, with the address of the proxy's link to the shard, as a
 * shard sees them) and from scripts (`[0 lua]`); left out are other connections to the shard
 * (the cluster's own probes) and the proxy's internal commands (link handshakes, idle and
 * marker PINGs: arguments starting with `__minirs:`).
 *
 * As on redis-server, the client may go on sending commands: they run on the first shard's
 * monitor link (so the shard answers as it answers a monitor: no keyspace access), and their
 * replies come in order among the lines. QUIT and RESET end it.
 */
export class MonitorPipe extends ShardStream {
  /** Links whose MONITOR answered +OK. */
  private oks = 0;
  private started = false;
  /** Lines that came before every shard answered MONITOR. */
  private held: Buffer[] = [];
  /** Replies owed to the client, in order: null = the first shard's, a Buffer = the proxy's. */
  private readonly owed = new Fifo<Buffer | null>();

  constructor(c: Session) {
    super(c, 'monitor link lost; closing the monitor', MONITOR);
    // The client's next commands wait for the +OK.
    c.holdBarrier();
  }

  /** A command from the monitoring client. */
  dispatch(frame: RespFrame): boolean {
    const c = this.c;
    const name = c.view.name;
    const ended = this.ending(name);
    if (ended !== null) return ended;
    // redis-server ignores MONITOR on a monitor (no reply).
    if (name === 'monitor') return true;
    if (NOT_ON_MONITOR.has(name)) {
      this.local(
        c
          .writer()
          .error(
            `ERR command '${name.toUpperCase()}' is not supported on a MONITOR connection through a database endpoint; use another connection`,
          )
          .finish(),
      );
      return true;
    }
    this.owed.push(null);
    this.links[0]!.sendRaw(frame.buf, frame.start, frame.end);
    return true;
  }

  protected local(bytes: Buffer): void {
    if (this.owed.length === 0) this.entry.emit(bytes);
    else this.owed.push(bytes);
  }

  protected onFrame(i: number, f: RespFrame): void {
    if (this.closed) return;
    if (!this.started) {
      this.handshake(i, f);
      return;
    }
    const line = monitorLine(f);
    if (line) {
      if (shown(f)) this.entry.emit(f.raw());
      return;
    }
    if (i !== 0 || this.owed.peek() !== null) return; // nothing asked for it
    this.owed.shift();
    this.entry.emit(f.raw());
    while (this.owed.length > 0 && this.owed.peek() !== null) this.entry.emit(this.owed.shift()!);
  }

  /** Before every shard answered MONITOR: its first frame is that answer. */
  private handshake(i: number, f: RespFrame): void {
    if (monitorLine(f)) {
      if (shown(f)) this.held.push(f.raw());
      return;
    }
    if (f.isError) {
      // The client gets the shard's refusal and stays an ordinary client.
      this.entry.emit(f.raw());
      this.close();
      this.c.pump();
      return;
    }
    void i;
    if (++this.oks < this.links.length) return;
    this.started = true;
    this.entry.emit(f.raw());
    for (const b of this.held) this.entry.emit(b);
    this.held = [];
    this.c.releaseBarrier();
    this.c.pump();
  }
}

/** A MONITOR line: `+<seconds>.<micros> [<db> <client>] "cmd" ...`. */
function monitorLine(f: RespFrame): boolean {
  if (f.type !== RespType.SimpleString) return false;
  const b = f.buf;
  const s = f.valueStart;
  if (f.valueEnd - s < 12 || b[s]! < 0x30 || b[s]! > 0x39) return false;
  const sp = b.indexOf(0x20, s);
  return sp > 0 && sp < f.valueEnd - 1 && b[sp + 1] === 0x5b; // ' ['
}

/** Is the line a command of this endpoint's clients (or their scripts), not an internal one? */
function shown(f: RespFrame): boolean {
  const b = f.buf;
  const open = b.indexOf(0x5b, f.valueStart); // [
  const dbEnd = b.indexOf(0x20, open);
  const close = b.indexOf(0x5d, dbEnd); // ]
  if (open < 0 || dbEnd < 0 || close < 0 || close > f.valueEnd) return false;
  const client = b.toString('latin1', dbEnd + 1, close);
  if (client !== 'lua' && !linkAddresses.has(client)) return false;
  const cmd = b.toString('latin1', close + 2, Math.min(close + 9, f.valueEnd)).toLowerCase();
  // The links' own handshakes: a client's HELLO is answered by the proxy and never forwarded.
  if (cmd === '"hello"') return false;
  const args = b.subarray(close, f.valueEnd);
  return args.indexOf(INTERNAL_ARG) < 0;
}

/** MONITOR: every shard's commands on this connection from now on. */
export function monitor(c: Session): boolean {
  const v = c.view;
  if (v.argc !== 1) {
    c.replyError("ERR wrong number of arguments for 'monitor' command");
    return true;
  }
  if (c.endpoint.pools.length === 0) {
    c.replyError('ERR this database has no shards yet; retry later');
    return true;
  }
  if (c.txn?.active) {
    c.replyError('ERR MONITOR is not supported while a transaction or WATCH is open on this connection');
    return true;
  }
  if (c.replies.length > 0) return false; // earlier replies first
  c.enterMonitor(new MonitorPipe(c));
  return true;
}
