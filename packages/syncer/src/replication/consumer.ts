import type { ReplicationCommand } from './command.js';
import type { RdbPreamble } from './rdb-aux-scanner.js';

export interface FullSyncStart {
  /** Replication id of the source's history this snapshot belongs to. */
  replid: string;
  /** Offset the snapshot corresponds to; the command stream continues right after it. */
  offset: number;
  /** Payload size for a disk-based transfer; undefined for a diskless one (`$EOF:` form). */
  rdbSize: number | undefined;
  /** True when the link asked for a partial resync and the source refused it. */
  partialRefused: boolean;
  /** When the source answered +FULLRESYNC (ms since the epoch): when its snapshot was taken. */
  snapshotAt: number;
}

export interface FullSyncEnd {
  replid: string;
  offset: number;
  /** RDB bytes received (without the EOF mark). */
  rdbBytes: number;
  /** Version and AUX fields read from the head of the RDB. */
  rdb: RdbPreamble;
  /** Database the command stream continues in (the RDB's `repl-stream-db`, 0 if absent). */
  streamDb: number;
}

export interface PartialSync {
  /** The source's current replication id (changes after a failover; same history). */
  replid: string;
  previousReplid: string;
  /** The stream continues right after this offset: the last applied one. */
  offset: number;
  db: number;
}

/**
 * Receives what a ReplicationLink reads, in order, one call at a time: the link does not read
 * the socket while a returned promise is pending, so a slow consumer slows the source down
 * (TCP backpressure) instead of growing memory.
 */
export interface ReplicationConsumer {
  /**
   * A full sync begins: whatever was applied from this source before is void (flush it). Called
   * once the RDB header arrived, before any RDB byte.
   */
  fullSyncStart(info: FullSyncStart): void | Promise<void>;
  /** RDB bytes in order. Views of socket chunks: hand them on or copy them. */
  rdbChunk(chunk: Buffer): void | Promise<void>;
  /** The whole RDB was received; resolve once it is loaded. The stream starts after that. */
  fullSyncEnd(info: FullSyncEnd): void | Promise<void>;
  /** The source accepted a partial resync; the stream continues after `info.offset`. */
  partialSync?(info: PartialSync): void | Promise<void>;
  /**
   * Commands in stream order, never an empty batch. Resolving means "ready for more"; with
   * ackMode 'on-return' (the default) it also means "applied". With ackMode 'manual', call
   * link.applied(offset) as the destination confirms writes.
   */
  commands(batch: readonly ReplicationCommand[]): void | Promise<void>;
  /**
   * The connection dropped and the link is about to reconnect: settle writes in flight and
   * report them with link.applied() before resolving, so PSYNC resumes at the right offset.
   * Only needed with ackMode 'manual'.
   */
  drain?(): Promise<void>;
}
