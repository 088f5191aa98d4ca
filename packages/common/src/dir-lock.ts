import { mkdirSync, rmSync, statSync } from 'node:fs';

/**
 * Runs `fn` holding the machine-wide lock `lock`, an exclusive mkdir (synchronous: what it guards
 * is a few file or `ip` operations). A lock older than `staleMs` is a crashed holder's and is
 * broken; after `waitMs` without it, `timeoutError()` is thrown.
 */
export function withDirLock<T>(
  lock: string,
  o: { staleMs: number; waitMs: number; timeoutError: () => Error },
  fn: () => T,
): T {
  const deadline = Date.now() + o.waitMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > o.staleMs) rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw o.timeoutError();
      Atomics.wait(pause, 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
