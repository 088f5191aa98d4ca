#!/usr/bin/env node
// Proxy benchmark: redis-benchmark against one redis-server, against twemproxy over 4 shards,
// and against the minirs proxy over a 4-shard database, all in one run on the same 4
// redis-servers, printing each figure and the ratios the issue sets goals for:
//   -P 16: minirs >= 1.0x twemproxy;  -P 1: minirs >= 1.0x straight redis-server.
// Bounded: -n 200000 per run (BENCH_N to change). Needs redis-server, redis-benchmark and
// nutcracker (/usr/sbin/nutcracker or NUTCRACKER). Results also go to bench/results/.
// BENCH_PROFILE=<dir> runs the minirs proxy with --cpu-prof into <dir> (the "why" of a miss).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectControl } from '@minirs/common';

const exec = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_N) || 200_000;
// The machine is shared: each figure is the median of ROUNDS runs, targets interleaved.
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 3;
const ONLY = (process.env.BENCH_TARGETS || 'direct,twemproxy,minirs').split(',');
const KEYSPACE = 100_000;
const PASS = 'bench-internal';
const NUTCRACKER =
  process.env.NUTCRACKER || (existsSync('/usr/sbin/nutcracker') ? '/usr/sbin/nutcracker' : 'nutcracker');
const children = [];
const dir = mkdtempSync(join(tmpdir(), 'minirs-proxy-bench-'));

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${err.message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function startRedis(i) {
  const port = await freePort();
  const d = join(dir, `redis${i}`);
  mkdirSync(d);
  const p = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      d,
      '--save',
      '',
      '--appendonly',
      'no',
      '--requirepass',
      PASS,
      '--logfile',
      join(d, 'log'),
    ],
    { stdio: 'ignore' },
  );
  children.push(p);
  await waitFor(
    () =>
      exec('redis-cli', ['-p', String(port), '-a', PASS, '--no-auth-warning', 'PING']).then(({ stdout }) => {
        if (!stdout.includes('PONG')) throw new Error(stdout);
      }),
    `redis-server on ${port}`,
  );
  return port;
}

async function startTwemproxy(shards) {
  const port = await freePort();
  const statsPort = await freePort();
  const conf = join(dir, 'nutcracker.yml');
  writeFileSync(
    conf,
    [
      'minirs:',
      `  listen: 127.0.0.1:${port}`,
      '  hash: crc16',
      '  distribution: modula',
      '  redis: true',
      `  redis_auth: ${PASS}`,
      '  auto_eject_hosts: false',
      '  server_connections: 1',
      '  servers:',
      ...shards.map((p, i) => `    - 127.0.0.1:${p}:1 shard${i}`),
      '',
    ].join('\n'),
  );
  const p = spawn(NUTCRACKER, ['-c', conf, '-s', String(statsPort), '-o', join(dir, 'nutcracker.log')], {
    stdio: 'ignore',
  });
  children.push(p);
  await waitFor(() => ping(port, PASS), 'twemproxy');
  return { port, pid: p.pid };
}

async function startMinirs(shards) {
  const socket = join(dir, 'proxy.sock');
  const config = {
    cluster: 'bench',
    node_uid: 1,
    addr: '127.0.0.1',
    socket,
    log_file: join(dir, 'proxy.log'),
    internal_password: PASS,
    tls_cert: '',
    tls_key: '',
    ca_cert: '',
  };
  const prof = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  const p = spawn(process.execPath, [...prof, join(here, '../dist/main.js')], {
    env: { ...process.env, MINIRS_PROC_CONFIG: JSON.stringify(config) },
    stdio: 'ignore',
  });
  children.push(p);
  const control = await waitFor(() => connectControl(socket, undefined, 500), 'minirs proxy control socket');
  const port = await freePort();
  const n = shards.length;
  control.send({
    type: 'config',
    config: {
      dbs: [
        {
          uid: 1,
          name: 'bench',
          port,
          redis_pass: '',
          admin_pass: 'x',
          sharding: true,
          shard_key_regex: [{ regex: '.*\\{(?<tag>.*)\\}.*' }, { regex: '(?<tag>.*)' }],
          tls_mode: 'disabled',
          enforce_client_authentication: 'disabled',
          client_certs: [],
          shards: shards.map((sp, i) => ({
            uid: i + 1,
            host: '127.0.0.1',
            port: sp,
            slot_start: Math.floor((i * 16384) / n),
            slot_end: Math.floor(((i + 1) * 16384) / n) - 1,
            status: 'active',
          })),
        },
      ],
    },
  });
  await waitFor(() => ping(port), 'minirs endpoint');
  return { port, control, proc: p };
}

async function ping(port, pass) {
  const args = ['-p', String(port), '--no-auth-warning'];
  if (pass) args.push('-a', pass);
  const { stdout } = await exec('redis-cli', [...args, 'PING']);
  if (!stdout.includes('PONG')) throw new Error(stdout.trim());
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** requests per second of each test in one redis-benchmark run. */
async function bench(port, pass, pipeline, tests) {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-c',
    '50',
    '-P',
    String(pipeline),
    '-n',
    String(N),
    '-r',
    String(KEYSPACE),
    '--csv',
  ];
  if (pass) args.push('-a', pass);
  args.push(...tests);
  const { stdout } = await exec('redis-benchmark', args, { maxBuffer: 1 << 20 });
  const out = {};
  for (const line of stdout.trim().split('\n').slice(1)) {
    const [name, rps] = line.split(',').map((s) => s.replace(/"/g, ''));
    out[name] = Number(rps);
  }
  return out;
}

const MGET10 = ['MGET', ...Array.from({ length: 10 }, () => 'key:__rand_int__')];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const shards = await Promise.all([0, 1, 2, 3].map(startRedis));
  const twem = await startTwemproxy(shards);
  const minirs = await startMinirs(shards);
  const targets = [
    { key: 'direct', name: 'redis-server (1 shard, direct)', port: shards[0], pass: PASS, pid: null },
    { key: 'twemproxy', name: 'twemproxy (4 shards)', port: twem.port, pass: PASS, pid: twem.pid },
    { key: 'minirs', name: 'minirs proxy (4 shards)', port: minirs.port, pass: '', pid: minirs.proc.pid },
  ].filter((t) => ONLY.includes(t.key));
  const runs = [
    { label: 'SET -P 16', P: 16, tests: ['-t', 'set'] },
    { label: 'GET -P 16', P: 16, tests: ['-t', 'get'] },
    { label: 'SET -P 1', P: 1, tests: ['-t', 'set'] },
    { label: 'GET -P 1', P: 1, tests: ['-t', 'get'] },
    { label: 'MGET 10 keys -P 1', P: 1, tests: MGET10 },
  ];
  // samples[target][label] = { rps: [], cpu: [] } (cpu: proxy process CPU microseconds per request)
  const samples = {};
  for (const t of targets)
    samples[t.key] = Object.fromEntries(runs.map((r) => [r.label, { rps: [], cpu: [] }]));
  // Warm up every target (JIT, connections, key space) before measuring.
  for (const t of targets) await bench(t.port, t.pass, 16, ['-t', 'set,get']);
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runs) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const before = t.pid ? cpuSeconds(t.pid) : 0;
        const rps = Object.values(await bench(t.port, t.pass, r.P, r.tests))[0];
        const cpu = t.pid ? ((cpuSeconds(t.pid) - before) * 1e6) / N : 0;
        samples[t.key][r.label].rps.push(rps);
        samples[t.key][r.label].cpu.push(cpu);
      }
    }
    process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  const results = {};
  for (const t of targets) {
    results[t.key] = Object.fromEntries(
      runs.map((r) => [
        r.label,
        { rps: median(samples[t.key][r.label].rps), cpu_us_per_req: median(samples[t.key][r.label].cpu) },
      ]),
    );
  }
  const pad = (s, n) => String(s).padEnd(n);
  const fmt = (x) => (x === undefined ? '-' : Math.round(x));
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
  const get = (k, label) => results[k]?.[label]?.rps;
  console.log(
    `\nredis-benchmark -c 50 -n ${N} -r ${KEYSPACE}, requests/s, median of ${ROUNDS} interleaved rounds`,
  );
  console.log(
    `${pad('test', 20)}${pad('direct', 10)}${pad('twemproxy', 11)}${pad('minirs', 10)}${pad('minirs/twem', 13)}${pad('minirs/direct', 15)}CPU us/req twem | minirs`,
  );
  for (const r of runs) {
    const l = r.label;
    console.log(
      `${pad(l, 20)}${pad(fmt(get('direct', l)), 10)}${pad(fmt(get('twemproxy', l)), 11)}${pad(fmt(get('minirs', l)), 10)}` +
        `${pad(ratio(get('minirs', l), get('twemproxy', l)), 13)}${pad(ratio(get('minirs', l), get('direct', l)), 15)}` +
        `${results.twemproxy?.[l]?.cpu_us_per_req?.toFixed(1) ?? '-'} | ${results.minirs?.[l]?.cpu_us_per_req?.toFixed(1) ?? '-'}`,
    );
  }
  const goals = [
    ['SET -P 16: minirs >= twemproxy', get('minirs', 'SET -P 16') / get('twemproxy', 'SET -P 16')],
    ['GET -P 16: minirs >= twemproxy', get('minirs', 'GET -P 16') / get('twemproxy', 'GET -P 16')],
    ['SET -P 1: minirs >= direct redis', get('minirs', 'SET -P 1') / get('direct', 'SET -P 1')],
    ['GET -P 1: minirs >= direct redis', get('minirs', 'GET -P 1') / get('direct', 'GET -P 1')],
  ];
  console.log('\ngoals');
  for (const [g, x] of goals)
    console.log(`${pad(g, 36)}${Number.isFinite(x) ? `${x.toFixed(2)}x ${x >= 1 ? 'met' : 'MISSED'}` : '-'}`);
  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    JSON.stringify({ n: N, rounds: ROUNDS, results, samples, goals }, null, 2),
  );
  // A clean exit, so a --cpu-prof profile gets written.
  const exited = new Promise((r) => minirs.proc.once('exit', r));
  minirs.proc.kill('SIGTERM');
  await exited;
  minirs.control.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
