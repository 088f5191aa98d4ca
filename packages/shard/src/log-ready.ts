import type { EventEmitter } from 'node:events';
import type { Logger } from '@minirs/common';

/**
 * pino's file destination opens its file asynchronously, and pino flushes it synchronously at
 * process exit, which throws "sonic boom is not ready yet" when the file is not open: a shard
 * that fails fast (bad port, missing binary) would then exit 1 with that instead of 2 with its
 * reason. Waiting for the destination's 'ready' once at startup closes that window.
 */
export async function loggerReady(log: Logger, timeoutMs = 2000): Promise<void> {
  // The destination is on a private pino symbol; found by description so no pino import is needed.
  const sym = Object.getOwnPropertySymbols(log).find((s) => s.description === 'pino.stream');
  const stream = sym ? (log as unknown as Record<symbol, unknown>)[sym] : undefined;
  const boom = stream as (EventEmitter & { fd?: number }) | undefined;
  if (!boom || typeof boom.once !== 'function' || typeof boom.fd !== 'number' || boom.fd >= 0) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`log file did not open within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onReady = () => done();
    const onError = (err: Error) => done(err);
    function done(err?: Error) {
      clearTimeout(timer);
      boom!.off('ready', onReady);
      boom!.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    boom.once('ready', onReady);
    boom.once('error', onError);
  });
}
