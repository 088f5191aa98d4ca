import type { ApiClient, Fault, FaultRequest } from './api-client.js';

/**
 * The fault API of a StartedMiniCluster (minirs), for users' own test suites:
 *
 *   const cut = await east.faults.partition('peer:west', { mode: 'drop' });
 *   ...
 *   await cut.heal();
 *
 * Every method is one POST /v1/faults; the returned StartedFault heals it (DELETE). Targets are
 * the manager's: node:N, nodes:N-M, shard:U, redis:U, proxy:N, syncer:B, bdb:B, endpoint:B[@N],
 * destination:B, source:B/S, peer:<addr[:port]|cluster>.
 */

export interface NetFaultOptions {
  /** Relative to the target: in = toward it, out = from it. Default both. */
  direction?: 'both' | 'in' | 'out';
  /** endpoint:/shard: targets: only this client address. */
  client?: string;
  /** Heal by itself after this long. */
  durationMs?: number;
  /** kernel (default) or socket (the syncer's own wrapper, source:/syncer: targets only). */
  mechanism?: 'kernel' | 'socket';
}

export class StartedFault {
  constructor(
    private readonly api: ApiClient,
    /** The fault as the manager recorded it (id, mechanism, since, until...). */
    readonly record: Fault,
  ) {}

  get id(): string {
    return String(this.record.id);
  }

  /** Heals the fault (a no-op for one that is already healed). */
  async heal(): Promise<Fault> {
    return (await this.api.deleteFault(this.record.id)) as Fault;
  }

  /** The fault's current record. */
  async current(): Promise<Fault | undefined> {
    return (await this.api.listFaults()).find((f) => String(f.id) === this.id);
  }
}

function net(o: NetFaultOptions): Partial<FaultRequest> {
  return {
    ...(o.direction ? { direction: o.direction } : {}),
    ...(o.client ? { client: o.client } : {}),
    ...(o.durationMs ? { duration_ms: o.durationMs } : {}),
    ...(o.mechanism ? { mechanism: o.mechanism } : {}),
  };
}

export class ClusterFaults {
  constructor(private readonly api: ApiClient) {}

  async inject(req: FaultRequest): Promise<StartedFault> {
    return new StartedFault(this.api, await this.api.createFault(req));
  }

  /** Packets dropped (mode drop, silent: the default) or refused/reset (mode reject). */
  partition(target: string, o: NetFaultOptions & { mode?: 'drop' | 'reject' } = {}): Promise<StartedFault> {
    return this.inject({ kind: 'partition', target, mode: o.mode ?? 'drop', ...net(o) });
  }

  loss(target: string, percent: number, o: NetFaultOptions = {}): Promise<StartedFault> {
    return this.inject({ kind: 'loss', target, percent, ...net(o) });
  }

  /** `ms` each way (± jitterMs). */
  latency(target: string, ms: number, o: NetFaultOptions & { jitterMs?: number } = {}): Promise<StartedFault> {
    return this.inject({ kind: 'latency', target, ms, ...(o.jitterMs ? { jitter_ms: o.jitterMs } : {}), ...net(o) });
  }

  bandwidth(target: string, kbps: number, o: NetFaultOptions = {}): Promise<StartedFault> {
    return this.inject({ kind: 'bandwidth', target, kbps, ...net(o) });
  }

  /** Closes the path's connections now (acts once). */
  reset(target: string, o: NetFaultOptions = {}): Promise<StartedFault> {
    return this.inject({ kind: 'reset', target, ...net(o) });
  }

  /** A process (SIGKILL, restarted by the watchdog) or node:N (a crash: down until healed). */
  kill(target: string, o: { durationMs?: number } = {}): Promise<StartedFault> {
    return this.inject({ kind: 'kill', target, ...(o.durationMs ? { duration_ms: o.durationMs } : {}) });
  }

  pause(target: string, o: { durationMs?: number } = {}): Promise<StartedFault> {
    return this.inject({ kind: 'pause', target, ...(o.durationMs ? { duration_ms: o.durationMs } : {}) });
  }

  /** node:N crashes and starts again. */
  restart(target: string): Promise<StartedFault> {
    return this.inject({ kind: 'restart', target });
  }

  oom(target: string, bytes: number): Promise<StartedFault> {
    return this.inject({ kind: 'oom', target, bytes });
  }

  list(): Promise<Fault[]> {
    return this.api.listFaults();
  }

  /** Heals every active fault; returns their ids. */
  async healAll(): Promise<string[]> {
    const ids = (await this.api.listFaults()).filter((f) => f.active !== false).map((f) => String(f.id));
    for (const id of ids) await this.api.deleteFault(id);
    return ids;
  }
}
