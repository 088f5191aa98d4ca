/**
 * A coarse clock for the hot path: commands are stamped with `clock.now` (updated every
 * TICK_MS) instead of calling Date.now() per command; timeouts are checked on the same tick.
 */
export const TICK_MS = 50;

export const clock = { now: Date.now() };

type Ticker = (now: number) => void;
const tickers = new Set<Ticker>();
let timer: NodeJS.Timeout | null = null;

function tick(): void {
  clock.now = Date.now();
  for (const t of tickers) t(clock.now);
}

/** Run `fn` every tick until the returned function is called. */
export function onTick(fn: Ticker): () => void {
  tickers.add(fn);
  if (!timer) {
    timer = setInterval(tick, TICK_MS);
    timer.unref();
  }
  return () => {
    tickers.delete(fn);
    if (tickers.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}
