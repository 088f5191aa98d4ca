import { Fifo } from '@minirs/common';
/**
 * Where a link may resume: PSYNC <replid> <offset + 1>, the command stream continuing in `db`.
 * Persist it with the data it describes; it is only valid for a destination holding exactly
 * the data applied up to `offset`.
 */
export interface ReplicationPosition {
  replid: string;
  offset: number;
  db: number;
}

interface Pending {
  /** Offset after the delivered command. */
  offset: number;
  /** Offset and db once this command and the link-handled commands right after it are done. */
  settleOffset: number;
  settleDb: number;
}

/**
 * The applied position, which is what ACKs and PSYNC report: never past a command the consumer
 * has not confirmed. Commands the link handles itself (PING, GETACK, SELECT, keep-alives) are
 * applied as soon as everything delivered before them is.
 */
export class AppliedTracker {
  private queue = new Fifo<Pending>();
  offset: number;
  db: number;

  constructor(offset: number, db: number) {
    this.offset = offset;
    this.db = db;
  }

  reset(offset: number, db: number): void {
    this.queue = new Fifo<Pending>();
    this.offset = offset;
    this.db = db;
  }

  /** Offset after the last delivered command not applied yet, or undefined when all are. */
  get inFlight(): number {
    return this.queue.length;
  }

  delivered(offset: number, db: number): void {
    this.queue.push({ offset, settleOffset: offset, settleDb: db });
  }

  /** A command the link handled itself, ending at `offset`, after which the stream is in `db`. */
  handled(offset: number, db: number): void {
    const last = this.queue.at(this.queue.length - 1);
    if (!last) {
      this.offset = offset;
      this.db = db;
      return;
    }
    last.settleOffset = offset;
    last.settleDb = db;
  }

  /** The consumer applied everything up to `offset` (a command boundary it was given). */
  applied(offset: number): void {
    for (let p = this.queue.peek(); p && p.offset <= offset; p = this.queue.peek()) {
      this.queue.shift();
      this.offset = p.settleOffset;
      this.db = p.settleDb;
    }
  }
}
