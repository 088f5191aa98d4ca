import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { isSameProcessAlive, readProc } from './proc.js';

/** How redis-server ended. An adopted server is not our child: its code and signal are unknown (null). */
export interface RedisExit {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How often an adopted redis-server (not our child, so no 'exit' event) is checked. */
export const ADOPTED_POLL_MS = 200;

/**
 * The one redis-server a shard supervises, either spawned by this process (watched through the
 * child's 'exit' event) or adopted from a previous shard process (watched by polling kill(pid, 0)
 * and /proc, keyed by start time so a reused pid is not mistaken for it). Emits 'exit' once.
 */
export class RedisProcess extends EventEmitter {
  exitInfo?: RedisExit;
  private poll?: NodeJS.Timeout;

  private constructor(
    readonly pid: number,
    readonly adopted: boolean,
    private readonly startTime: string | undefined,
  ) {
    super();
  }

  static fromChild(child: ChildProcess): RedisProcess {
    if (child.pid === undefined) throw new Error('redis-server child has no pid (spawn failed)');
    const rp = new RedisProcess(child.pid, false, readProc(child.pid)?.startTime);
    child.once('exit', (code, signal) => rp.markExited(code, signal));
    return rp;
  }

  static adopt(pid: number): RedisProcess {
    const rp = new RedisProcess(pid, true, readProc(pid)?.startTime);
    rp.poll = setInterval(() => {
      if (!isSameProcessAlive(pid, rp.startTime)) rp.markExited(null, null);
    }, ADOPTED_POLL_MS);
    // The poll must not keep the shard alive on its own once everything else has stopped.
    rp.poll.unref();
    if (!isSameProcessAlive(pid, rp.startTime)) rp.markExited(null, null);
    return rp;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  private markExited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitInfo) return;
    if (this.poll) clearInterval(this.poll);
    this.exitInfo = { pid: this.pid, code, signal };
    this.emit('exit', this.exitInfo);
  }

  /** Sends a signal; false when the process is already gone. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.alive) return false;
    if (this.adopted && !isSameProcessAlive(this.pid, this.startTime)) return false;
    try {
      process.kill(this.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves true once the process is gone, false if it is still alive after timeoutMs. */
  waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.alive) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('exit', onExit);
        resolve(false);
      }, timeoutMs);
      const onExit = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('exit', onExit);
    });
  }

  /** Stops watching (the process itself is left alone). */
  dispose(): void {
    if (this.poll) clearInterval(this.poll);
  }
}
