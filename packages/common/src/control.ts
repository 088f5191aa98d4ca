import { EventEmitter } from 'node:events';
import { existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import type { Packr } from 'msgpackr';
import type {
  ControlMessage,
  DownMessage,
  ProcessRole,
  RequestMessage,
  RequestsOf,
  ResponseMessage,
  UpMessage,
} from './control-messages.js';
import { ErrorCodes, MinirsError } from './errors.js';

/**
 * The control channel between the cluster-manager and its children: length-prefixed msgpackr
 * frames over a Unix socket that the child listens on. The child owns the socket so that a
 * restarted manager can find and re-adopt children that outlived it. The messages of each role
 * are in control-messages.ts.
 */

type AnyRequestMap = Record<string, { args: unknown; result: unknown }>;
/** A request's args and timeout; args may be left out where the op takes none. */
type RequestArgs<A> = undefined extends A ? [args?: A, timeoutMs?: number] : [args: A, timeoutMs?: number];

const MAX_FRAME = 64 * 1024 * 1024;
// msgpackr loads with the first frame: a process that never opens a control channel (a CLI
// command talking to the REST API) does not pay for it on its start.
let packrInst: Packr | undefined;
function packer(): Packr {
  if (!packrInst) {
    const { Packr: P } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr');
    packrInst = new P({ useRecords: false, moreTypes: false });
  }
  return packrInst;
}

export function encodeFrame(msg: ControlMessage): Buffer {
  const body = packer().pack(msg);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** Splits a byte stream into control messages; throws on a frame no peer of ours would send. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ControlMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ControlMessage[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME) {
        throw new MinirsError(ErrorCodes.PROTOCOL, `control frame of ${len} bytes exceeds ${MAX_FRAME}`);
      }
      if (this.buf.length < 4 + len) break;
      const msg = packer().unpack(this.buf.subarray(4, 4 + len)) as ControlMessage;
      if (!msg || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string') {
        throw new MinirsError(ErrorCodes.PROTOCOL, 'control frame is not a message object');
      }
      out.push(msg);
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

/** Args arrive off a socket: the handler validates them (see ShardRequests etc. for their shapes). */
type RequestHandler = (op: string, args: unknown) => Promise<unknown> | unknown;

/**
 * One end of a control connection: send, request/response, and message events. `In` is what
 * the peer sends (emitted as 'message'), `Out` what this end sends, `Req` the requests it makes.
 */
export class ControlConnection<
  In extends ControlMessage = ControlMessage,
  Out extends ControlMessage = ControlMessage,
  Req extends AnyRequestMap = AnyRequestMap,
> extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  closed = false;

  constructor(
    readonly socket: Socket,
    private readonly onRequest?: RequestHandler,
  ) {
    super();
    socket.on('data', (chunk) => {
      let msgs: ControlMessage[];
      try {
        msgs = this.decoder.push(chunk);
      } catch (err) {
        this.emit('protocol-error', err);
        socket.destroy();
        return;
      }
      for (const m of msgs) this.dispatch(m);
    });
    socket.on('error', (err) => this.emit('socket-error', err));
    socket.on('close', () => {
      this.closed = true;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new MinirsError(ErrorCodes.CONNECTION, 'control connection closed'));
      }
      this.pending.clear();
      this.emit('close');
    });
  }

  private dispatch(m: ControlMessage): void {
    if (m.type === 'response') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else
        p.reject(
          new MinirsError((m.error?.code as never) ?? ErrorCodes.INTERNAL, m.error?.message ?? 'failed'),
        );
      return;
    }
    if (m.type === 'request') {
      const reply = (ok: boolean, result?: unknown, error?: { code: string; message: string }) =>
        this.send({ type: 'response', id: m.id, ok, result, error });
      if (!this.onRequest) {
        reply(false, undefined, { code: ErrorCodes.INTERNAL, message: `no handler for ${m.op}` });
        return;
      }
      Promise.resolve()
        .then(() => this.onRequest!(m.op, m.args))
        .then(
          (r) => reply(true, r),
          (e: unknown) =>
            reply(false, undefined, {
              code: e instanceof MinirsError ? e.code : ErrorCodes.INTERNAL,
              message: e instanceof Error ? e.message : String(e),
            }),
        );
      return;
    }
    // The peer's role fixes what it sends (FrameDecoder checked only that it is a message).
    this.emit('message', m as In);
  }

  /** Listens to the peer's messages (hello, stats, events, config, shutdown). */
  onMessage(listener: (m: In) => void): this {
    return this.on('message', listener);
  }

  send(msg: Out | RequestMessage | ResponseMessage): boolean {
    if (this.closed || this.socket.destroyed) return false;
    return this.socket.write(encodeFrame(msg));
  }

  request<Op extends keyof Req & string>(
    op: Op,
    ...[args, timeoutMs = 10_000]: RequestArgs<Req[Op]['args']>
  ): Promise<Req[Op]['result']> {
    const id = this.nextId++;
    return new Promise<Req[Op]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MinirsError(ErrorCodes.TIMEOUT, `control request ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.send({ type: 'request', id, op, args })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new MinirsError(ErrorCodes.CONNECTION, `control connection closed before ${op}`));
      }
    });
  }

  close(): void {
    this.socket.end();
  }
}

/**
 * Child side: listens on its Unix socket, greets every manager that connects with `hello`, and
 * broadcasts messages to all of them (normally one).
 */
export class ControlServer<
  In extends ControlMessage = ControlMessage,
  Out extends ControlMessage = ControlMessage,
> extends EventEmitter {
  private server?: Server;
  readonly connections = new Set<ControlConnection<In, Out>>();
  /** Last config received; children apply it and keep it across manager restarts. */
  lastConfig: Extract<In, { type: 'config' }>['config'] | undefined;

  constructor(
    readonly socketPath: string,
    private readonly hello: () => Extract<Out, { type: 'hello' }>,
    private readonly onRequest?: RequestHandler,
  ) {
    super();
  }

  async listen(): Promise<void> {
    if (existsSync(this.socketPath)) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        // Someone else removed it between the check and the unlink.
      }
    }
    const server = createServer((socket) => {
      const conn = new ControlConnection<In, Out>(socket, this.onRequest);
      this.connections.add(conn);
      conn.onMessage((m) => {
        if (m.type === 'config') this.lastConfig = (m as Extract<In, { type: 'config' }>).config;
        this.emit('message', m, conn);
      });
      conn.on('close', () => this.connections.delete(conn));
      conn.on('socket-error', () => {});
      conn.on('protocol-error', (err) => this.emit('protocol-error', err));
      conn.send(this.hello());
      this.emit('connection', conn);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Listens to the manager's messages (config, shutdown). */
  onMessage(listener: (m: In, conn: ControlConnection<In, Out>) => void): this {
    return this.on('message', listener);
  }

  broadcast(msg: Out): void {
    for (const c of this.connections) c.send(msg);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    try {
      unlinkSync(this.socketPath);
    } catch {
      // Already gone.
    }
  }
}

/** The child side of a role's control channel. */
export type ChildControlServer<R extends ProcessRole> = ControlServer<DownMessage<R>, UpMessage<R>>;
/** The manager's connection to a child of a role. */
export type ChildControl<R extends ProcessRole> = ControlConnection<UpMessage<R>, DownMessage<R>, RequestsOf<R>>;

/** Manager side: connect to a child's control socket. Resolves once connected. */
export function connectControl<
  In extends ControlMessage = ControlMessage,
  Out extends ControlMessage = ControlMessage,
  Req extends AnyRequestMap = AnyRequestMap,
>(socketPath: string, onRequest?: RequestHandler, timeoutMs = 2000): Promise<ControlConnection<In, Out, Req>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new MinirsError(ErrorCodes.TIMEOUT, `control socket ${socketPath} did not answer`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(new ControlConnection<In, Out, Req>(socket, onRequest));
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(
        new MinirsError(ErrorCodes.CONNECTION, `control socket ${socketPath}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    socket.once('error', onError);
  });
}
