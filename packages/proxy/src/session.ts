import type { Socket } from 'node:net';
import type { Logger, ProxyDbConfig } from '@minirs/common';
import type { RequestView, RespFrame, RespWriter } from '@minirs/resp';
import type { BatchWriter } from './batch-writer.js';
import type { CommandInfo, CommandTable } from './command-table.js';
import type { Entry, EntryOwner } from './reply-entry.js';
import type { ShardKeyRules } from './shard-key.js';
import type { ShardLink } from './shard-link.js';
import type { ShardPool } from './shard-pool.js';
import type { TlsInfo } from './tls.js';

/**
 * What command handlers (src/commands/) know of a client connection and its endpoint: the
 * request being dispatched, ways to reply and to forward, and intent methods for every change
 * of the session's state (authenticate, holdBarrier, enterPubSub...). The state itself is
 * read-only here: its rules live in one place, ClientSession. This file imports types only,
 * from modules that import neither the session nor the commands, so nothing can close a circle
 * through it (test/import-graph.test.ts checks).
 */

/** The database endpoint as the commands see it (DbEndpoint). */
export interface EndpointView {
  readonly uid: number;
  readonly config: ProxyDbConfig;
  readonly pools: readonly ShardPool[];
  /** Hash keys to slots and enforce the one-slot rule. */
  readonly sharded: boolean;
  readonly rules: ShardKeyRules;
  /** Pool index serving each slot, -1 where no shard does. */
  readonly slotOwner: Int16Array;
  readonly commands: CommandTable | null;
  readonly ctx: { readonly internalPassword: string; timeoutMs(): number };
  readonly log: Logger;
  readonly clients: ReadonlySet<Session>;
  /** SCRIPT LOAD and EVAL scripts go to every shard: false when this one did already. */
  scriptLoaded(body: Buffer): boolean;
  scriptsFlushed(): void;
  /** Every shard of the database took these CONFIG SET settings (names lowercase). */
  configSet(settings: Record<string, string>): void;
  /** On a sharded database, load an EVAL script on every shard (once) on c's links. */
  loadEverywhere(c: Session, body: Buffer): void;
}

/** What waits for the endpoint's command table (see DbEndpoint.awaitCommands). */
export interface TableWaiter {
  /** When it started waiting (ms), 0 when it is not. */
  tableWaitSince: number;
  pump(): void;
}

/** The endpoint as the session itself sees it: it also counts operations and waits for the table. */
export interface SessionHost extends EndpointView {
  ops: number;
  awaitCommands(client: TableWaiter): true | false | string;
}

/** The reply queue as commands see it. */
export interface ReplyList {
  readonly length: number;
  /** Entries pushed while set are dropped instead of written (CLIENT REPLY OFF / SKIP). */
  readonly mute: boolean;
  push(e: Entry): void;
  peek(): Entry | undefined;
}

/** A mode that takes over a connection's commands (pub/sub, MONITOR). */
export interface SessionMode {
  dispatch(frame: RespFrame): boolean;
  /** The shards of the database changed (their uids, in slot order). */
  shardsChanged(uids: number[]): void;
  close(): void;
}

/** The private link(s) of an in-flight blocking command. */
export interface BlockingLink {
  link: ShardLink;
  release: (clean: boolean) => void;
  /** Pool index of the link's shard, and whether it runs a script (not a blocked command). */
  index: number;
  script: boolean;
  /** The other shards' private links of a WAIT on a sharded database (released with it). */
  more?: { link: ShardLink; index: number }[];
}

/** A client's transaction context as CLIENT LIST and the mode switches see it. */
export interface TxnView {
  readonly inMulti: boolean;
  /** Inside MULTI or WATCH. */
  readonly active: boolean;
  readonly queuedCount: number;
  /** The private link the client's commands to `pool` must use, or null. */
  linkFor(pool: ShardPool): ShardLink | null;
}

/** The transaction commands (MULTI, EXEC...) of a client's transaction context. */
export interface TxnCommands extends TxnView {
  multi(frame: RespFrame): boolean;
  exec(frame: RespFrame): boolean;
  discard(frame: RespFrame): boolean;
  watch(frame: RespFrame): boolean;
  unwatch(frame: RespFrame): boolean;
  /** A command inside MULTI. */
  queue(frame: RespFrame): boolean;
}

export type ReplyMode = 'on' | 'off' | 'skip';

export interface Session extends EntryOwner {
  readonly id: number;
  readonly endpoint: EndpointView;
  readonly socket: Socket;
  readonly tls: TlsInfo;
  /** The command being dispatched. */
  readonly view: RequestView;
  readonly out: BatchWriter;
  readonly replies: ReplyList;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly createdAt: number;
  readonly lastCommandAt: number;
  readonly lastCommand: string;

  readonly proto: 2 | 3;
  readonly authed: boolean;
  readonly admin: boolean;
  readonly name: string;
  /** CLIENT REPLY OFF in force. */
  readonly replyOff: boolean;
  readonly txn: TxnView | null;
  readonly pubsub: SessionMode | null;
  readonly monitor: SessionMode | null;
  readonly blockingLink: BlockingLink | null;
  /** Slot found by the last route(). */
  readonly routedSlot: number;

  // ---- intents: every change of the session's state

  /** Credentials checked: the client is authenticated (as the admin user or the default one). */
  authenticate(admin: boolean): void;
  setName(name: string): void;
  setProtocol(proto: 2 | 3): void;
  /** CLIENT REPLY ON|OFF|SKIP. */
  setReplyMode(mode: ReplyMode): void;
  /** Nothing more of this client is dispatched until releaseBarrier(). */
  holdBarrier(): void;
  releaseBarrier(): void;
  /** A blocking command runs on b: holds the barrier until endBlocking() (which returns b). */
  holdBlocking(b: BlockingLink): void;
  endBlocking(): BlockingLink | null;
  /** The connection's commands go to this mode until it leaves. */
  enterPubSub(mode: SessionMode): void;
  enterMonitor(mode: SessionMode): void;
  leaveMode(mode: SessionMode): void;
  /** The transaction context, created on first use. */
  transaction(): TxnCommands;
  /** RESET: false = not yet (earlier replies first). */
  reset(): boolean;
  /** Hand the socket over to a raw pipe: returns every byte received but not yet dispatched. */
  detach(): Buffer;
  /** Close once every queued reply has been written. */
  endWhenFlushed(): void;
  destroy(): void;

  // ---- work

  /** true: the command table is known; false: not yet (woken later); else an error to reply. */
  commandsReady(): true | false | string;
  /** Pool index of the current command's keys, or KEYLESS, or a failure (see routing.ts). */
  route(info: CommandInfo | undefined): number;
  /** Reply with the error of a failed route(); true when the target is usable. */
  routeOk(target: number): boolean;
  linkFor(index: number): ShardLink;
  forward(frame: RespFrame, index: number): boolean;
  forwardBytes(buf: Buffer, index: number, start?: number, end?: number): boolean;
  replyBytes(bytes: Buffer): void;
  replyError(message: string): void;
  writer(): RespWriter;
  /** Dispatch queued commands while nothing holds them back. */
  pump(): void;
}
