// Building blocks of the proxy benchmark (run.mjs and the repository's bench table): 4 real
// redis-servers, twemproxy over them, the minirs proxy process over them as a 4-shard database,
// and redis-benchmark runs. Every process started here is killed when the bench exits.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectControl } from '@minirs/common';
import { freePort } from '@minirs/common';

const exec = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const KEYSPACE = 100_000;
export const PASS = 'bench-internal';
const NUTCRACKER =
  process.env.NUTCRACKER || (existsSync('/usr/sbin/nutcracker') ? '/usr/sbin/nutcracker' : 'nutcracker');
const children = [];
const dir = mkdtempSync(join(tmpdir(), 'minirs-proxy-bench-'));

export function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

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

export async function startRedis(i) {
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

export async function startTwemproxy(shards) {
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

export async function startMinirs(shards) {
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

export async function ping(port, pass) {
  const args = ['-p', String(port), '--no-auth-warning'];
  if (pass) args.push('-a', pass);
  const { stdout } = await exec('redis-cli', [...args, 'PING']);
  if (!stdout.includes('PONG')) throw new Error(stdout.trim());
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** requests per second of each test in one redis-benchmark run. */
export async function bench(port, pass, pipeline, tests, n = 200_000, clients = 50) {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-c',
    String(clients),
    '-P',
    String(pipeline),
    '-n',
    String(n),
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
