import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { rng } from '@minirs/local';

/** Keys the writer touches on one source; ids below `ids` exist for every kind. */
export interface WriteTarget {
  name: string;
  client: Redis;
  ids: number;
  counter: (id: number) => string;
  list: (id: number) => string;
  hash: (id: number) => string;
  string: (id: number) => string;
}

/**
 * A bounded writer: INCR, LPUSH, HSET and SET EX at `opsPerSecond` on each source, pipelined in
 * 100 ms ticks, until stop() or `maxSeconds`, whichever comes first.
 */
export class Writer {
  ops = 0;
  errors = 0;
  lastError = '';
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly targets: WriteTarget[],
    private readonly opsPerSecond: number,
    private readonly maxSeconds: number,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const r = rng(7);
    const perTick = Math.max(4, Math.round(this.opsPerSecond / 10));
    const started = Date.now();
    let tick = 0;
    while (!this.stopped && Date.now() - started < this.maxSeconds * 1000) {
      await Promise.all(
        this.targets.map(async (t) => {
          const p = t.client.pipeline();
          for (let i = 0; i < perTick; i++) {
            const id = Math.floor(r() * t.ids);
            switch (i % 4) {
              case 0:
                p.incr(t.counter(id));
                break;
              case 1:
                p.lpush(t.list(id), `w${tick}-${i}`);
                break;
              case 2:
                p.hset(t.hash(id), 'updated', String(Date.now()));
                break;
              default:
                p.set(t.string(id), `written at tick ${tick}`, 'EX', 3600);
            }
          }
          try {
            const res = (await p.exec()) ?? [];
            for (const [err] of res) {
              if (err) {
                this.errors++;
                this.lastError = `${t.name}: ${err.message}`;
              } else this.ops++;
            }
          } catch (err) {
            this.errors += perTick;
            this.lastError = `${t.name}: ${(err as Error).message}`;
          }
        }),
      );
      tick++;
      // Ticks keep to the wall clock, so a slow tick is followed by a shorter wait.
      const next = started + tick * 100;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
