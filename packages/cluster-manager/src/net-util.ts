import { createServer } from 'node:net';

/** Resolves true when addr:port can be bound right now (and releases it). */
export function canBind(addr: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: addr, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}
