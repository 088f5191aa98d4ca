// Streaming: a load on the source (redis-benchmark at full rate, or the paced writer), and while
// it runs: end-to-end lag probes, the lag the syncer itself reports every 100 ms, and the
// syncer's memory. The load ends with a marker key; the time until the marker is readable at the
// destination is the catch-up, so replicated ops/s = ops / (load time + catch-up).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseInfo, percentile, procMemory, sleep, track } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PROBE_EVERY_MS = 100;
const WARM_UP_MS = 2000;

function summary(xs) {
  return {
    n: xs.length,
    p50: percentile(xs, 50),
    p99: percentile(xs, 99),
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}
const CATCH_UP_LIMIT_MS = Number(process.env.BENCH_CATCH_UP_LIMIT_MS ?? 300_000);

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('error', reject);
    p.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`)),
    );
  });
}

/** redis-benchmark at full rate: `n` requests of each of SET, INCR, LPUSH. */
export function redisBenchmarkLoad(port, n, clients = 50, pipeline = 16) {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'set,incr,lpush', '-P', String(pipeline)];
  args.push('-c', String(clients), '-n', String(n), '-r', '100000', '-d', '100', '-q');
  return {
    command: `redis-benchmark ${args.join(' ')}`,
    async run() {
      const t0 = performance.now();
      const out = await run('redis-benchmark', args);
      const ms = performance.now() - t0;
      // With -q the last line per test is "<TEST>: <rps> requests per second, p50=..."
      const perTest = [...out.matchAll(/(SET|INCR|LPUSH): ([\d.]+) requests per second/g)].map(
        (m) => `${m[1]} ${Math.round(Number(m[2]))}/s`,
      );
      return { ops: 3 * n, ms, detail: perTest.join(', ') };
    },
  };
}

/** The paced writer (paced-writer.mjs) at `rate` ops/s for `seconds`. */
export function pacedLoad(port, rate, seconds) {
  const script = join(here, 'paced-writer.mjs');
  return {
    command: `node bench/paced-writer.mjs ${port} ${rate} ${seconds}`,
    async run() {
      const out = await run(process.execPath, [script, String(port), String(rate), String(seconds)]);
      const r = JSON.parse(out.trim().split('\n').pop());
      return { ops: r.ops, ms: r.ms, detail: `paced ${Math.round(r.rate)} ops/s` };
    },
  };
}

/**
 * target: { dest (ioredis client of the destination endpoint), syncerPid, reportedLag() ->
 * ms | undefined, lagSamples() -> number[] }. src: ioredis client of the source.
 */
export async function measureStreaming(src, target, load) {
  let stop = false;
  const probeLags = [];
  const probeTimes = [];
  const t0 = performance.now();
  // How long a plain GET at the destination takes meanwhile: a stall there is not the syncer's.
  const getRtts = [];
  const reportedLags = [];
  let maxRss = 0;
  let seq = 0;
  const tag = `${process.pid}-${Date.now()}`;

  // End to end: a SET on the source, then the time until a GET at the destination sees it.
  const probes = (async () => {
    while (!stop) {
      const id = `${tag}-${++seq}`;
      const t = performance.now();
      await src.set('bench:probe', id);
      const tSet = performance.now();
      for (;;) {
        const tGet = performance.now();
        const got = await target.dest.get('bench:probe');
        getRtts.push(performance.now() - tGet);
        if (got === id) {
          probeLags.push(performance.now() - tSet);
          probeTimes.push(tSet - t0);
          break;
        }
        if (stop || performance.now() - tSet > CATCH_UP_LIMIT_MS) break;
        await sleep(1);
      }
      const wait = PROBE_EVERY_MS - (performance.now() - t);
      if (wait > 0) await sleep(wait);
    }
  })();
  const samplers = (async () => {
    while (!stop) {
      const t = performance.now();
      try {
        maxRss = Math.max(maxRss, procMemory(target.syncerPid).rss);
      } catch {
        // the syncer is gone; the bench fails on the marker below
      }
      const lag = await target.reportedLag().catch(() => undefined);
      if (typeof lag === 'number') reportedLags.push(lag);
      const wait = 100 - (performance.now() - t);
      if (wait > 0) await sleep(wait);
    }
  })();

  let result;
  try {
    const l = await load.run();
    const tEnd = performance.now();
    const repl = parseInfo(await src.info('replication'));
    const behindBytes =
      Number(repl.master_repl_offset) - Number(/offset=(\d+)/.exec(repl.slave0 ?? '')?.[1] ?? Number.NaN);
    const marker = `marker-${tag}-${l.ops}`;
    await src.set('bench:marker', marker);
    for (;;) {
      if ((await target.dest.get('bench:marker')) === marker) break;
      if (performance.now() - tEnd > CATCH_UP_LIMIT_MS)
        throw new Error(`the destination did not catch up within ${CATCH_UP_LIMIT_MS} ms`);
      await sleep(2);
    }
    const catchUpMs = performance.now() - tEnd;
    const sourceRate = l.ops / (l.ms / 1000);
    const replicatedRate = l.ops / ((l.ms + catchUpMs) / 1000);
    result = {
      command: load.command,
      detail: l.detail,
      ops: l.ops,
      loadMs: l.ms,
      catchUpMs,
      behindBytes,
      sourceRate,
      replicatedRate,
      ratio: replicatedRate / sourceRate,
    };
  } finally {
    stop = true;
    await Promise.all([probes, samplers]);
  }
  const samples = await target.lagSamples().catch(() => []);
  const usage = await target.peakUsage?.().catch(() => undefined);
  let hwm = Number.NaN;
  try {
    hwm = procMemory(target.syncerPid).hwm;
  } catch {
    // gone
  }
  return {
    ...result,
    probe: summary(probeLags),
    // JIT and heap warm-up of the streaming path (in the syncer, the proxy, the shard) shows as
    // stalls in the first second or two after the full sync; "steady" leaves them out.
    steady: summary(probeLags.filter((_, i) => probeTimes[i] >= WARM_UP_MS)),
    destGet: summary(getRtts),
    reported: {
      n: reportedLags.length,
      p50: percentile(reportedLags, 50),
      p99: percentile(reportedLags, 99),
    },
    syncerSamples: { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99) },
    maxRss,
    hwm,
    usage,
  };
}
