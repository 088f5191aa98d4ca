import { createServer } from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago (the OS picks it: listen on port 0, close).
 * For test servers, the demo's external redis-server and container port maps; another process
 * may take it before it is used, so a caller that binds it retries on EADDRINUSE where it matters.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
