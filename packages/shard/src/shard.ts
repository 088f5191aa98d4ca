import { readFileSync, rmSync } from 'node:fs';
import {
  type ChildControlServer,
  ControlServer,
  encodeFrame,
  ErrorCodes,
  invalid,
  type Logger,
  MinirsError,
  type ShardDownMessage,
  type ShardHelloDetail,
  type ShardProcessConfig,
  type ShardRequests,
  type ShardStats,
  type ShardUpMessage,
} from '@minirs/common';
import { askRedis } from '@minirs/resp';
import type { Redis } from 'ioredis';
import { type ShardExitCode, ShardExitCodes } from './exit-codes.js';
import { tryAdopt } from './redis-adopt.js';
import { parsePersistence, persistenceDirectives } from './persistence.js';
import { launchRedis } from './redis-launch.js';
import { parseReplication, roleCommands } from './replication.js';
import type { RedisExit, RedisProcess } from './redis-process.js';
import { checkRedisServerAsync, type RedisServerVersion } from './redis-version.js';
import { statsFromInfo } from './stats.js';
import { openStatsClient } from './stats-client.js';

/** Control requests a shard answers; anything else is MINIRS_ERR_INVALID_ARGUMENT. */
export const SHARD_OPS = [
  'stats',
  'ping',
  'set-maxmemory',
  'set-persistence',
  'pause-redis',
  'resume-redis',
  'flush',
  'set-role',
] as const satisfies readonly (keyof ShardRequests)[];
export type ShardOp = (typeof SHARD_OPS)[number];

export const STATS_INTERVAL_MS = 1000;
/** The stats client's command timeout, for the ping that does not use it. */
const PING_TIMEOUT_MS = 2000;
/** Each step of stopping redis-server: SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL. */
const STOP_STEP_MS = 2000;
const EVENT_FLUSH_MS = 1000;

export type { ShardHelloDetail };

/**
 * One shard: supervises exactly one redis-server (started or adopted), answers the manager's
 * control requests and pushes stats every second. `done` resolves with the process exit code:
 * 0 after a requested shutdown, 3 when redis-server died under it.
 */
export class Shard {
  readonly startedAt = new Date().toISOString();
  readonly done: Promise<ShardExitCode>;
  private finish!: (code: ShardExitCode) => void;
  private redis?: RedisProcess;
  /** Set once ioredis has loaded and the client exists; requests await clientReady. */
  private client?: Redis;
  private clientReady?: Promise<Redis>;
  private control?: ChildControlServer<'shard'>;
  private statsTimer?: NodeJS.Timeout;
  private statsInFlight = false;
  private paused = false;
  private adopted = false;
  private stopping?: Promise<void>;

  constructor(
    readonly cfg: ShardProcessConfig,
    readonly log: Logger,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get redisPid(): number {
    return this.redis?.pid ?? 0;
  }

  /** Throws (exit 2) when redis-server cannot be found, started or adopted, or the socket not bound. */
  async start(): Promise<void> {
    // The version check runs beside the adoption or start; a server too old (or no binary) fails
    // the start all the same, and a server started meanwhile goes with abortStart().
    const versionCheck = checkRedisServerAsync(this.cfg.redis_server);
    versionCheck.catch(() => {}); // awaited below; an early failure is not unhandled meanwhile
    let version: RedisServerVersion;
    const adoption = await tryAdopt(this.cfg, this.log);
    if (adoption.adopted) {
      this.redis = adoption.redis;
      this.adopted = true;
      this.paused = adoption.paused;
      this.log.info({ redis_pid: this.redis.pid, paused: this.paused }, 'adopted running redis-server');
      version = await versionCheck;
    } else {
      this.log.info({ reason: adoption.reason }, 'starting a fresh redis-server');
      try {
        this.redis = await launchRedis(this.cfg, this.log);
      } catch (err) {
        // A missing or unrunnable binary is said the way the check says it.
        await versionCheck;
        throw err;
      }
      version = await versionCheck;
    }
    const redis = this.redis;
    redis.once('exit', (e: RedisExit) => void this.onRedisExit(e));

    const control = new ControlServer<ShardDownMessage, ShardUpMessage>(
      this.cfg.socket,
      () => ({
        type: 'hello',
        role: 'shard',
        id: this.cfg.uid,
        pid: process.pid,
        started_at: this.startedAt,
        detail: {
          redis_pid: redis.pid,
          adopted: this.adopted,
          paused: this.paused,
        } satisfies ShardHelloDetail,
      }),
      (op, args) => this.handleRequest(op, args),
    );
    control.onMessage((m) => {
      if (m.type === 'shutdown') void this.shutdown('shutdown message');
    });
    // A new connection gets stats at once when the stats client is up (a reconnecting manager);
    // a new shard's first ones follow its first ping.
    control.on('connection', () => {
      if (this.clientReady) void this.pushStats();
    });
    control.on('protocol-error', (err: Error) => this.log.warn({ err: err.message }, 'bad control frame'));
    this.control = control;
    try {
      await control.listen();
    } catch (err) {
      throw new MinirsError(
        ErrorCodes.INVALID_ARGUMENT,
        `cannot listen on control socket ${this.cfg.socket} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        { field: 'socket', op: 'listen', cause: err },
      );
    }
    // The stats client (ioredis) loads once the manager's first ping is answered, or at the
    // first stats tick, or with the first request that needs it, whichever comes first: loading
    // ioredis keeps this thread busy for hundreds of ms on a busy machine, and that ping is on
    // every database create's path (the manager marks the shard active when it is answered).
    // An adopted redis-server keeps whatever role it had; the config says what it must be now.
    if (this.adopted && this.cfg.replication) {
      const r = this.cfg.replication;
      this.loadStatsClient().then(
        () => this.applyRole(r),
        () => {},
      ).catch((err: Error) => this.log.warn({ err: err.message }, 'could not apply the replication role to the adopted redis-server'));
    }
    this.statsTimer = setInterval(() => void this.pushStats(), STATS_INTERVAL_MS);
    this.log.info(
      {
        redis_pid: redis.pid,
        adopted: this.adopted,
        addr: this.cfg.addr,
        port: this.cfg.port,
        socket: this.cfg.socket,
        version: version.version,
      },
      'shard ready',
    );
    // redis-server may have died while we were setting up; the 'exit' listener came after.
    if (!redis.alive) void this.onRedisExit(redis.exitInfo!);
  }

  /** Undoes a failed start. */
  async abortStart(): Promise<void> {
    this.stopping = Promise.resolve();
    clearInterval(this.statsTimer);
    // An adopted server keeps its data for the next attempt; one we started goes with us.
    if (this.adopted) this.redis?.dispose();
    else await this.stopRedis();
    this.client?.disconnect();
    await this.control?.close();
  }

  async handleRequest(op: string, args: unknown): Promise<unknown> {
    if (this.stopping) throw new MinirsError(ErrorCodes.CONFLICT, `shard ${this.cfg.uid} is shutting down`);
    const redis = this.redis!;
    if (op === 'ping') {
      this.assertRunning(op);
      const pong = await this.rawPing();
      // Answered: now the stats client may load (setImmediate: after the reply is written).
      if (!this.clientReady && !this.stopping) setImmediate(() => void this.pushStats());
      return pong;
    }
    const client = await this.statsClient();
    switch (op as ShardOp) {
      case 'stats':
        this.assertRunning(op);
        return this.collectStats();
      case 'set-maxmemory': {
        const bytes = (args as { bytes?: unknown } | null | undefined)?.bytes;
        if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 1) {
          // Redis reads 0 as "no limit", the opposite of what an OOM fault wants.
          throw invalid('bytes', `set-maxmemory needs {bytes: integer >= 1}, got ${JSON.stringify(bytes)}`);
        }
        this.assertRunning(op);
        await this.redisCall(op, () => client.config('SET', 'maxmemory', String(bytes)));
        this.log.info({ maxmemory: bytes }, 'maxmemory changed');
        return { maxmemory: bytes };
      }
      case 'set-persistence': {
        const p = parsePersistence(args, 'set-persistence');
        if (!p)
          throw invalid(
            'persistence',
            'set-persistence needs {data_persistence, aof_policy, snapshot_policy}',
          );
        this.assertRunning(op);
        // Live, as RS applies a changed policy: appendonly yes rewrites the AOF from the dataset.
        for (const [k, v] of persistenceDirectives(p)) {
          await this.redisCall(op, () => client.config('SET', k, v));
        }
        this.cfg.persistence = p;
        this.log.info({ persistence: p }, 'persistence changed');
        return p;
      }
      case 'pause-redis':
        if (!redis.signal('SIGSTOP')) throw this.goneError(op);
        this.paused = true;
        this.log.info({ redis_pid: redis.pid }, 'redis-server paused (SIGSTOP)');
        return { redis_pid: redis.pid, paused: true };
      case 'resume-redis':
        if (!redis.signal('SIGCONT')) throw this.goneError(op);
        this.paused = false;
        this.log.info({ redis_pid: redis.pid }, 'redis-server resumed (SIGCONT)');
        return { redis_pid: redis.pid, paused: false };
      case 'set-role': {
        const r = parseReplication(args);
        this.assertRunning(op);
        await this.applyRole(r);
        return r;
      }
      case 'flush':
        this.assertRunning(op);
        await this.redisCall(op, () => client.flushall());
        this.log.info('flushed (FLUSHALL)');
        return 'OK';
      default:
        throw invalid('op', `unknown shard request ${JSON.stringify(op)}; known: ${SHARD_OPS.join(', ')}`);
    }
  }

  /** REPLICAOF and the write fence, live; kept in cfg so a later adoption applies it again. */
  private async applyRole(r: NonNullable<ShardProcessConfig['replication']>): Promise<void> {
    const client = await this.statsClient();
    for (const cmd of roleCommands(r)) {
      await this.redisCall('set-role', () => client.call(cmd[0]!, ...cmd.slice(1)));
    }
    const before = this.cfg.replication;
    this.cfg.replication = r;
    if (before?.role !== r.role || before?.master_port !== r.master_port || before?.master_host !== r.master_host) {
      this.log.info({ replication: r }, 'replication role changed');
    }
  }

  private statsClient(): Promise<Redis> {
    return this.loadStatsClient();
  }

  /** Opens the stats client on first use (see start()). */
  private loadStatsClient(): Promise<Redis> {
    if (this.clientReady) return this.clientReady;
    const clientReady = openStatsClient(this.cfg, this.log, () => this.stopping !== undefined).then(
      (client) => {
        this.client = client;
        if (this.stopping) client.disconnect();
        return client;
      },
    );
    // Requests and pushes await it. Failing to load ioredis is a broken install: exit 1 and
    // leave redis-server running for the next shard to adopt.
    clientReady.catch((err: Error) => {
      this.log.error({ err: err.message }, 'cannot open the stats connection');
      this.finish(ShardExitCodes.INTERNAL);
    });
    this.clientReady = clientReady;
    return clientReady;
  }

  private goneError(op: string): MinirsError {
    return new MinirsError(ErrorCodes.CONNECTION, `${op}: redis-server pid ${this.redisPid} is gone`, {
      op,
      peer: `${this.cfg.addr}:${this.cfg.port}`,
    });
  }

  private assertRunning(op: string): void {
    if (!this.redis?.alive) throw this.goneError(op);
    if (this.paused) {
      throw new MinirsError(
        ErrorCodes.CONFLICT,
        `${op}: redis-server pid ${this.redisPid} is paused (SIGSTOP); send resume-redis first`,
        { op, peer: `${this.cfg.addr}:${this.cfg.port}` },
      );
    }
  }

  /**
   * PING on a connection of its own (AUTH + PING), not the stats client: the manager pings a
   * shard as soon as its control socket answers, and a new shard's stats client waits for
   * ioredis to load (hundreds of ms on a busy machine, on every database create's path).
   */
  private rawPing(): Promise<string> {
    return this.redisCall('ping', async () => {
      const r = await askRedis({ host: this.cfg.addr, port: this.cfg.port, password: this.cfg.password }, [['PING']], PING_TIMEOUT_MS);
      if ('error' in r) throw new Error(r.error);
      for (const f of r.replies) if (f.isError) throw new Error(f.str());
      return r.replies[r.replies.length - 1]!.str();
    });
  }

  /** Runs one redis command; its failure becomes a MinirsError with a stable code. */
  private async redisCall<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const message = (err as Error).message;
      const peer = `${this.cfg.addr}:${this.cfg.port}`;
      const code = message.startsWith('OOM')
        ? ErrorCodes.OOM
        : /timed? ?out/i.test(message)
          ? ErrorCodes.TIMEOUT
          : /closed|ECONNREFUSED|ECONNRESET|EPIPE/i.test(message)
            ? ErrorCodes.CONNECTION
            : ErrorCodes.INTERNAL;
      throw new MinirsError(code, `${op} on redis-server ${peer}: ${message}`, { op, peer, cause: err });
    }
  }

  async collectStats(): Promise<ShardStats> {
    const client = await this.statsClient();
    const info = await this.redisCall('stats', () => client.info());
    return statsFromInfo(info);
  }

  private async pushStats(): Promise<void> {
    if (this.statsInFlight || this.stopping || this.paused || !this.redis?.alive || !this.control) return;
    this.statsInFlight = true;
    try {
      const stats = await this.collectStats();
      if (!this.stopping) this.control.broadcast({ type: 'stats', stats });
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'stats not collected');
    } finally {
      this.statsInFlight = false;
    }
  }

  /** Writes a message to every connected manager and waits (bounded) until the kernel has it. */
  private async deliver(msg: ShardUpMessage): Promise<number> {
    const frame = encodeFrame(msg);
    const writes: Promise<boolean>[] = [];
    for (const c of this.control?.connections ?? []) {
      if (c.closed || c.socket.destroyed) continue;
      writes.push(new Promise((resolve) => c.socket.write(frame, (err) => resolve(!err))));
    }
    if (writes.length === 0) return 0;
    const timeout = new Promise<boolean[]>((resolve) =>
      setTimeout(() => resolve([]), EVENT_FLUSH_MS).unref(),
    );
    const results = await Promise.race([Promise.all(writes), timeout]);
    return results.filter(Boolean).length;
  }

  private async onRedisExit(e: RedisExit): Promise<void> {
    if (this.stopping) return;
    this.stopping = Promise.resolve();
    clearInterval(this.statsTimer);
    this.log.error(
      { redis_pid: e.pid, code: e.code, signal: e.signal, adopted: this.adopted },
      'redis-server exited; shard exits for the manager to restart it',
    );
    const delivered = await this.deliver({
      type: 'event',
      event: 'redis-exited',
      detail: { code: e.code, signal: e.signal, pid: e.pid },
    });
    if (delivered === 0) this.log.warn('redis-exited event not delivered: no manager connected');
    this.client?.disconnect();
    this.removePidFile(e.pid);
    await this.control?.close();
    this.finish(ShardExitCodes.REDIS_EXITED);
  }

  /** SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL, STOP_STEP_MS apart; resolves once it is gone. */
  private async stopRedis(): Promise<void> {
    const redis = this.redis;
    if (!redis?.alive) return;
    // A stopped process cannot run SHUTDOWN; SIGCONT lets it (SIGKILL would work regardless).
    if (this.paused) redis.signal('SIGCONT');
    const client = this.client;
    if (client && client.status === 'ready') {
      // Snapshot persistence keeps the dataset across a stop, as redis-server's own SHUTDOWN does.
      const save = this.cfg.persistence?.data_persistence === 'snapshot' ? 'SAVE' : 'NOSAVE';
      await client.call('SHUTDOWN', save).catch(() => {
        // The server closes the connection instead of replying: that is success.
      });
    } else {
      redis.signal('SIGTERM');
    }
    if (await redis.waitExit(STOP_STEP_MS)) return;
    this.log.warn({ redis_pid: redis.pid }, 'redis-server still running; SIGTERM');
    redis.signal('SIGTERM');
    if (await redis.waitExit(STOP_STEP_MS)) return;
    this.log.warn({ redis_pid: redis.pid }, 'redis-server still running; SIGKILL');
    redis.signal('SIGKILL');
    await redis.waitExit(STOP_STEP_MS);
  }

  /** Only our own pid: a fresh shard may already have written a newer one. */
  private removePidFile(pid: number): void {
    try {
      if (Number(readFileSync(this.cfg.redis_pid_file, 'utf8').trim()) === pid) {
        rmSync(this.cfg.redis_pid_file, { force: true });
      }
    } catch {
      // No pid file: nothing to remove.
    }
  }

  /** Idempotent; the `shutdown` message, SIGTERM and SIGINT all land here. */
  shutdown(reason: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info({ reason, redis_pid: this.redisPid }, 'shutting down');
      clearInterval(this.statsTimer);
      await this.stopRedis();
      const redis = this.redis;
      if (redis) {
        redis.dispose();
        this.removePidFile(redis.pid);
      }
      this.client?.disconnect();
      await this.control?.close();
      this.log.info({ reason, redis_gone: !redis?.alive }, 'shard stopped');
      this.finish(ShardExitCodes.CLEAN);
    })();
    return this.stopping;
  }
}
