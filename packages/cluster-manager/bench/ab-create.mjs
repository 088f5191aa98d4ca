// A/B of `cluster create` (3 nodes) + `db create --shards 4` until the endpoint answers PING:
// two builds of minirs (BENCH_A, default /work/main; BENCH_B, this checkout) interleaved, ROUNDS
// (3) rounds, medians; B also without the key pool (MINIRS_KEY_POOL=off). Wall times on a busy
// machine only compare within one run. Usage: node bench/ab-create.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@minirs/common';

const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const A = process.env.BENCH_A || '/work/main';
const B = process.env.BENCH_B || HERE;
const ROOTS = { a: A, b: B, 'b-nopool': B };
const ROUNDS = Number(process.env.ROUNDS ?? 3);
function ping(host, port) {
  return new Promise((res) => {
    const s = createConnection({ host, port });
    let b = '';
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      b += d;
      if (b.includes('+PONG')) {
        s.destroy();
        res(true);
      }
    });
    s.on('error', () => res(false));
    setTimeout(() => {
      s.destroy();
      res(false);
    }, 500);
  });
}
async function one(variant, i) {
  const home = mkdtempSync('/tmp/perf-ab-');
  const env = {
    ...process.env,
    MINIRS_HOME: home,
    ...(variant === 'b-nopool' ? { MINIRS_KEY_POOL: 'off' } : {}),
  };
  const cli = `${ROOTS[variant]}/packages/cli/dist/main.js`;
  const run = (...a) => {
    const r = spawnSync(process.execPath, [cli, ...a], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout;
  };
  const name = `ab${process.pid}x${i}${variant.length}`;
  try {
    const t0 = performance.now();
    run('cluster', 'create', name, '--nodes', '3', '--api-port', String(await freePort()), '--json');
    const t1 = performance.now();
    const bdb = JSON.parse(run('db', 'create', name, 'db', '--shards', '4', '--json'));
    const t2 = performance.now();
    const ep = bdb.endpoints[0];
    while (!(await ping(ep.addr[0], ep.port ?? bdb.port))) await new Promise((r) => setTimeout(r, 5));
    const t3 = performance.now();
    return { create: t1 - t0, db: t2 - t1, total: t3 - t0 };
  } finally {
    spawnSync(process.execPath, [cli, 'cluster', 'delete', name], { env });
    rmSync(home, { recursive: true, force: true });
  }
}
const res = {};
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
const { refillKeyPool } = await import(`${B}/packages/common/dist/pki.js`);
console.log(`a = ${A}, b = ${B}`);
for (let i = 0; i < ROUNDS; i++)
  for (const v of Object.keys(ROOTS)) {
    if (v === 'b') await refillKeyPool();
    const r = await one(v, i);
    res[v] ??= [];
    res[v].push(r);
    console.log(
      `${v.padEnd(12)} create ${(r.create / 1000).toFixed(2)} s  db ${(r.db / 1000).toFixed(2)} s  total ${(r.total / 1000).toFixed(2)} s  (load ${loadavg()[0].toFixed(1)})`,
    );
  }
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [v, rs] of Object.entries(res))
  console.log(
    `median ${v.padEnd(12)} create ${(med(rs.map((r) => r.create)) / 1000).toFixed(2)} s  db ${(med(rs.map((r) => r.db)) / 1000).toFixed(2)} s  total ${(med(rs.map((r) => r.total)) / 1000).toFixed(2)} s`,
  );
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
process.exit(0);
