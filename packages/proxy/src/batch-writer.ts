import type { Socket } from 'node:net';
import { RespWriter } from '@minirs/resp';

/** Slices at least this large are written as views instead of being copied into the batch. */
const COPY_LIMIT = 16 * 1024;

/** See BatchWriter.hold. */
const MAX_HOLD_TURNS = 2;
const HOLD_BYTES = 64 * 1024;

const dirty: BatchWriter[] = [];
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  // Writers marked dirty while flushing (a write callback) land in the next round.
  const batch = dirty.splice(0);
  for (const w of batch) w.flush();
}

/**
 * Output of one socket, corked per event-loop turn: everything written while the loop handles
 * this round of I/O is copied into one buffer and written with one syscall in setImmediate,
 * after every ready socket has been read. Many clients' commands to a shard (or many shards'
 * replies to a client) thus share a write.
 */
export class BatchWriter {
  private w: RespWriter | null = null;
  private chunks: Buffer[] | null = null;
  private queued = false;
  /** Bytes of `chunks` (the encoder's are its length). */
  private chunkBytes = 0;

  /**
   * Say "more is coming": flushing waits (at most MAX_HOLD_TURNS turns of the loop, and below
   * HOLD_BYTES) while it returns true. A client whose pipeline is partly answered gets its
   * replies in one write instead of one per shard that answered.
   */
  hold: (() => boolean) | null = null;
  private held = 0;

  constructor(private readonly socket: Socket) {}

  /** Bytes waiting here or in the socket: what a slow peer makes us hold. */
  get pendingBytes(): number {
    return (this.w ? this.w.length : 0) + this.chunkBytes + this.socket.writableLength;
  }

  write(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n >= COPY_LIMIT) {
      this.cut();
      this.chunkList().push(src.subarray(start, end));
      this.chunkBytes += n;
    } else {
      this.encoder().raw(src, start, end);
    }
    this.schedule();
  }

  /** A RespWriter to encode into directly; call `schedule()` after. */
  encoder(): RespWriter {
    if (!this.w) this.w = new RespWriter(4096);
    return this.w;
  }

  private chunkList(): Buffer[] {
    if (!this.chunks) this.chunks = [];
    return this.chunks;
  }

  /** Queue an error reply line (`-message`). */
  error(message: string): void {
    this.encoder().error(message);
    this.schedule();
  }

  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    dirty.push(this);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushAll);
    }
  }

  private cut(): void {
    if (this.w && this.w.length > 0) {
      const seg = this.w.finish();
      this.chunkList().push(seg);
      this.chunkBytes += seg.length;
    }
  }

  flush(): void {
    this.queued = false;
    if (this.hold && this.held < MAX_HOLD_TURNS && this.hold() && this.pendingBytes < HOLD_BYTES) {
      this.held++;
      this.schedule();
      return;
    }
    this.held = 0;
    const s = this.socket;
    if (s.destroyed) {
      this.chunks = null;
      this.chunkBytes = 0;
      if (this.w && this.w.length > 0) this.w.finish();
      return;
    }
    if (this.chunks) {
      this.cut();
      const chunks = this.chunks;
      this.chunks = null;
      this.chunkBytes = 0;
      s.cork();
      for (const c of chunks) s.write(c);
      s.uncork();
    } else if (this.w && this.w.length > 0) {
      s.write(this.w.finish());
    }
  }
}
