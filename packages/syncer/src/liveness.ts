import { connect, type Socket } from 'node:net';

/**
 * Detects a silent peer on a replication or destination link (minirs). A real partition does not
 * close sockets: the kernel keeps retransmitting for many minutes, and an idle source only PINGs
 * every repl-ping-replica-period (10 s), so silence alone says nothing. When nothing has arrived
 * for `idleMs`, a fresh TCP connection to the same host:port (from the same local address) is
 * tried; if it cannot connect within `probeTimeoutMs` the path is gone and the socket is
 * destroyed with that reason, so the link reports it and reconnects. TCP keepalive is on too.
 */

export interface LivenessOptions {
  host: string;
  port: number;
  localAddress?: string;
  idleMs?: number;
  probeTimeoutMs?: number;
}

/**
 * The address a connection to `host` leaves from: the node's (MINIRS_NODE_ADDR, set by the
 * manager) when the peer is on loopback, as every minirs node and test server is; none for any
 * other peer (a loopback source address cannot reach it: connect fails with EINVAL, e.g. a
 * source `east:12000` on a container network).
 */
export function nodeLocalAddress(host: string): string | undefined {
  const addr = process.env.MINIRS_NODE_ADDR || undefined;
  if (!addr) return undefined;
  if (host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host)) return addr;
  // (netns mode) A syncer on the host also binds its address toward the node network (a CIDR).
  const net = process.env.MINIRS_NODE_NET;
  return net && inCidr(host, net) ? addr : undefined;
}

function ipv4ToInt(a: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

function inCidr(host: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const h = ipv4ToInt(host);
  const b = ipv4ToInt(base ?? '');
  const n = Number(bits);
  if (h === undefined || b === undefined || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return (h & mask) >>> 0 === (b & mask) >>> 0;
}

export function watchSilentPeer(socket: Socket, o: LivenessOptions): void {
  const idleMs = o.idleMs ?? 2000;
  const probeTimeoutMs = o.probeTimeoutMs ?? 3000;
  socket.setKeepAlive(true, 1000);
  // bytesRead, not a 'data' listener: a listener would switch the socket to flowing mode before
  // the link's reader is attached and lose what arrives meanwhile.
  let lastRead = Date.now();
  let seen = socket.bytesRead;
  let probing = false;
  const timer = setInterval(() => {
    if (socket.bytesRead !== seen) {
      seen = socket.bytesRead;
      lastRead = Date.now();
    }
    if (probing || socket.destroyed || Date.now() - lastRead < idleMs) return;
    probing = true;
    const probe = connect({ host: o.host, port: o.port, localAddress: o.localAddress });
    const done = (alive: boolean, why?: string) => {
      clearTimeout(t);
      probe.destroy();
      probing = false;
      if (alive) lastRead = Math.max(lastRead, Date.now() - idleMs / 2);
      else if (!socket.destroyed) {
        socket.destroy(
          new Error(`${o.host}:${o.port} is silent and unreachable (${why}); the link is considered down`),
        );
      }
    };
    const t = setTimeout(() => done(false, `no connection within ${probeTimeoutMs} ms`), probeTimeoutMs);
    probe.once('connect', () => done(true));
    // Refused means a live host said no: the link itself will learn that on its own.
    probe.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED', err.code ?? err.message),
    );
  }, 500);
  timer.unref();
  socket.once('close', () => clearInterval(timer));
}
