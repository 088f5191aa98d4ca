import type { DecoderHost } from './decoder-host.js';
import { BlobCorruptError } from './encodings/blob-error.js';
import { readStreamId, type StreamEntry, type StreamId, StreamNodeReader } from './encodings/stream-node.js';
import type { RdbValueChunk, StreamConsumerChunk, StreamGroupChunk, StreamPendingEntry } from './events.js';

const EMPTY = Buffer.alloc(0);
const U64_MAX = (1n << 64n) - 1n;

/** Where a stream value is: its listpack nodes, then metadata, groups, PELs and consumers. */
export enum StreamPhase {
  Nodes,
  Entries,
  Meta,
  Group,
  Pel,
  ConsumerCount,
  Consumer,
  ConsumerPel,
}

/**
 * The value of a stream key (RDB types 15, 19, 21), in resumable steps: entries in chunks of at
 * most maxItems (each node's raw listpack with its first chunk), then the metadata, each
 * consumer group with its pending entries and consumers.
 */
export class StreamDecoder {
  phase = StreamPhase.Nodes;
  private version = 1;
  private remaining = 0;
  private node: StreamNodeReader | null = null;
  private nodeRaw: { masterKey: Buffer; listpack: Buffer } | undefined;
  private entries: StreamEntry[] = [];
  private blobOffset = 0;
  private groupsRemaining = 0;
  private consumersRemaining = 0;
  private group: Buffer = EMPTY;
  private consumer: Buffer = EMPTY;
  private pel: StreamPendingEntry[] = [];
  private cpel: StreamId[] = [];

  constructor(private readonly h: DecoderHost) {}

  /** A stream key of `nodes` listpack nodes; `version` 1-3 by its RDB type. */
  begin(nodes: number, version: number): void {
    this.remaining = nodes;
    this.version = version;
    this.node = null;
    this.nodeRaw = undefined;
    this.entries = [];
    this.phase = StreamPhase.Nodes;
  }

  step(): void {
    switch (this.phase) {
      case StreamPhase.Nodes:
        this.parseNode();
        return;
      case StreamPhase.Entries:
        this.drainNode();
        return;
      case StreamPhase.Meta:
        this.parseMeta();
        return;
      case StreamPhase.Group:
        this.parseGroup();
        return;
      case StreamPhase.Pel:
        this.parsePel();
        return;
      case StreamPhase.ConsumerCount:
        this.parseConsumerCount();
        return;
      case StreamPhase.Consumer:
        this.parseConsumer();
        return;
      case StreamPhase.ConsumerPel:
        this.parseConsumerPel();
        return;
    }
  }

  private parseNode(): void {
    if (this.remaining === 0) {
      this.phase = StreamPhase.Meta;
      return;
    }
    const { r } = this.h;
    this.h.expecting = 'a stream node (master ID and listpack)';
    const masterKey = r.str();
    const lpAt = r.at;
    const lp = r.str();
    let node: StreamNodeReader;
    try {
      node = new StreamNodeReader(masterKey, lp);
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.h.blobCorrupt(e, lpAt);
      throw e;
    }
    r.checkpoint();
    this.remaining--;
    this.node = node;
    this.nodeRaw = { masterKey, listpack: lp };
    this.blobOffset = lpAt;
    this.phase = StreamPhase.Entries;
  }

  private drainNode(): void {
    const node = this.node!;
    const entries = this.entries;
    let bytes = 0;
    let exhausted = false;
    try {
      while (entries.length < this.h.maxItems && bytes < this.h.maxBytes) {
        const e = node.next();
        if (e === undefined) {
          exhausted = true;
          break;
        }
        entries.push(e);
        for (const f of e.fields) bytes += f.length;
      }
    } catch (e) {
      if (e instanceof BlobCorruptError) throw this.h.blobCorrupt(e, this.blobOffset);
      throw e;
    }
    // One chunk per node at least, so the node's raw listpack always reaches the consumer.
    if (entries.length || this.nodeRaw) {
      this.entries = [];
      const value: RdbValueChunk = { type: 'streamEntries', entries };
      if (this.nodeRaw) value.node = this.nodeRaw;
      this.nodeRaw = undefined;
      this.h.emit({ kind: 'chunk', key: this.h.key(), value });
    }
    if (exhausted) {
      this.node = null;
      this.phase = StreamPhase.Nodes;
    }
  }

  private streamId(): StreamId {
    const ms = this.h.r.lenBig();
    const seq = this.h.r.lenBig();
    return { ms, seq };
  }

  private parseMeta(): void {
    const { r } = this.h;
    this.h.expecting = 'stream metadata (length, last ID, counters)';
    const length = r.len();
    const lastId = this.streamId();
    let firstId: StreamId | null = null;
    let maxDeletedId: StreamId | null = null;
    let entriesAdded: bigint | null = null;
    if (this.version >= 2) {
      firstId = this.streamId();
      maxDeletedId = this.streamId();
      entriesAdded = r.lenBig();
    }
    const groupCount = r.len();
    r.checkpoint();
    this.groupsRemaining = groupCount;
    this.phase = StreamPhase.Group;
    this.h.emit({
      kind: 'chunk',
      key: this.h.key(),
      value: { type: 'streamMeta', length, lastId, firstId, maxDeletedId, entriesAdded, groupCount },
    });
  }

  private parseGroup(): void {
    if (this.groupsRemaining === 0) {
      this.h.endKey();
      return;
    }
    const { r } = this.h;
    this.h.expecting = 'a stream consumer group';
    const name = r.str();
    const lastId = this.streamId();
    let entriesRead: bigint | null = null;
    if (this.version >= 2) {
      const v = r.lenBig();
      entriesRead = v === U64_MAX ? null : v; // SCG_INVALID_ENTRIES_READ (-1)
    }
    const pendingCount = r.len();
    r.checkpoint();
    this.group = name;
    this.remaining = pendingCount;
    this.pel = [];
    this.phase = StreamPhase.Pel;
    const value: StreamGroupChunk = { type: 'streamGroup', name, lastId, entriesRead, pendingCount };
    this.h.emit({ kind: 'chunk', key: this.h.key(), value });
  }

  private parsePel(): void {
    const { r } = this.h;
    this.h.expecting = 'a stream group pending entry';
    while (this.remaining > 0 && this.pel.length < this.h.maxItems) {
      const raw = r.bytes(16);
      const deliveryTime = r.i64ms();
      const deliveryCount = r.len();
      r.checkpoint();
      this.pel.push({ id: readStreamId(raw), deliveryTime, deliveryCount });
      this.remaining--;
    }
    if (this.pel.length) {
      const pending = this.pel;
      this.pel = [];
      this.h.emit({
        kind: 'chunk',
        key: this.h.key(),
        value: { type: 'streamPending', group: this.group, pending },
      });
    }
    if (this.remaining === 0) this.phase = StreamPhase.ConsumerCount;
  }

  private parseConsumerCount(): void {
    const { r } = this.h;
    this.h.expecting = 'the stream consumer count';
    const n = r.len();
    r.checkpoint();
    this.consumersRemaining = n;
    this.phase = StreamPhase.Consumer;
    this.h.emit({
      kind: 'chunk',
      key: this.h.key(),
      value: { type: 'streamConsumerCount', group: this.group, count: n },
    });
  }

  private parseConsumer(): void {
    if (this.consumersRemaining === 0) {
      this.groupsRemaining--;
      this.phase = StreamPhase.Group;
      return;
    }
    const { r } = this.h;
    this.h.expecting = 'a stream consumer';
    const name = r.str();
    const seenTime = r.i64ms();
    const activeTime = this.version >= 3 ? r.i64ms() : null;
    const pendingCount = r.len();
    r.checkpoint();
    this.consumer = name;
    this.remaining = pendingCount;
    this.cpel = [];
    this.phase = StreamPhase.ConsumerPel;
    const value: StreamConsumerChunk = {
      type: 'streamConsumer',
      group: this.group,
      name,
      seenTime,
      activeTime,
      pendingCount,
    };
    this.h.emit({ kind: 'chunk', key: this.h.key(), value });
  }

  private parseConsumerPel(): void {
    const { r } = this.h;
    this.h.expecting = 'a stream consumer pending ID';
    while (this.remaining > 0 && this.cpel.length < this.h.maxItems) {
      const raw = r.bytes(16);
      r.checkpoint();
      this.cpel.push(readStreamId(raw));
      this.remaining--;
    }
    if (this.cpel.length) {
      const ids = this.cpel;
      this.cpel = [];
      this.h.emit({
        kind: 'chunk',
        key: this.h.key(),
        value: { type: 'streamConsumerPending', group: this.group, consumer: this.consumer, ids },
      });
    }
    if (this.remaining === 0) {
      this.consumersRemaining--;
      this.phase = StreamPhase.Consumer;
    }
  }
}
