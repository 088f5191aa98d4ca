// Publishes the cluster on the container's own network: the cluster listens on its 127.0.C.N
// node addresses, which only this container reaches, so every non-loopback IPv4 address of the
// container forwards the API port and each database port to them (what `-p` and a compose
// network reach). Off with MINIRS_PUBLISH=off (with --network host it would open the host's).
import { createConnection, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';

const POLL_MS = 1000;

export class Publisher {
  /** @type {Map<string, import('node:net').Server>} */
  #servers = new Map();
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #timer;
  #closed = false;

  /**
   * @param {import('../packages/local/dist/index.js').ApiClient} api
   * @param {string} apiAddr @param {number} apiPort
   * @param {import('pino').Logger} log
   */
  constructor(api, apiAddr, apiPort, log) {
    this.api = api;
    this.apiAddr = apiAddr;
    this.apiPort = apiPort;
    this.log = log;
    this.local = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i && i.family === 'IPv4' && !i.internal)
      .map((i) => /** @type {import('node:os').NetworkInterfaceInfo} */ (i).address);
  }

  addresses() {
    return [...this.#servers.keys()];
  }

  async start() {
    for (const a of this.local) await this.#forward(a, this.apiPort, this.apiAddr);
    await this.#sync();
    this.#timer = setInterval(() => void this.#sync(), POLL_MS);
  }

  close() {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const s of this.#servers.values()) s.close();
    this.#servers.clear();
  }

  /** Databases come and go through the API: forward the ports of those that exist. */
  async #sync() {
    let bdbs;
    try {
      bdbs = await this.api.listBdbs();
    } catch {
      return; // the manager restarts or stops; the next round tries again
    }
    const want = new Map();
    for (const b of bdbs) {
      const target = b.endpoints[0]?.addr[0];
      if (!target) continue;
      for (const a of this.local) want.set(`${a}:${b.port}`, { addr: a, port: b.port, target });
    }
    for (const [key, w] of want) if (!this.#servers.has(key)) await this.#forward(w.addr, w.port, w.target);
    for (const [key, s] of this.#servers) {
      const port = Number(key.slice(key.lastIndexOf(':') + 1));
      if (port !== this.apiPort && !want.has(key)) {
        s.close();
        this.#servers.delete(key);
      }
    }
  }

  /** @param {string} addr @param {number} port @param {string} target */
  #forward(addr, port, target) {
    if (this.#closed) return Promise.resolve();
    const key = `${addr}:${port}`;
    const server = createServer((client) => {
      const upstream = createConnection({ host: target, port });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream).pipe(client);
    });
    return new Promise((resolve) => {
      server.once('error', (err) => {
        this.log.warn({ err, addr, port }, 'cannot publish this port');
        resolve(undefined);
      });
      server.listen({ host: addr, port }, () => {
        this.#servers.set(key, server);
        this.log.info({ addr, port, target }, 'published');
        resolve(undefined);
      });
    });
  }
}
