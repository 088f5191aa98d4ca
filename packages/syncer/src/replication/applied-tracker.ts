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
  private queue: Pending[] = [];
  private head = 0;
  offset: number;
  db: number;

  constructor(offset: number, db: number) {
    this.offset = offset;
    this.db = db;
  }

  reset(offset: number, db: number): void {
    this.queue = [];
    this.head = 0;
    this.offset = offset;
    this.db = db;
  }

  /** Offset after the last delivered command not applied yet, or undefined when all are. */
  get inFlight(): number {
    return this.queue.length - this.head;
  }

  delivered(offset: number, db: number): void {
    this.queue.push({ offset, settleOffset: offset, settleDb: db });
  }

  /** A command the link handled itself, ending at `offset`, after which the stream is in `db`. */
  handled(offset: number, db: number): void {
    if (this.head === this.queue.length) {
      this.offset = offset;
      this.db = db;
      return;
    }
    const last = this.queue[this.queue.length - 1]!;
    last.settleOffset = offset;
    last.settleDb = db;
  }

  /** The consumer applied everything up to `offset` (a command boundary it was given). */
  applied(offset: number): void {
    while (this.head < this.queue.length && this.queue[this.head]!.offset <= offset) {
      const p = this.queue[this.head++]!;
      this.offset = p.settleOffset;
      this.db = p.settleDb;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
