import type { LagHistory, UiSnapshot } from './types.js';

/**
 * The last minutes of every source's lag, sampled by the manager so the chart of a page opened
 * late (or reloaded) still shows the recent past. Bounded: `windowMs` of samples per source, and
 * sources that left the state are dropped.
 */
export class LagRecorder {
  private readonly series = new Map<string, [number, number | null][]>();

  constructor(private readonly windowMs = 10 * 60_000) {}

  record(snap: UiSnapshot, now = Date.now()): void {
    const live = new Set<string>();
    for (const b of snap.bdbs) {
      for (const s of b.replica_sources) {
        const key = `${b.uid}/${s.uid}`;
        live.add(key);
        let points = this.series.get(key);
        if (!points) {
          points = [];
          this.series.set(key, points);
        }
        const inSync = b.replica_sync === 'enabled' && s.status === 'in-sync';
        points.push([now, inSync ? s.lag : null]);
        const cut = now - this.windowMs;
        let drop = 0;
        while (drop < points.length && points[drop]![0] < cut) drop++;
        if (drop > 0) points.splice(0, drop);
      }
    }
    for (const key of this.series.keys()) if (!live.has(key)) this.series.delete(key);
  }

  toJSON(): LagHistory {
    return Object.fromEntries(this.series);
  }
}
