// The syncer alone, in its own process so its peak RSS (VmHWM) is its own: ReplicaOfSync from
// dist/, driven over IPC by the bench. Messages in: {type:'go', config}, {type:'exit'};
// {type:'report'}; out: {type:'ready', mem}, {type:'in-sync', ms, report, mem}, {type:'report', report},
// {type:'stopped', error}.
// Run under `node --cpu-prof` (BENCH_CPU_PROF) to see where the syncer's time goes.
import { createLogger } from '@minirs/common';
// BENCH_SYNCER_DIST: another build's replica-of.js (e.g. main's, to compare with today's syncer).
const { ReplicaOfSync } = await import(process.env.BENCH_SYNCER_DIST ?? '../dist/replica-of.js');
import { procMemory } from './proc.mjs';

const log = createLogger({
  name: 'syncer-bench',
  level: process.env.BENCH_SYNCER_LOG_LEVEL ?? 'warn',
  file: process.env.BENCH_SYNCER_LOG ?? '/dev/null',
});
let stopError;
const sync = new ReplicaOfSync({ log, onStop: (_uid, error) => (stopError = error) });
// Where the RSS goes: the largest JS heap and Buffer (arrayBuffers) figures seen, every 100 ms
// (memoryUsage() costs about half a millisecond: sampling more often shows in the profile).
const peakUsage = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
setInterval(() => {
  const u = process.memoryUsage();
  for (const k of Object.keys(peakUsage)) peakUsage[k] = Math.max(peakUsage[k], u[k]);
}, 100).unref();
// BENCH_MEMORY_TRACE=1: one line per 500 ms on stderr (rss / heap used of heap total / Buffers / external, MB).
if (process.env.BENCH_MEMORY_TRACE) {
  setInterval(() => {
    const u = process.memoryUsage();
    const f = (b) => (b / 1048576).toFixed(0);
    process.stderr.write(
      `syncer memory: rss ${f(u.rss)} heap ${f(u.heapUsed)} of ${f(u.heapTotal)} buffers ${f(u.arrayBuffers)} external ${f(u.external)}\n`,
    );
  }, Number(process.env.BENCH_MEMORY_TRACE) || 500).unref();
}
const DEADLINE_MS = Number(process.env.BENCH_SYNC_TIMEOUT_MS ?? 600_000);

process.on('message', async (m) => {
  if (m.type === 'go') {
    const t0 = performance.now();
    sync.apply(m.config);
    for (;;) {
      if (stopError) {
        process.send({ type: 'stopped', error: stopError });
        return;
      }
      const rep = sync.report();
      if (rep.sources.length > 0 && rep.sources.every((s) => s.status === 'in-sync')) {
        process.send({
          type: 'in-sync',
          ms: performance.now() - t0,
          report: rep,
          mem: procMemory(process.pid),
          peakUsage,
        });
        return;
      }
      if (performance.now() - t0 > DEADLINE_MS) {
        process.send({ type: 'stopped', error: `not in sync after ${DEADLINE_MS} ms` });
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  } else if (m.type === 'report') {
    process.send({ type: 'report', report: sync.report(), peakUsage });
  } else if (m.type === 'exit') {
    await sync.closeAll().catch(() => {});
    log.flush();
    process.exit(0);
  }
});
process.send({ type: 'ready', mem: procMemory(process.pid) });
