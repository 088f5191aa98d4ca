import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import {
  type ChildControl,
  connectControl,
  type DownMessage,
  type Logger,
  type ProcessRole,
  pidAlive,
  pidCmdline,
  type RequestsOf,
  type UpMessage,
  writeFileAtomic,
} from '@minirs/common';

/**
 * Spawns, adopts, watches and restarts the cluster's children (shards, proxies, syncers).
 * Children run detached with their output in files, so they outlive a manager killed with -9;
 * a restarted manager adopts the ones whose pid file names a live process of the right script.
 */

export interface ChildSpec<R extends ProcessRole = ProcessRole> {
  name: string;
  role: R;
  id: number;
  script: string;
  config: object;
  socket: string;
  pidFile: string;
  outFile: string;
  /** Extra environment of the process. */
  env?: Record<string, string>;
  /** (netns mode) The network namespace it runs in (spawned through `ip netns exec`, which execs: same pid). */
  netns?: string;
}

export interface ChildHooks<R extends ProcessRole> {
  /** A control connection is up (after spawn, restart or adoption): push config here. */
  onConnected(child: Child<R>): void;
  onMessage(child: Child<R>, msg: UpMessage<R>): void;
  /** The process is gone; `restarting` says whether the supervisor will start it again. */
  onExit(child: Child<R>, info: { code: number | null; signal: string | null; restarting: boolean }): void;
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

const RESTART_DELAYS_MS = [0, 100, 300, 700, 1500];

/**
 * The child `${role}-${id}` of a name -> child table. Names carry the role (the manager names
 * every child so), which is what gives the child found its role's typed connection.
 */
export function childOf<R extends ProcessRole>(
  children: ReadonlyMap<string, Child>,
  role: R,
  id: number,
): Child<R> | undefined {
  return children.get(`${role}-${id}`) as Child<R> | undefined;
}

export class Child<R extends ProcessRole = ProcessRole> {
  pid = 0;
  conn?: ChildControl<R>;
  proc?: ChildProcess;
  restarts = 0;
  adopted = false;
  stopping = false;
  private exitHandled = false;
  private recentExits: number[] = [];
  private pollTimer?: NodeJS.Timeout;
  private stopWaiters: (() => void)[] = [];

  constructor(
    public spec: ChildSpec<R>,
    private readonly hooks: ChildHooks<R>,
    private readonly log: Logger,
  ) {}

  get role(): R {
    return this.spec.role;
  }

  /** Adopt the running process named by the pid file, or spawn a new one. */
  async start(): Promise<void> {
    const pid = readPid(this.spec.pidFile);
    if (pid && pidAlive(pid) && pidCmdline(pid).includes(this.spec.script)) {
      try {
        const conn = await connectWithRetry<R>(this.spec.socket, () => pidAlive(pid), 1500);
        this.pid = pid;
        this.adopted = true;
        this.exitHandled = false;
        this.attach(conn);
        this.log.info({ child: this.spec.name, pid }, 'adopted running child');
        return;
      } catch {
        this.log.warn(
          { child: this.spec.name, pid },
          'child alive but its control socket is silent; replacing it',
        );
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await this.spawnNew();
  }

  private async spawnNew(): Promise<void> {
    if (this.stopping) return;
    const out = openSync(this.spec.outFile, 'a');
    let proc: ChildProcess;
    try {
      const [cmd, args] = this.spec.netns
        ? ['ip', ['netns', 'exec', this.spec.netns, process.execPath, this.spec.script]]
        : [process.execPath, [this.spec.script]];
      proc = spawn(cmd as string, args as string[], {
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, ...this.spec.env, MINIRS_PROC_CONFIG: JSON.stringify(this.spec.config) },
      });
    } finally {
      closeSync(out);
    }
    this.proc = proc;
    this.pid = proc.pid ?? 0;
    this.adopted = false;
    this.exitHandled = false;
    writeFileAtomic(this.spec.pidFile, `${this.pid}\n`, 0o644);
    // Only this process's exit counts: after a kill, checkAlive may already have replaced it,
    // and its late 'exit' must not look like the new child dying.
    proc.once('exit', (code, signal) => {
      if (this.proc === proc) this.handleExit(code, signal);
    });
    proc.once('error', (err) => this.log.error({ child: this.spec.name, err }, 'spawn failed'));
    this.log.info({ child: this.spec.name, pid: this.pid }, 'spawned child');
    const pid = this.pid;
    try {
      // Generous: a node process on a loaded machine (or a cold container) can take 10 s and more
      // to load its modules, and killing a slow child only starts the wait over.
      const conn = await connectWithRetry<R>(this.spec.socket, () => !this.exitHandled && pidAlive(pid), 30_000);
      if (this.pid !== pid) {
        conn.close();
        return;
      }
      this.attach(conn);
    } catch (err) {
      if (!this.exitHandled) {
        this.log.error({ child: this.spec.name, err }, 'child never opened its control socket; killing it');
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }

  private attach(conn: ChildControl<R>): void {
    this.conn = conn;
    conn.onMessage((m) => this.hooks.onMessage(this, m));
    conn.on('socket-error', () => {});
    conn.on('close', () => {
      if (this.conn === conn) this.conn = undefined;
      // A closed control socket usually means the process died; confirm by pid.
      setTimeout(() => this.checkAlive(), 50);
    });
    // Adopted children are not ours to wait() on: poll their pid.
    clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => this.checkAlive(), 250);
    this.pollTimer.unref();
    this.hooks.onConnected(this);
  }

  private checkAlive(): void {
    if (this.exitHandled || this.pid === 0) return;
    if (!pidAlive(this.pid)) {
      this.handleExit(null, null);
      return;
    }
    if (!this.conn && !this.stopping) {
      const pid = this.pid;
      connectWithRetry<R>(this.spec.socket, () => pidAlive(pid), 1000).then(
        (c) => (this.pid === pid && !this.conn ? this.attach(c) : c.close()),
        () => {},
      );
    }
  }

  private handleExit(code: number | null, signal: string | null): void {
    if (this.exitHandled) return;
    this.exitHandled = true;
    clearInterval(this.pollTimer);
    this.conn = undefined;
    this.proc = undefined;
    rmSync(this.spec.pidFile, { force: true });
    if (this.stopping) {
      for (const w of this.stopWaiters.splice(0)) w();
      return;
    }
    const now = Date.now();
    this.recentExits = this.recentExits.filter((t) => now - t < 30_000);
    this.recentExits.push(now);
    const delay = RESTART_DELAYS_MS[Math.min(this.recentExits.length - 1, RESTART_DELAYS_MS.length - 1)]!;
    this.restarts++;
    this.log.warn(
      { child: this.spec.name, pid: this.pid, code, signal, delay_ms: delay },
      'child exited; restarting',
    );
    this.hooks.onExit(this, { code, signal, restarting: true });
    setTimeout(() => {
      if (!this.stopping) void this.spawnNew();
    }, delay).unref();
  }

  send(msg: DownMessage<R>): boolean {
    return this.conn?.send(msg) ?? false;
  }

  /** Ask the child to shut down; SIGKILL it if it has not exited within timeoutMs. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    clearInterval(this.pollTimer);
    if (this.exitHandled || this.pid === 0 || !pidAlive(this.pid)) {
      this.exitHandled = true;
      rmSync(this.spec.pidFile, { force: true });
      return;
    }
    const done = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
    if (!this.send({ type: 'shutdown' })) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    const poll = setInterval(() => this.checkAlive(), 50);
    const killer = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    await done;
    clearInterval(poll);
    clearTimeout(killer);
  }

  /** SIGKILL the process (a machine crash) and wait for it; it is not restarted. */
  async crash(): Promise<void> {
    this.stopping = true;
    clearInterval(this.pollTimer);
    if (this.exitHandled || this.pid === 0 || !pidAlive(this.pid)) {
      this.exitHandled = true;
      rmSync(this.spec.pidFile, { force: true });
      return;
    }
    const done = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // gone
    }
    const poll = setInterval(() => this.checkAlive(), 20);
    await done;
    clearInterval(poll);
  }

  /** Forget the process without stopping it (manager shutting down after kill -9 tests etc.). */
  detach(): void {
    this.stopping = true;
    clearInterval(this.pollTimer);
    this.conn?.close();
  }
}

async function connectWithRetry<R extends ProcessRole>(
  socket: string,
  stillWorth: () => boolean,
  timeoutMs: number,
): Promise<ChildControl<R>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline && stillWorth()) {
    try {
      return await connectControl<UpMessage<R>, DownMessage<R>, RequestsOf<R>>(socket, undefined, 1000);
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 15));
    }
  }
  throw lastErr ?? new Error(`control socket ${socket} unavailable`);
}
