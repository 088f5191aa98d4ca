import type { CheckerCluster, CheckerReplicaStatus } from './cluster.js';

/**
 * Polls the destination's Replica Of status through the round and keeps what the oracle needs:
 * every change of the aggregate, and each time replica_sync became `stopped` (with the error).
 */

export interface StatusChange {
  at: number;
  replica_sync: string;
  status: string;
  errors: string[];
}

export interface StopEvent {
  at: number;
  errors: string[];
}

export class StatusWatch {
  readonly changes: StatusChange[] = [];
  readonly stops: StopEvent[] = [];
  last?: CheckerReplicaStatus;
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly cluster: CheckerCluster,
    private readonly db: string,
    private readonly t0: () => number,
    private readonly everyMs = 250,
  ) {}

  private record(s: CheckerReplicaStatus): void {
    const at = Date.now() - this.t0();
    const errors = s.sources.map((x) => x.last_error).filter((e) => e);
    const prev = this.changes[this.changes.length - 1];
    if (!prev || prev.status !== s.status || prev.replica_sync !== s.replica_sync) {
      this.changes.push({ at, replica_sync: s.replica_sync, status: s.status, errors });
    }
    if (s.replica_sync === 'stopped' && this.last?.replica_sync !== 'stopped')
      this.stops.push({ at, errors });
    this.last = s;
  }

  async poll(): Promise<CheckerReplicaStatus | undefined> {
    try {
      const s = await this.cluster.replicaStatus(this.db);
      this.record(s);
      return s;
    } catch {
      // the manager is busy or restarting: the next poll tells
      return undefined;
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      void this.poll().finally(() => {
        this.polling = false;
      });
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get syncing(): boolean {
    return this.last?.status === 'syncing' || !!this.last?.sources.some((s) => s.status === 'syncing');
  }

  get inSync(): boolean {
    const l = this.last;
    return (
      !!l &&
      l.replica_sync === 'enabled' &&
      l.sources.length > 0 &&
      l.sources.every((s) => s.status === 'in-sync')
    );
  }

  get stopped(): boolean {
    return this.last?.replica_sync === 'stopped';
  }
}
