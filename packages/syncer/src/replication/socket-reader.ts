import type { Duplex } from 'node:stream';
import { ErrorCodes } from '@minirs/common';
import { errorFromSocket, ReplicationError } from './errors.js';

/**
 * Pull-based reads from a socket with bounded buffering: the socket is paused once
 * `highWaterMark` bytes wait unread, so a busy consumer stops the reading (and TCP pushes back
 * on the source) instead of growing memory. Chunks come out exactly as the socket produced them.
 */
export class SocketReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: ReplicationError | undefined;
  private wake: (() => void) | undefined;
  /** Bytes received on this connection so far. */
  bytesRead = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly peer: string,
    private readonly highWaterMark = 256 * 1024,
  ) {
    if (socket.destroyed || socket.readableEnded) {
      this.failure = new ReplicationError(
        ErrorCodes.CONNECTION,
        `The connection to ${peer} closed before use.`,
        {
          op: 'read from',
          peer,
        },
      );
    }
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.bytesRead += chunk.length;
      if (this.queued >= this.highWaterMark) socket.pause();
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.failure ??= errorFromSocket(err, 'read from', peer);
      this.notify();
    });
  }

  /** Bytes received and not read yet. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Fail pending and later reads with this error (used by close and by timers). */
  abort(err: ReplicationError): void {
    this.failure ??= err;
    this.socket.destroy();
    this.notify();
  }

  /**
   * The next chunk; null once the peer closed the connection. Rejects with MINIRS_ERR_TIMEOUT
   * when nothing arrives for `timeoutMs`.
   */
  async read(timeoutMs: number, what: string): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk !== undefined) {
        this.queued -= chunk.length;
        if (this.queued < this.highWaterMark && this.socket.isPaused()) this.socket.resume();
        return chunk;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return null;
      await this.waitData(timeoutMs, what);
    }
  }

  private waitData(timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.failure ??= new ReplicationError(
          ErrorCodes.TIMEOUT,
          `No data from ${this.peer} for ${timeoutMs} ms while waiting for ${what}. A source sends a PING every repl-ping-replica-period (10 s by default); the link or the source is stuck. The link retries.`,
          { op: 'read', peer: this.peer, byteOffset: this.bytesRead },
        );
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
