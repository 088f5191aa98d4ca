import type { Duplex } from 'node:stream';
import { ErrorCodes } from '@minirs/common';
import {
  encodeCommand,
  ErrorReply,
  type PlainReply,
  RespProtocolError,
  type RespDecoderOptions,
  takeReplies,
  toPlainReply,
} from '@minirs/resp';
import { errorFromReply, protocolError, ReplicationError } from './errors.js';
import type { SocketReader } from './socket-reader.js';

/** A command's arguments as the handshake sends them. */
export type Arg = string | Buffer | number;

/** A handshake reply: RESP2 as plain values (an error reply is an ErrorReply value). */
export type Reply = PlainReply;

/**
 * What a handshake pre-step sees: plain request/reply on the connection before the replica
 * handshake, e.g. `AUTH admin <pass>` then `MINIRS.LINK <shard uid>` on a minirs proxy, after
 * which the same connection is a raw pipe to one shard.
 */
export interface HandshakeSession {
  /** Where the connection goes, for messages. */
  readonly peer: string;
  /** Send a command and read its reply; an error reply comes back as an ErrorReply value. */
  call(...args: Arg[]): Promise<Reply>;
  /** Like call(), but an error reply throws, classified (auth, transient, OOM, protocol). */
  expect(...args: Arg[]): Promise<Reply>;
}

const LF = 0x0a;
const MAX_LINE = 64 * 1024;
/** Handshake replies are RESP2 (we never send HELLO 3), short lines, shallow arrays. */
const REPLY_LIMITS: RespDecoderOptions = { maxLineLength: MAX_LINE, maxDepth: 8 };
/** Handshake replies are small (INFO is a few KB); more is garbage, not something to buffer. */
const MAX_REPLY = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Request/reply over the replication connection until PSYNC is answered. */
export class HandshakeIO implements HandshakeSession {
  private pending: Buffer = EMPTY;
  /** Connection byte offset of pending[0]. */
  private pendingAt = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly reader: SocketReader,
    readonly peer: string,
    private readonly timeoutMs: number,
  ) {}

  send(args: readonly Arg[]): void {
    this.socket.write(encodeCommand(args));
  }

  async call(...args: Arg[]): Promise<Reply> {
    this.send(args);
    return this.readReply(`the reply to ${commandName(args)}`);
  }

  async expect(...args: Arg[]): Promise<Reply> {
    const reply = await this.call(...args);
    if (reply instanceof ErrorReply) throw errorFromReply(reply.message, commandName(args), this.peer);
    return reply;
  }

  async readReply(what: string): Promise<Reply> {
    for (;;) {
      if (this.pending.length > 0) {
        const reply = this.takeReply();
        if (reply !== undefined) return reply;
      }
      await this.more(what);
    }
  }

  /** The reply at the head of pending, consumed; undefined while it is incomplete. */
  private takeReply(): Reply | undefined {
    try {
      const taken = takeReplies(this.pending, 1, REPLY_LIMITS);
      if (taken === undefined) return undefined;
      const reply = toPlainReply(taken.replies[0]!);
      this.consume(taken.end);
      return reply;
    } catch (err) {
      if (!(err instanceof RespProtocolError)) throw err;
      const byteOffset = this.pendingAt + err.offset;
      throw protocolError(
        `Malformed reply from ${this.peer} at byte ${byteOffset} of the connection: ${err.reason}. Are host and port those of a Redis?`,
        { op: 'handshake', peer: this.peer, byteOffset },
      );
    }
  }

  /** One line without its line end (Redis's own rule: up to LF, a trailing CR dropped); '' is a keep-alive. */
  async readLine(what: string): Promise<string> {
    for (;;) {
      const lf = this.pending.indexOf(LF);
      if (lf !== -1) {
        const end = lf > 0 && this.pending[lf - 1] === 0x0d ? lf - 1 : lf;
        const line = this.pending.subarray(0, end).toString('latin1');
        this.consume(lf + 1);
        return line;
      }
      if (this.pending.length > MAX_LINE) {
        throw protocolError(
          `${this.peer} sent ${this.pending.length} bytes without a line end while ${what}.`,
          {
            op: 'handshake',
            peer: this.peer,
            byteOffset: this.pendingAt,
          },
        );
      }
      await this.more(what);
    }
  }

  /** Bytes received past the last reply: the start of whatever follows the handshake. */
  takeRest(): { rest: Buffer; at: number } {
    const out = { rest: this.pending, at: this.pendingAt };
    this.consume(this.pending.length);
    return out;
  }

  private consume(n: number): void {
    this.pending = n >= this.pending.length ? EMPTY : this.pending.subarray(n);
    this.pendingAt += n;
  }

  private async more(what: string): Promise<void> {
    const chunk = await this.reader.read(this.timeoutMs, what);
    if (chunk === null) {
      throw new ReplicationError(
        ErrorCodes.CONNECTION,
        `${this.peer} closed the connection while the link waited for ${what}.`,
        { op: 'handshake', peer: this.peer, byteOffset: this.reader.bytesRead },
      );
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.pending.length > MAX_REPLY) {
      throw protocolError(`${this.peer} sent more than ${MAX_REPLY} bytes for ${what}.`, {
        op: 'handshake',
        peer: this.peer,
        byteOffset: this.pendingAt,
      });
    }
  }
}

function commandName(args: readonly Arg[]): string {
  const name = String(args[0] ?? '').toUpperCase();
  // Subcommands say more than the name (REPLCONF capa vs REPLCONF listening-port); never show values.
  return name === 'REPLCONF' || name === 'INFO' ? `${name} ${String(args[1] ?? '')}` : name;
}
