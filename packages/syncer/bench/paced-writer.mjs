// A writer at a fixed rate (redis-benchmark has no rate limit): every 5 ms it sends, in one
// pipeline, the SET / INCR / LPUSH commands owed since the start, so short stalls are made up
// and the long-run rate is exact. Bounded by time and count. Runs in its own process so the
// bench's lag probes do not share its event loop.
// argv: <port> <ops per second> <seconds>; prints one JSON line: {ops, ms, rate}.
import { Redis } from 'ioredis';

const [port, rate, seconds] = process.argv.slice(2).map(Number);
const total = Math.round(rate * seconds);
const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
const value = 'v'.repeat(100);
let sent = 0;
const t0 = performance.now();
const pending = [];
while (sent < total) {
  const owed = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
  if (owed > sent) {
    const p = c.pipeline();
    for (; sent < owed; sent++) {
      const k = sent % 3;
      if (k === 0) p.set(`paced:key:${sent % 100_000}`, value);
      else if (k === 1) p.incr(`paced:counter:${sent % 1000}`);
      else p.lpush(`paced:list:${sent % 100}`, value);
    }
    pending.push(p.exec());
    if (pending.length > 64) await Promise.all(pending.splice(0, 32));
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(pending);
const ms = performance.now() - t0;
c.disconnect();
process.stdout.write(`${JSON.stringify({ ops: sent, ms, rate: sent / (ms / 1000) })}\n`);
