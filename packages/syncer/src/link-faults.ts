import { Duplex } from 'node:stream';
import type { LinkFault } from '@minirs/common';

/**
 * Injected faults on a replication link (minirs): the syncer wraps each source socket in a
 * FaultyDuplex, and the manager's fault API turns partitions, latency and bandwidth caps on and
 * off. Only the inbound direction (source -> syncer) is delayed or throttled; that is where lag
 * and throughput show. A partition destroys the socket and refuses new connects until healed.
 */
export class LinkFaultState {
  private faults: LinkFault[] = [];
  private readonly listeners = new Set<() => void>();
  private resetsSeen = new Set<string>();
  private readonly live = new Set<Duplex>();

  track(d: Duplex): void {
    this.live.add(d);
    d.once('close', () => this.live.delete(d));
  }

  /** Reset every open connection of this source (the links reconnect and resume). */
  dropAll(): void {
    for (const d of this.live) d.destroy();
  }

  constructor(private readonly sourceUid: number) {}

  /** Returns true when a new `reset` or `partition` appeared: open links must be dropped. */
  update(all: LinkFault[]): boolean {
    this.faults = all.filter((f) => f.source_uid === undefined || f.source_uid === this.sourceUid);
    let drop = false;
    for (const f of this.faults) {
      if ((f.kind === 'reset' || f.kind === 'partition') && !this.resetsSeen.has(f.id)) {
        this.resetsSeen.add(f.id);
        drop = true;
      }
    }
    for (const l of this.listeners) l();
    return drop;
  }

  get partitioned(): boolean {
    return this.faults.some((f) => f.kind === 'partition');
  }

  delayMs(): number {
    let d = 0;
    for (const f of this.faults) {
      if (f.kind === 'latency') d += (f.ms ?? 0) + (f.jitter_ms ? Math.random() * f.jitter_ms : 0);
    }
    return d;
  }

  /** Bytes per second, or Infinity. */
  rate(): number {
    let r = Number.POSITIVE_INFINITY;
    for (const f of this.faults) if (f.kind === 'bandwidth' && f.kbps) r = Math.min(r, (f.kbps * 1024) / 8);
    return r;
  }

  get active(): boolean {
    return this.faults.some((f) => f.kind === 'latency' || f.kind === 'bandwidth');
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/** Wraps a socket; delays and throttles what it reads when latency or bandwidth faults are on. */
export class FaultyDuplex extends Duplex {
  private queue: { chunk: Buffer; due: number }[] = [];
  private timer?: NodeJS.Timeout;
  private nextFree = 0;
  private ended = false;

  constructor(
    private readonly inner: Duplex,
    private readonly faults: LinkFaultState,
  ) {
    super();
    faults.track(this);
    inner.on('data', (chunk: Buffer) => this.incoming(chunk));
    inner.on('end', () => {
      this.ended = true;
      this.flushQueue();
    });
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => {
      if (this.destroyed) return;
      if (this.queue.length === 0) this.destroy();
      else {
        // Closed without an end (a reset): what was received still comes out, then the end.
        this.ended = true;
        this.flushQueue();
      }
    });
    // A healed latency or bandwidth fault releases what it holds: the chunks queued under it
    // kept their due times (a 2.9 MB RDB queued at 200 kbps came out over 110 s after the
    // heal, checker seed 1, and the source dropped the replica meanwhile).
    this.offChange = faults.onChange(() => this.refresh());
  }

  private readonly offChange: () => void;

  private refresh(): void {
    if (this.faults.active || this.queue.length === 0) return;
    const now = Date.now();
    for (const q of this.queue) q.due = Math.min(q.due, now);
    this.nextFree = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushQueue();
  }

  private incoming(chunk: Buffer): void {
    if (!this.faults.active && this.queue.length === 0) {
      if (!this.push(chunk)) this.inner.pause();
      return;
    }
    const now = Date.now();
    const rate = this.faults.rate();
    const start = Math.max(now, this.nextFree);
    const transmit = Number.isFinite(rate) ? (chunk.length / rate) * 1000 : 0;
    this.nextFree = start + transmit;
    this.queue.push({ chunk, due: this.nextFree + this.faults.delayMs() });
    // Keep the kernel buffer as the backlog: stop reading while a lot is queued.
    if (this.queue.length > 64) this.inner.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.due - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushQueue();
    }, wait);
  }

  private flushQueue(): void {
    const now = Date.now();
    while (this.queue.length && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      if (!this.push(chunk)) break;
    }
    if (this.queue.length === 0 && this.ended) {
      this.push(null);
      return;
    }
    if (this.queue.length <= 64 && this.inner.isPaused()) this.inner.resume();
    this.schedule();
  }

  override _read(): void {
    if (this.queue.length === 0) this.inner.resume();
    else this.flushQueue();
  }

  override _write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, enc, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.offChange();
    this.inner.destroy();
    cb(err);
  }
}
