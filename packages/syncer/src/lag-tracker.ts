/**
 * Lag, measured: the source's replication offset is sampled with the time of the sample; when
 * the offset this syncer has *applied* to the destination passes a sample, the lag is the time
 * since that sample. A link that is caught up reports its last measured lag, which decays to
 * the sampling resolution.
 */
export class LagTracker {
  private samples: { offset: number; time: number }[] = [];
  private lastLag = 0;
  private readonly recent: number[] = [];

  /** The source said its offset was `offset` at `time` (ms); `appliedNow` is ours at that moment. */
  sample(offset: number, appliedNow: number, time = Date.now()): void {
    if (appliedNow >= offset) {
      // Caught up at the moment of the sample: the lag is below the sampling resolution.
      if (this.samples.length === 0) this.record(0);
      return;
    }
    const last = this.samples[this.samples.length - 1];
    if (last && last.offset >= offset) return;
    this.samples.push({ offset, time });
    if (this.samples.length > 1000) this.samples.shift();
  }

  /** The destination confirmed everything up to `applied`. */
  applied(applied: number, now = Date.now()): void {
    while (this.samples.length && this.samples[0]!.offset <= applied) {
      const s = this.samples.shift()!;
      this.record(Math.max(0, now - s.time));
    }
  }

  private record(lag: number): void {
    this.lastLag = lag;
    this.recent.push(lag);
    if (this.recent.length > 256) this.recent.shift();
  }

  /** Current lag in ms: what is still pending counts from its sample time. */
  lag(now = Date.now()): number {
    const pending = this.samples[0];
    return pending ? Math.max(this.lastLag, now - pending.time) : this.lastLag;
  }

  /** Recent measured lags, for sync_source_stats and benchmarks. */
  recentLags(): number[] {
    return [...this.recent];
  }

  reset(): void {
    this.samples = [];
    this.lastLag = 0;
    this.recent.length = 0;
  }
}
