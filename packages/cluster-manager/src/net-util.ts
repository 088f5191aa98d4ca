import { createServer } from 'node:net';

/** Resolves true when addr:port can be bound right now (and releases it). */
export function canBind(addr: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: addr, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port the OS considers free on addr. */
export function freePortOn(addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: addr, port: 0, exclusive: true }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
