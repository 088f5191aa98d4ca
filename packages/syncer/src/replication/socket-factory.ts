import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { ErrorCodes } from '@minirs/common';
import { errorFromSocket, ReplicationError } from './errors.js';

/**
 * Opens one connected byte stream to the source: plain TCP, TLS, or anything already piped
 * (through a proxy, a decompressor, a fault-injecting relay). Resolves once bytes can flow;
 * rejects with a classified error. The link calls it once per connection attempt; `signal`
 * aborts when the link is closed meanwhile.
 */
export type SocketFactory = (signal?: AbortSignal) => Promise<Duplex>;

export interface TcpTarget {
  host: string;
  port: number;
  /** Give up connecting after this long (MINIRS_ERR_TIMEOUT). Default 10 s. */
  connectTimeoutMs?: number;
}

export function tcpSocketFactory(target: TcpTarget): SocketFactory {
  return (signal) => {
    const socket = netConnect({ host: target.host, port: target.port, signal });
    return whenConnected(socket, 'connect', `${target.host}:${target.port}`, target.connectTimeoutMs);
  };
}

export interface TlsTarget extends TcpTarget {
  /** Node TLS options: ca, cert, key, servername, rejectUnauthorized... */
  tls?: ConnectionOptions;
}

export function tlsSocketFactory(target: TlsTarget): SocketFactory {
  return (signal) => {
    const socket = tlsConnect({ ...target.tls, host: target.host, port: target.port });
    signal?.addEventListener('abort', () => socket.destroy(), { once: true });
    return whenConnected(socket, 'secureConnect', `${target.host}:${target.port}`, target.connectTimeoutMs);
  };
}

function whenConnected(
  socket: Socket,
  readyEvent: 'connect' | 'secureConnect',
  peer: string,
  timeoutMs = 10_000,
): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ReplicationError(ErrorCodes.TIMEOUT, `Connecting to ${peer} took longer than ${timeoutMs} ms.`, {
          op: 'connect',
          peer,
        }),
      );
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(errorFromSocket(err, 'connect to', peer));
    };
    socket.once('error', onError);
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Until the link's reader listens, an error must not crash the process; the reader sees
      // the destroyed socket and reports it.
      socket.on('error', () => {});
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      resolve(socket);
    });
  });
}
