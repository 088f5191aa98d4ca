import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, freePort, MinirsError, redisServerBinary } from '@minirs/common';
import { Redis } from 'ioredis';

/**
 * The external source of a round: a plain redis-server the checker owns. The nemesis kills it
 * (SIGKILL, then a restart on the same port: it comes back empty, as a server without
 * persistence does) and pauses it (SIGSTOP/SIGCONT). stop() kills it for good.
 */


export class ExternalRedis {
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'minirs-chk-redis-'));
  private paused = false;
  readonly host = '127.0.0.1';
  port = 0;

  get uri(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  async start(): Promise<this> {
    this.port = await freePort();
    await this.spawn();
    return this;
  }

  private async spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      this.host,
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--logfile',
      this.logFile,
      '--repl-diskless-sync-delay',
      '0',
    ];
    const proc = spawn(redisServerBinary(), args, { stdio: 'ignore' });
    this.proc = proc;
    this.paused = false;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      const c = new Redis({
        host: this.host,
        port: this.port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') {
          c.disconnect();
          return;
        }
      } catch {
        // not up yet
      }
      c.disconnect();
      await new Promise((r) => setTimeout(r, 30));
    }
    throw new MinirsError(
      ErrorCodes.CONNECTION,
      `the checker's redis-server on ${this.host}:${this.port} did not answer PING within 10 s; see ${this.logFile}`,
    );
  }

  private async killNow(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  /** SIGKILL and a restart on the same port: the source loses its data set and its replid. */
  async killAndRestart(): Promise<void> {
    await this.killNow();
    await this.spawn();
  }

  pause(): void {
    if (this.proc?.pid && !this.paused) {
      this.proc.kill('SIGSTOP');
      this.paused = true;
    }
  }

  resume(): void {
    if (this.proc?.pid && this.paused) {
      this.proc.kill('SIGCONT');
      this.paused = false;
    }
  }

  async stop(): Promise<void> {
    this.resume();
    await this.killNow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
