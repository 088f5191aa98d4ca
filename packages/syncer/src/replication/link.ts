import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCodes, type Logger } from '@minirs/common';
import { encodeCommand, ErrorReply } from '@minirs/resp';
import { AppliedTracker, type ReplicationPosition } from './applied-tracker.js';
import { argIs, type ReplicationCommand } from './command.js';
import { CommandStreamReader } from './command-stream-reader.js';
import type { ReplicationConsumer } from './consumer.js';
import {
  errorFromReply,
  errorFromSocket,
  errorReplyClass,
  protocolError,
  ReplicationError,
} from './errors.js';
import { HandshakeIO, type HandshakeSession } from './handshake-io.js';
import { RdbAuxScanner } from './rdb-aux-scanner.js';
import { RdbTransferReader } from './rdb-transfer-reader.js';
import type { SocketFactory } from './socket-factory.js';
import { SocketReader } from './socket-reader.js';

export type LinkState =
  | 'idle'
  | 'connecting'
  | 'handshake'
  | 'full-sync'
  | 'streaming'
  | 'waiting-to-retry'
  | 'closed';

export interface RetryPolicy {
  /** First delay after a failure; doubles per consecutive failure. Default 100 ms. */
  initialDelayMs?: number;
  /** Ceiling of the delay. Default 5 s. */
  maxDelayMs?: number;
  /**
   * Consecutive failed attempts retried before run() rejects with the last error; reaching the
   * command stream resets the count. Default Infinity (a Replica Of link keeps trying).
   */
  maxAttempts?: number;
}

export interface ReplicationLinkOptions {
  /** Opens the byte stream to the source (TCP, TLS, a proxied pipe). */
  connect: SocketFactory;
  /** The source as shown in errors and logs, e.g. "127.0.0.1:6379" (never with a password). */
  peer?: string;
  /** AUTH before the handshake: `AUTH <password>` or `AUTH <username> <password>`. */
  username?: string;
  password?: string;
  /**
   * Steps run first on every new connection, before AUTH/PING/REPLCONF/PSYNC — e.g. on a minirs
   * proxy `AUTH admin <pass>` then `MINIRS.LINK <shard uid>`, which turns the connection into a
   * raw pipe to one shard.
   */
  preamble?: (session: HandshakeSession) => Promise<void>;
  /** Port announced with REPLCONF listening-port (shown in the source's INFO). Default 0. */
  listeningPort?: number;
  /** Resume point from an earlier run (persisted): the first PSYNC asks for a partial resync. */
  position?: ReplicationPosition;
  /** 'on-return': a resolved commands() call means applied. 'manual': call applied(). */
  ackMode?: 'on-return' | 'manual';
  /** REPLCONF ACK period. Default 100 ms. */
  ackIntervalMs?: number;
  /** Fail the connection when no byte arrives for this long while the link waits for one. Default 60 s (Redis's repl-timeout). */
  readTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Most commands per commands() call. Default 1024; 1 gives one command at a time. */
  maxBatchCommands?: number;
  /** A batch stops growing past this many bytes. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Unread bytes buffered before the socket is paused. Default 256 KiB. */
  highWaterMark?: number;
  logger?: Logger;
}

export interface ReplicationLinkEvents {
  state: [state: LinkState];
  /** A retryable failure; the link reconnects after `delayMs`. */
  retry: [error: ReplicationError, delayMs: number, attempt: number];
}

const CLOSED = Symbol('closed');

/**
 * One replica link to one source (a Redis, or one shard behind a minirs proxy): the Redis
 * replica protocol, a full or partial sync, then the command stream with exact offsets. It owns
 * (replid, applied offset, db) and, after a connection failure, reconnects and asks to continue
 * where the consumer's applied data ends. Failures that need a person (auth, protocol, OOM) end
 * run() with a ReplicationError; consumer exceptions end it as they are.
 *
 * Size (~590 lines): one protocol state machine over one socket (handshake, PSYNC, RDB transfer
 * and its EOF marker, the stream with its offsets, REPLCONF ACK/GETACK); the offset bookkeeping
 * (applied-tracker), RDB aux scanning and the RESP codec are in their own files.
 */
export class ReplicationLink extends EventEmitter<ReplicationLinkEvents> {
  readonly peer: string;
  private readonly opts: Required<
    Pick<
      ReplicationLinkOptions,
      'ackMode' | 'ackIntervalMs' | 'readTimeoutMs' | 'maxBatchCommands' | 'maxBatchBytes' | 'highWaterMark'
    >
  >;
  private readonly retryPolicy: Required<RetryPolicy>;
  private readonly tracker: AppliedTracker;
  private replid: string | undefined;
  private _state: LinkState = 'idle';
  private _lastError: ReplicationError | undefined;
  private _received = 0;
  private _rdbSize: number | undefined;
  private _rdbTransferred = 0;
  private closing = false;
  private running: Promise<void> | undefined;
  private socket: Duplex | undefined;
  private reader: SocketReader | undefined;
  private commandReader: CommandStreamReader | undefined;
  private cancelSleep: (() => void) | undefined;
  private readonly stop = new AbortController();
  private readonly stopped = new Promise<undefined>((resolve) =>
    this.stop.signal.addEventListener('abort', () => resolve(undefined), { once: true }),
  );
  /** Database of the stream at the parse position (the tracker has the one at the applied position). */
  private db = 0;

  constructor(private readonly options: ReplicationLinkOptions) {
    super();
    this.peer = options.peer ?? 'source';
    this.opts = {
      ackMode: options.ackMode ?? 'on-return',
      ackIntervalMs: options.ackIntervalMs ?? 100,
      readTimeoutMs: options.readTimeoutMs ?? 60_000,
      maxBatchCommands: Math.max(1, options.maxBatchCommands ?? 1024),
      maxBatchBytes: options.maxBatchBytes ?? 1024 * 1024,
      highWaterMark: options.highWaterMark ?? 256 * 1024,
    };
    this.retryPolicy = {
      initialDelayMs: options.retry?.initialDelayMs ?? 100,
      maxDelayMs: options.retry?.maxDelayMs ?? 5_000,
      maxAttempts: options.retry?.maxAttempts ?? Number.POSITIVE_INFINITY,
    };
    const p = options.position;
    this.replid = p?.replid;
    this.tracker = new AppliedTracker(p?.offset ?? 0, p?.db ?? 0);
    this._received = p?.offset ?? 0;
  }

  get state(): LinkState {
    return this._state;
  }

  /** Where a new PSYNC would resume (the applied position); undefined before the first full sync ends. */
  get position(): ReplicationPosition | undefined {
    return this.replid === undefined
      ? undefined
      : { replid: this.replid, offset: this.tracker.offset, db: this.tracker.db };
  }

  /** Offset after the last command read from the stream (applied or not). */
  get receivedOffset(): number {
    return this._received;
  }

  get appliedOffset(): number {
    return this.tracker.offset;
  }

  /** Size of the RDB of the current full sync, when the source announced it ($len form). */
  get rdbSize(): number | undefined {
    return this._rdbSize;
  }

  get rdbTransferred(): number {
    return this._rdbTransferred;
  }

  /**
   * Bytes read from the socket and not handed to the consumer yet (socket queue plus a partial
   * command). Bounded by highWaterMark + one socket chunk + the largest command: the socket is
   * paused beyond that, whatever the consumer's speed.
   */
  get bufferedBytes(): number {
    return (this.reader?.queuedBytes ?? 0) + (this.commandReader?.pendingBytes ?? 0);
  }

  /** The last failure, retried or not. */
  get lastError(): ReplicationError | undefined {
    return this._lastError;
  }

  /** Manual ack mode: everything up to this command offset is applied at the destination. */
  applied(offset: number): void {
    this.tracker.applied(offset);
  }

  /**
   * Run the link until close() (resolves) or a failure that retrying cannot fix (rejects).
   */
  run(consumer: ReplicationConsumer): Promise<void> {
    if (this.running) throw new Error('ReplicationLink.run() was already called');
    this.running = this.loop(consumer).finally(() => this.setState('closed'));
    return this.running;
  }

  /** Stop: drop the connection, end run(). Resolves when run() has returned. */
  async close(): Promise<void> {
    this.closing = true;
    this.stop.abort();
    this.cancelSleep?.();
    this.reader?.abort(new ReplicationError(ErrorCodes.CONNECTION, 'link closed', { peer: this.peer }));
    this.socket?.destroy();
    await this.running?.catch(() => {});
  }

  private async loop(consumer: ReplicationConsumer): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      try {
        await this.session(consumer, () => {
          failures = 0;
        });
      } catch (err) {
        if (this.closing) return;
        if (!(err instanceof ReplicationError)) throw err;
        this._lastError = err;
        if (!err.retryable) {
          this.options.logger?.error(
            { peer: this.peer, code: err.code, err: err.message },
            'replication link stopped',
          );
          throw err;
        }
        failures++;
        if (failures > this.retryPolicy.maxAttempts) throw err;
        if (consumer.drain) await consumer.drain();
        if (this.closing) return;
        const delay = this.backoff(failures);
        this.options.logger?.warn(
          { peer: this.peer, code: err.code, err: err.message, delayMs: delay, attempt: failures },
          'replication link failed; retrying',
        );
        this.setState('waiting-to-retry');
        this.emit('retry', err, delay, failures);
        if ((await this.sleep(delay)) === CLOSED) return;
      } finally {
        this.socket?.destroy();
        this.socket = undefined;
        this.reader = undefined;
        this.commandReader = undefined;
      }
    }
  }

  private async session(consumer: ReplicationConsumer, reachedStream: () => void): Promise<void> {
    this.setState('connecting');
    let socket: Duplex | undefined;
    try {
      const connecting = this.options.connect(this.stop.signal);
      // close() must not wait for a factory that hangs; a socket that arrives late is dropped.
      socket = await Promise.race([connecting, this.stopped]);
      if (socket === undefined) {
        connecting.then((late) => late.destroy()).catch(() => {});
        return;
      }
    } catch (err) {
      throw errorFromSocket(err, 'connect to', this.peer);
    }
    this.socket = socket;
    if (this.closing) return;
    const reader = new SocketReader(socket, this.peer, this.opts.highWaterMark);
    this.reader = reader;
    const io = new HandshakeIO(socket, reader, this.peer, this.opts.readTimeoutMs);

    this.setState('handshake');
    if (this.options.preamble) await this.options.preamble(io);
    await this.handshake(io);
    const resume = this.position;
    io.send(resume ? ['PSYNC', resume.replid, resume.offset + 1] : ['PSYNC', '?', '-1']);
    const reply = await this.psyncReply(io, resume !== undefined);
    const { rest, at } = io.takeRest();

    let leftover: Buffer;
    if (reply.kind === 'full') {
      // Like a Redis replica loading its RDB: a newline each second tells the source we are
      // alive. A source that finished sending its RDB waits for our first ACK and drops a replica
      // silent for repl-timeout (60 s): a full sync loaded slower than that was cut at its end.
      const alive = setInterval(() => {
        if (!socket.destroyed && socket.writableLength < 1024) socket.write('\n');
      }, 1000);
      try {
        leftover = await this.fullSync(
          consumer,
          reader,
          rest,
          at,
          reply.replid,
          reply.offset,
          resume !== undefined,
        );
      } finally {
        clearInterval(alive);
      }
    } else {
      const previous = this.replid!;
      this.replid = reply.replid ?? previous;
      this.db = this.tracker.db;
      this.options.logger?.info(
        { peer: this.peer, replid: this.replid, offset: this.tracker.offset },
        'partial resync accepted',
      );
      await consumer.partialSync?.({
        replid: this.replid,
        previousReplid: previous,
        offset: this.tracker.offset,
        db: this.tracker.db,
      });
      leftover = rest;
    }
    if (this.closing) return;
    await this.stream(consumer, socket, reader, leftover, reachedStream);
  }

  private async handshake(io: HandshakeIO): Promise<void> {
    const { username, password } = this.options;
    if (password !== undefined && password !== '') {
      await io.expect('AUTH', ...(username ? [username, password] : [password]));
    }
    // A source that answers PING is alive; Redis tolerates NOPERM and the like here, but a
    // missing password and "not ready yet" are worth reporting before PSYNC.
    this.checkStep(await io.call('PING'), 'PING', true);
    this.checkStep(
      await io.call('REPLCONF', 'listening-port', this.options.listeningPort ?? 0),
      'REPLCONF listening-port',
      false,
    );
    this.checkStep(await io.call('REPLCONF', 'capa', 'eof', 'capa', 'psync2'), 'REPLCONF capa', false);
  }

  /** Old sources reject REPLCONF; only auth and not-ready errors stop the handshake (as in Redis). */
  private checkStep(reply: unknown, op: string, isPing: boolean): void {
    if (!(reply instanceof ErrorReply)) return;
    const kind = errorReplyClass(reply.message);
    // DENIED (protected mode) closes the connection: nothing after PING could be read.
    const fatalAuth =
      kind === 'auth' && (!isPing || reply.message.startsWith('NOAUTH') || reply.message.startsWith('DENIED'));
    if (fatalAuth || kind === 'transient') throw errorFromReply(reply.message, op, this.peer);
  }

  private async psyncReply(
    io: HandshakeIO,
    askedPartial: boolean,
  ): Promise<{ kind: 'full'; replid: string; offset: number } | { kind: 'continue'; replid?: string }> {
    for (;;) {
      // The source may send newlines to keep the connection alive before it answers.
      const line = await io.readLine('the reply to PSYNC');
      if (line === '') continue;
      if (line.startsWith('-')) throw errorFromReply(line.slice(1), 'PSYNC', this.peer);
      const parts = line.split(' ');
      if (
        parts[0] === '+FULLRESYNC' &&
        parts.length === 3 &&
        isReplid(parts[1]!) &&
        /^[0-9]{1,18}$/.test(parts[2]!)
      ) {
        return { kind: 'full', replid: parts[1]!, offset: Number(parts[2]) };
      }
      if (
        parts[0] === '+CONTINUE' &&
        askedPartial &&
        (parts.length === 1 || (parts.length === 2 && isReplid(parts[1]!)))
      ) {
        return { kind: 'continue', replid: parts[1] };
      }
      throw protocolError(
        `${this.peer} answered PSYNC with ${JSON.stringify(line.slice(0, 120))}; expected +FULLRESYNC <replid> <offset>${askedPartial ? ' or +CONTINUE [<replid>]' : ''}.`,
        { op: 'PSYNC', peer: this.peer },
      );
    }
  }

  /** Receive the RDB, hand it to the consumer, and return the bytes after it. */
  private async fullSync(
    consumer: ReplicationConsumer,
    reader: SocketReader,
    first: Buffer,
    at: number,
    replid: string,
    offset: number,
    partialRefused: boolean,
  ): Promise<Buffer> {
    const snapshotAt = Date.now();
    // Until the snapshot is loaded there is no position to resume from.
    this.replid = undefined;
    this.tracker.reset(offset, 0);
    this._received = offset;
    this._rdbSize = undefined;
    this._rdbTransferred = 0;
    this.setState('full-sync');
    this.options.logger?.info({ peer: this.peer, replid, offset, partialRefused }, 'full sync started');

    const transfer = new RdbTransferReader(this.peer, at);
    const scanner = new RdbAuxScanner(this.peer);
    const out: Buffer[] = [];
    let started = false;
    let chunk: Buffer | null = first;
    for (;;) {
      const rest: Buffer | undefined = transfer.feed(chunk, out);
      if (!started && transfer.header) {
        started = true;
        this._rdbSize = transfer.header.kind === 'length' ? transfer.header.size : undefined;
        await consumer.fullSyncStart({
          replid,
          offset,
          rdbSize: this._rdbSize,
          partialRefused,
          snapshotAt,
        });
      }
      for (const piece of out) {
        if (!scanner.done) scanner.push(piece);
        this._rdbTransferred += piece.length;
        await consumer.rdbChunk(piece);
        if (this.closing) return Buffer.alloc(0);
      }
      out.length = 0;
      if (rest !== undefined) {
        const rdb = scanner.result();
        if (rdb.version === -1) {
          throw protocolError(`The full sync payload from ${this.peer} is too short to be an RDB.`, {
            op: 'full sync',
            peer: this.peer,
          });
        }
        const streamDb = Number(rdb.aux.get('repl-stream-db') ?? 0);
        if (!Number.isInteger(streamDb) || streamDb < 0) {
          throw protocolError(`The RDB from ${this.peer} has a bad repl-stream-db aux field.`, {
            op: 'full sync',
            peer: this.peer,
          });
        }
        await consumer.fullSyncEnd({ replid, offset, rdbBytes: transfer.transferred, rdb, streamDb });
        this.replid = replid;
        this.tracker.reset(offset, streamDb);
        this.db = streamDb;
        this.options.logger?.info(
          { peer: this.peer, replid, offset, rdbBytes: transfer.transferred, streamDb },
          'full sync loaded',
        );
        return rest;
      }
      chunk = await reader.read(this.opts.readTimeoutMs, 'the RDB');
      if (chunk === null) {
        throw new ReplicationError(
          ErrorCodes.CONNECTION,
          `${this.peer} closed the connection during the full sync after ${transfer.transferred} RDB bytes.`,
          { op: 'full sync', peer: this.peer, byteOffset: reader.bytesRead },
        );
      }
    }
  }

  private async stream(
    consumer: ReplicationConsumer,
    socket: Duplex,
    reader: SocketReader,
    first: Buffer,
    reachedStream: () => void,
  ): Promise<void> {
    const commands = new CommandStreamReader(this.tracker.offset, this.peer);
    this.commandReader = commands;
    commands.feed(first);
    this._received = this.tracker.offset;
    const ack = () => {
      if (!socket.destroyed && socket.writableLength < 64 * 1024)
        socket.write(encodeCommand(['REPLCONF', 'ACK', this.tracker.offset]));
    };
    // A diskless source starts streaming only after this first ACK.
    ack();
    const timer = setInterval(ack, this.opts.ackIntervalMs);
    this.setState('streaming');
    reachedStream();
    try {
      const manual = this.opts.ackMode === 'manual';
      for (;;) {
        if (this.closing) return;
        const batch: ReplicationCommand[] = [];
        let bytes = 0;
        let ackAfter = false;
        let bad: unknown;
        while (batch.length < this.opts.maxBatchCommands && bytes < this.opts.maxBatchBytes) {
          let cmd: ReplicationCommand | undefined;
          try {
            cmd = commands.next();
          } catch (err) {
            // Hand over the good commands before the bad bytes, then fail.
            if (batch.length === 0) throw err;
            bad = err;
            break;
          }
          if (cmd === undefined) break;
          this._received = cmd.offset;
          if (this.handledByLink(cmd)) {
            if (!isGetAck(cmd)) continue;
            // Answer GETACK once the commands before it are handed over (and, on return, applied).
            if (batch.length === 0) ack();
            else ackAfter = true;
            break;
          }
          cmd.db = this.db;
          this.tracker.delivered(cmd.offset, this.db);
          batch.push(cmd);
          bytes += cmd.raw.length;
        }
        if (batch.length > 0) {
          await consumer.commands(batch);
          if (!manual) this.tracker.applied(batch[batch.length - 1]!.offset);
          if (ackAfter) ack();
          if (bad !== undefined) throw bad;
          continue;
        }
        const chunk = await reader.read(this.opts.readTimeoutMs, 'the command stream');
        if (chunk === null) {
          throw new ReplicationError(
            ErrorCodes.CONNECTION,
            `${this.peer} closed the replication stream at offset ${this._received}.`,
            { op: 'read replication stream', peer: this.peer, offset: this._received },
          );
        }
        commands.feed(chunk);
      }
    } finally {
      clearInterval(timer);
    }
  }

  /** PING, REPLCONF GETACK, SELECT and keep-alives are the link's business, not the consumer's. */
  private handledByLink(cmd: ReplicationCommand): boolean {
    const argv = cmd.argv;
    if (argv.length === 0 || argIs(argv[0], 'PING')) {
      this.tracker.handled(cmd.offset, this.db);
      return true;
    }
    if (argIs(argv[0], 'REPLCONF')) {
      // GETACK counts toward the offset like any command; the caller answers it.
      this.tracker.handled(cmd.offset, this.db);
      return true;
    }
    if (argIs(argv[0], 'SELECT')) {
      const text = argv[1]?.toString('latin1') ?? '';
      if (argv.length !== 2 || !/^[0-9]{1,9}$/.test(text)) {
        throw protocolError(
          `${this.peer} sent a bad SELECT in the replication stream at offset ${cmd.offset}.`,
          {
            op: 'read replication stream',
            peer: this.peer,
            offset: cmd.offset - cmd.raw.length,
          },
        );
      }
      this.db = Number(text);
      this.tracker.handled(cmd.offset, this.db);
      return true;
    }
    return false;
  }

  private backoff(attempt: number): number {
    const { initialDelayMs, maxDelayMs } = this.retryPolicy;
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 30));
    // Jitter so many links to one recovering source do not reconnect in lockstep.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private sleep(ms: number): Promise<typeof CLOSED | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.cancelSleep = undefined;
        resolve(undefined);
      }, ms);
      this.cancelSleep = () => {
        clearTimeout(timer);
        resolve(CLOSED);
      };
    });
  }

  private setState(state: LinkState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }
}

function isGetAck(cmd: ReplicationCommand): boolean {
  return argIs(cmd.argv[0], 'REPLCONF') && argIs(cmd.argv[1], 'GETACK');
}

function isReplid(s: string): boolean {
  return /^[0-9a-zA-Z]{40}$/.test(s);
}
