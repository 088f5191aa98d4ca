import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A delaying TCP relay (minirs): where the kernel has no netem, latency, jitter and bandwidth
 * faults put one of these in the path with an nftables dnat. Each accepted connection is joined
 * to the real target, connected from `bindAddr` (which the dnat rules exclude, so the relay's own
 * connection is not turned back into itself). Every chunk, in each direction, is delivered
 * `ms ± jitter_ms` after it arrived and no earlier than the previous one (order is kept), then
 * paced to `kbps` kbit/s when a rate is set.
 */

export interface RelayShape {
  ms: number;
  jitterMs: number;
  /** kbit/s (1000 bit), 0 = unlimited. */
  kbps: number;
}

class DelayedPipe {
  private lastDue = 0;
  private pending = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly shape: RelayShape,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.once('end', () => this.schedule(() => to.end()));
  }

  private delay(): number {
    const j = this.shape.jitterMs;
    return Math.max(0, this.shape.ms + (j ? (Math.random() * 2 - 1) * j : 0));
  }

  private schedule(fn: () => void, bytes = 0): void {
    const now = Date.now();
    let due = Math.max(now + this.delay(), this.lastDue);
    if (this.shape.kbps > 0 && bytes > 0) due = Math.max(due, this.lastDue) + (bytes * 8) / this.shape.kbps;
    this.lastDue = due;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, due - now);
    this.timers.add(t);
  }

  private push(chunk: Buffer): void {
    this.pending += chunk.length;
    // Bounded memory: stop reading while a lot is in flight (the sender's TCP window fills).
    if (this.pending > 4 * 1024 * 1024) this.from.pause();
    this.schedule(() => {
      this.pending -= chunk.length;
      if (!this.to.destroyed) this.to.write(chunk);
      if (this.pending <= 1024 * 1024 && this.from.isPaused()) this.from.resume();
    }, chunk.length);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export class DelayRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<DelayedPipe>();
  port = 0;

  constructor(
    readonly bindAddr: string,
    readonly target: { host: string; port: number },
    /** client -> target */
    readonly up: RelayShape,
    /** target -> client */
    readonly down: RelayShape,
  ) {}

  async listen(): Promise<number> {
    const server = createServer((client) => this.join(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.bindAddr, () => resolve());
    });
    server.on('error', () => {});
    this.server = server;
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  private join(client: Socket): void {
    const upstream = connect({ host: this.target.host, port: this.target.port, localAddress: this.bindAddr });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {});
      s.once('close', () => {
        this.sockets.delete(s);
        // One side gone: the other goes too, as a broken path would do.
        (s === client ? upstream : client).destroy();
      });
    }
    const a = new DelayedPipe(client, upstream, this.up);
    const b = new DelayedPipe(upstream, client, this.down);
    this.pipes.add(a);
    this.pipes.add(b);
    client.once('close', () => {
      a.stop();
      b.stop();
      this.pipes.delete(a);
      this.pipes.delete(b);
    });
  }

  /** Stops listening and breaks every relayed connection (they reconnect, now directly). */
  async close(): Promise<void> {
    for (const p of this.pipes) p.stop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
