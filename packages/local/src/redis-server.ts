import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, freePort, MinirsError, redisServerBinary } from '@minirs/common';
import type { Redis, RedisOptions } from 'ioredis';
import { newRedis } from './ioredis-lazy.js';
import { pidAlive } from './processes.js';

/**
 * A real redis-server (never a mock), in the style of testcontainers' modules:
 *
 *   const r = await new RedisServer().withPassword('pw').withArgs('--repl-backlog-size', '1mb').start();
 *   r.url();            // redis://:pw@127.0.0.1:<port>
 *   const c = r.client(); // an ioredis client, disconnected by stop()
 *   await r.stop();     // SIGKILL, then removes its temp dir
 *
 * It listens on loopback (default 127.0.0.1) on a port the OS reports free (retried on a race),
 * with no persistence, in a fresh temp dir unless withDir(). A server that is not detached() is
 * killed when this process exits, even if stop() was never called.
 */

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class RedisServer {
  private host = '127.0.0.1';
  private port?: number;
  private password?: string;
  private args: string[] = [];
  private rdbFile?: string;
  private dir?: string;
  private env?: NodeJS.ProcessEnv;
  private isDetached = false;
  private onSpawn?: (pid: number) => void;
  private startTimeoutMs = 10_000;

  /** A loopback address (127.0.0.0/8). */
  withHost(host: string): this {
    this.host = host;
    return this;
  }
  /** A fixed port (no retry on another one when it is taken). */
  withPort(port: number): this {
    this.port = port;
    return this;
  }
  withPassword(password: string): this {
    this.password = password;
    return this;
  }
  /** Extra config as `--name value` words, e.g. ('--repl-backlog-size', '1mb'); later ones win. */
  withArgs(...args: string[]): this {
    this.args.push(...args);
    return this;
  }
  /** Loads this RDB file at start (copied into the server's dir as dump.rdb). */
  withRdbFile(path: string): this {
    this.rdbFile = path;
    return this;
  }
  /** The server's dir (created if absent, kept by stop()); default: a fresh temp dir that stop() removes. */
  withDir(dir: string): this {
    this.dir = dir;
    return this;
  }
  /** The server's environment (default: this process's). */
  withEnv(env: NodeJS.ProcessEnv): this {
    this.env = env;
    return this;
  }
  /**
   * The server outlives this process (`minirs demo --keep`): spawned detached, not killed at exit.
   * `onSpawn` learns the pid as soon as there is one, so an interrupted start can still clean up.
   */
  detached(onSpawn?: (pid: number) => void): this {
    this.isDetached = true;
    this.onSpawn = onSpawn;
    return this;
  }
  withStartTimeout(ms: number): this {
    this.startTimeoutMs = ms;
    return this;
  }

  async start(): Promise<StartedRedisServer> {
    const ownDir = this.dir === undefined;
    const dir = this.dir ?? mkdtempSync(join(tmpdir(), 'minirs-redis-'));
    mkdirSync(dir, { recursive: true });
    const bin = redisServerBinary();
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = this.port ?? (await freePort(this.host));
      // biome-ignore format: option and value side by side
      const args = [
        '--port', String(port), '--bind', this.host, '--dir', dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no',
        '--logfile', join(dir, 'redis.log'), '--pidfile', join(dir, 'redis.pid'),
        // Redis waits 5 s for more replicas before a diskless sync; tests have one (withArgs may override).
        '--repl-diskless-sync-delay', '0',
      ];
      if (this.rdbFile) {
        copyFileSync(this.rdbFile, join(dir, 'dump.rdb'));
        args.push('--dbfilename', 'dump.rdb');
      }
      if (this.password !== undefined) args.push('--requirepass', this.password);
      args.push(...this.args);
      const proc = spawn(bin, args, {
        stdio: ['ignore', 'ignore', this.isDetached ? 'ignore' : 'pipe'],
        detached: this.isDetached,
        env: this.env ?? process.env,
      });
      if (proc.pid === undefined) throw new MinirsError(ErrorCodes.INTERNAL, `could not spawn ${bin}`);
      if (this.isDetached) proc.unref();
      else live.add(proc);
      this.onSpawn?.(proc.pid);
      const started = new StartedRedisServer(this.host, port, this.password, dir, ownDir, proc);
      try {
        started.version = await pingUntilUp(started, this.startTimeoutMs);
        return started;
      } catch (err) {
        lastErr = err;
        await started.stop({ keepDir: !ownDir }).catch(() => {});
        if (this.port !== undefined) break;
      }
    }
    throw new MinirsError(
      ErrorCodes.INTERNAL,
      `could not start redis-server (${bin}): ${lastErr instanceof Error ? lastErr.message : String(lastErr)}; see ${join(dir, 'redis.log')}`,
    );
  }
}

export class StartedRedisServer {
  /** redis_version of the running server. */
  version = '';
  private readonly clients: Redis[] = [];
  private exited = false;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly password: string | undefined,
    readonly dir: string,
    private readonly ownDir: boolean,
    /** The redis-server process (SIGSTOP/SIGCONT it to freeze the server). */
    readonly proc: ChildProcess,
  ) {
    proc.once('exit', () => {
      this.exited = true;
      live.delete(proc);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** `redis://[:<URL-encoded password>@]host:port`. */
  url(): string {
    const cred = this.password !== undefined ? `:${encodeURIComponent(this.password)}@` : '';
    return `redis://${cred}${this.host}:${this.port}`;
  }

  /** A new ioredis client of this server; stop() disconnects it. */
  client(opts?: RedisOptions): Redis {
    const c = newRedis({
      host: this.host,
      port: this.port,
      password: this.password,
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      ...opts,
    });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  /** SIGKILLs the server and waits for it to go; removes its dir unless it was given (withDir) or `keepDir`. */
  async stop(o: { keepDir?: boolean } = {}): Promise<void> {
    for (const c of this.clients) c.disconnect();
    if (!this.exited && this.proc.exitCode === null && this.proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        this.proc.once('exit', () => resolve());
        if (!this.proc.kill('SIGKILL') || !pidAlive(this.pid)) resolve();
      });
    }
    if (this.ownDir && !o.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits until the server answers (a server loading an RDB answers -LOADING); resolves with its version. */
async function pingUntilUp(r: StartedRedisServer, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exited = r.proc.exitCode !== null;
  r.proc.once('exit', () => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`redis-server on ${r.host}:${r.port} exited during start`);
    const c = newRedis({
      host: r.host,
      port: r.port,
      password: r.password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') {
        const info = await c.info('server');
        c.disconnect();
        return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
      }
    } catch {
      // not up yet
    }
    c.disconnect();
    await sleep(25);
  }
  throw new Error(`redis-server on ${r.host}:${r.port} did not answer PING within ${timeoutMs / 1000} s`);
}
