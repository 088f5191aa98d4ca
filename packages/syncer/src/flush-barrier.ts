import { ErrorCodes, MinirsError } from '@minirs/common';

/**
 * Where the copies of one source's FLUSHALL/FLUSHDB meet. A minirs source's proxy sends a flush
 * to every shard, so each shard link of the source carries one copy, in the same place of its
 * stream relative to that shard's writes. The n-th copy of every link is the same flush: each
 * link waits here (its earlier writes settled) until all `links` arrived, then the last one
 * sends the flush once and all go on. So the destination is flushed after every write the source
 * made before its flush and before any write after it (an external source has one link and
 * passes straight through).
 */
export class FlushBarrier<T = undefined> {
  /** Links of the source (set once its shards are known). */
  links = 1;
  private waiting: { resolve: () => void; reject: (e: Error) => void; mine: T | undefined }[] = [];
  private aborted = false;

  /**
   * Resolves once every link arrived and `send` (of the last to arrive) is done. `send` gets
   * what each arrival brought (`mine`: the links' checkpoints, written with the flush).
   */
  arrive(send: (all: T[]) => Promise<void>, mine?: T): Promise<void> {
    if (this.aborted) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject, mine });
      if (this.waiting.length < this.links) return;
      const all = this.waiting;
      this.waiting = [];
      send(all.flatMap((w) => (w.mine === undefined ? [] : [w.mine]))).then(
        () => {
          for (const w of all) w.resolve();
        },
        (err: Error) => {
          for (const w of all) w.reject(err);
        },
      );
    });
  }

  /** Links waiting now (for tests and status). */
  get arrived(): number {
    return this.waiting.length;
  }

  /** The source's links are closing: nobody waits any more. */
  abort(): void {
    this.aborted = true;
    const all = this.waiting;
    this.waiting = [];
    for (const w of all) w.reject(closedError());
  }
}

function closedError(): MinirsError {
  return new MinirsError(ErrorCodes.CONNECTION, 'the source closed while its links waited at a flush');
}
