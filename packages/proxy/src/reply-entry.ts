import type { RespFrame } from '@minirs/resp';
import type { BatchWriter } from './batch-writer.js';
import type { ReplySink } from './shard-link.js';

/** What an entry tells its client when its reply is complete. */
export interface EntryOwner {
  entryDone(entry: Entry): void;
}

/**
 * One slot in a client's reply queue. Clients get replies in the order they sent commands,
 * whichever shard answers first: an entry completes when its reply is known and is written
 * once every entry before it has been.
 */
export abstract class Entry implements ReplySink {
  sentAt = 0;
  done = false;
  /** CLIENT REPLY OFF/SKIP: the reply is dropped instead of written. */
  muted = false;
  /** Runs when the reply is known (not when written): releases barriers and private links. */
  after: ((entry: Entry) => void) | null = null;

  constructor(readonly owner: EntryOwner) {}

  abstract write(out: BatchWriter): void;

  /** Called when the entry reaches the head of the queue unfinished (a pub/sub stream). */
  atHead?(out: BatchWriter): void;

  onReply(_frame: RespFrame): void {}
  onError(_message: string): void {}

  protected complete(): void {
    this.done = true;
    if (this.after) this.after(this);
    this.owner.entryDone(this);
  }
}

/** A shard's reply, forwarded byte for byte. */
export class ForwardEntry extends Entry {
  frame: RespFrame | null = null;
  error: string | null = null;

  override onReply(frame: RespFrame): void {
    this.frame = frame;
    this.complete();
  }

  override onError(message: string): void {
    this.error = message;
    this.complete();
  }

  write(out: BatchWriter): void {
    const f = this.frame;
    if (f) out.write(f.buf, f.start, f.end);
    else out.error(this.error ?? 'ERR no reply');
  }

  /** True when the reply is an error (shard's or the proxy's). */
  get failed(): boolean {
    return this.error !== null || (this.frame?.isError ?? false);
  }
}

/** A reply the proxy made itself. */
export class LocalEntry extends Entry {
  constructor(
    owner: EntryOwner,
    private readonly bytes: Buffer,
  ) {
    super(owner);
    this.done = true;
  }

  write(out: BatchWriter): void {
    out.write(this.bytes, 0, this.bytes.length);
  }
}

/** Reply of one part of a fanned-out command. */
export type PartReply = RespFrame | string;

/**
 * A command split over several shards: one sink per part; when the last part answers, `merge`
 * writes the client's single reply. A part that failed in the proxy holds its error string.
 */
export class FanoutEntry extends Entry {
  readonly parts: (PartReply | undefined)[];
  private remaining: number;

  constructor(
    owner: EntryOwner,
    count: number,
    private readonly merge: (parts: PartReply[], out: BatchWriter) => void,
  ) {
    super(owner);
    this.parts = new Array(count);
    this.remaining = count;
  }

  sink(index: number): ReplySink {
    const entry = this;
    return {
      sentAt: 0,
      onReply(frame: RespFrame) {
        entry.partDone(index, frame);
      },
      onError(message: string) {
        entry.partDone(index, message);
      },
    };
  }

  private partDone(index: number, reply: PartReply): void {
    this.parts[index] = reply;
    if (--this.remaining === 0) this.complete();
  }

  write(out: BatchWriter): void {
    this.merge(this.parts as PartReply[], out);
  }
}

/** First error among part replies (proxy-made or the shard's), or null. */
export function firstError(parts: PartReply[]): PartReply | null {
  for (const p of parts) if (typeof p === 'string' || p.isError) return p;
  return null;
}

export function writePart(out: BatchWriter, p: PartReply): void {
  if (typeof p === 'string') out.error(p);
  else out.write(p.buf, p.start, p.end);
}

/** The reply-queue slot of a stream (pub/sub, MONITOR): frames pass through as they come once it is at the head. */
export class StreamEntry extends Entry {
  private pending: Buffer[] = [];
  private live = false;

  constructor(
    owner: EntryOwner,
    private readonly out: BatchWriter,
  ) {
    super(owner);
  }

  emit(bytes: Buffer): void {
    if (this.live) this.out.write(bytes, 0, bytes.length);
    else this.pending.push(bytes);
  }

  override atHead(out: BatchWriter): void {
    this.live = true;
    this.write(out);
  }

  write(out: BatchWriter): void {
    for (const b of this.pending) out.write(b, 0, b.length);
    this.pending = [];
  }

  finish(): void {
    if (!this.done) this.complete();
  }
}
