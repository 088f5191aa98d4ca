import { createConnection, type Socket } from 'node:net';
import { encodeCommand, RespDecoder, type RespFrame, type RespValue, toValue } from '@minirs/resp';

/**
 * A bare RESP connection for tests that need exact bytes: pipelines of raw frames, inline
 * commands, malformed input, RESP3 pushes. Frames are queued as they arrive.
 */
export class RawClient {
  private readonly decoder = new RespDecoder({ maxDepth: 1_000_000 });
  private readonly frames: RespFrame[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  error: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.decoder.write(chunk, (f) => this.frames.push(f));
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ host, port }, () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(...args: (string | Buffer | number)[]): void {
    this.socket.write(encodeCommand(args));
  }

  /** The next frame; rejects if the connection closes first or nothing comes within timeoutMs. */
  async next(timeoutMs = 5000): Promise<RespFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no reply within the timeout');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames.shift()!;
  }

  async value(timeoutMs?: number): Promise<RespValue> {
    return toValue(await this.next(timeoutMs), { strings: true });
  }

  /** Send one command and return its reply as a value (bulk strings as utf8). */
  async call(...args: (string | Buffer | number)[]): Promise<RespValue> {
    this.send(...args);
    return this.value();
  }

  async raw(...args: (string | Buffer | number)[]): Promise<string> {
    this.send(...args);
    return (await this.next()).raw().toString('latin1');
  }

  /** Resolves when the server closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
