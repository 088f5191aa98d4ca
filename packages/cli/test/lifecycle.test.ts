import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterPaths } from '@minirs/common';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isClusterProcess, pidAlive, waitForExit } from '@minirs/harness';
import { cli, shortTempDir } from './helpers.js';

/**
 * The process-table side of stop/list/delete, on a cluster folder laid out by hand around real
 * processes (node and redis-server), so "delete leaves nothing behind" holds even when the
 * manager is gone and only its pid files tell what ran.
 */

const home = shortTempDir('cli-life-');
const procs: ChildProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

function sleeper(env: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { env, stdio: 'ignore' });
  procs.push(p);
  return p;
}

async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

async function redisIn(dir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  const p = spawn(
    process.env.MINIRS_REDIS_SERVER || 'redis-server',
    // Port 0 and a unix socket: no TCP port to pick, and nothing reachable from outside.
    ['--port', '0', '--unixsocket', join(dir, 'r.sock'), '--dir', dir, '--save', '', '--appendonly', 'no'],
    { env, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  procs.push(p);
  // Ready once it says so; by then it has chdir'ed to --dir.
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after 10 s: ${out}`)), 10_000);
    p.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/ready to accept connections/i.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once('exit', () => reject(new Error(`redis-server exited: ${out}`)));
  });
  return p;
}

function layout(name: string) {
  const paths = clusterPaths(name, home);
  mkdirSync(paths.run, { recursive: true });
  writeFileSync(paths.state, JSON.stringify({ cluster: { nodes: [{ uid: 1 }, { uid: 2 }] }, bdbs: [] }));
  writeFileSync(
    paths.credentials,
    JSON.stringify({ username: 'u', password: 'p', api_url: 'https://127.0.0.1:1' }),
  );
  return paths;
}

describe('cluster list', () => {
  it('tells running, stopped and down (pid file of a dead manager) apart', async () => {
    const env = { ...process.env, MINIRS_HOME: home };
    const running = layout('l-run');
    const m = sleeper(env);
    writeFileSync(running.managerPid, String(m.pid));
    layout('l-stop');
    const down = layout('l-down');
    writeFileSync(down.managerPid, String(await deadPid()));

    const r = await cli(home, 'cluster', 'list', '--json');
    expect(r.code).toBe(0);
    const byName = Object.fromEntries(
      (JSON.parse(r.stdout) as { name: string; status: string; nodes: number }[]).map((c) => [c.name, c]),
    );
    expect(byName['l-run']).toMatchObject({ status: 'running', nodes: 2, api_url: 'https://127.0.0.1:1' });
    expect(byName['l-stop']).toMatchObject({ status: 'stopped' });
    expect(byName['l-down']).toMatchObject({ status: 'down' });
    const human = await cli(home, 'cluster', 'list');
    expect(human.stdout).toMatch(/l-down\s+manager down\s+2/);
    for (const n of ['l-run', 'l-stop', 'l-down']) rmSync(clusterPaths(n, home).dir, { recursive: true });
  });
});

describe('a pid is ours only if it belongs to the cluster', () => {
  it('by environment (MINIRS_HOME) or working directory, not merely by being node', async () => {
    const paths = layout('own');
    const owner = { dir: paths.dir, home };
    const ours = sleeper({ ...process.env, MINIRS_HOME: home });
    const stranger = sleeper({ ...process.env, MINIRS_HOME: '/somewhere/else' });
    const redis = await redisIn(join(paths.dir, 'data', 'shard-1'), { PATH: process.env.PATH });
    expect(isClusterProcess(ours.pid!, owner)).toBe(true);
    expect(isClusterProcess(stranger.pid!, owner)).toBe(false);
    expect(isClusterProcess(redis.pid!, owner)).toBe(true);
    expect(isClusterProcess(process.pid, owner)).toBe(false);
    expect(isClusterProcess(await deadPid(), owner)).toBe(false);
    rmSync(paths.dir, { recursive: true });
  });
});

describe('cluster stop', () => {
  it('SIGTERMs the manager, waits until it is gone and removes its pid file', async () => {
    const paths = layout('st');
    const m = sleeper({ ...process.env, MINIRS_HOME: home });
    writeFileSync(paths.managerPid, String(m.pid));
    const r = await cli(home, 'cluster', 'stop', 'st', '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ name: 'st', stopped: true, was_running: true });
    expect(pidAlive(m.pid!)).toBe(false);
    expect(existsSync(paths.managerPid)).toBe(false);
    const again = await cli(home, 'cluster', 'stop', 'st');
    expect(again).toEqual({ code: 0, stdout: 'Cluster st was not running.\n', stderr: '' });
    rmSync(paths.dir, { recursive: true });
  });
});

describe('cluster delete', () => {
  it('with the manager dead: kills every process its pid files name, spares strangers, removes the folder', async () => {
    const paths = layout('del');
    const env = { ...process.env, MINIRS_HOME: home };
    writeFileSync(paths.managerPid, String(await deadPid()));
    const shard = sleeper(env);
    const proxy = sleeper(env);
    const redis = await redisIn(join(paths.dir, 'data', 'shard-1'), { PATH: process.env.PATH });
    const stranger = sleeper({ ...process.env, MINIRS_HOME: '/elsewhere' });
    writeFileSync(paths.pidFile('shard-1'), String(shard.pid));
    writeFileSync(paths.pidFile('proxy-1'), String(proxy.pid));
    writeFileSync(paths.pidFile('redis-1'), String(redis.pid));
    // A recycled pid: the file names a process that is not the cluster's.
    writeFileSync(paths.pidFile('syncer-1'), String(stranger.pid));

    const r = await cli(home, 'cluster', 'delete', 'del', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { name: string; deleted: boolean; killed: number[] };
    expect(out.deleted).toBe(true);
    expect(out.killed.sort()).toEqual([shard.pid, proxy.pid, redis.pid].sort());
    expect(await waitForExit([shard.pid!, proxy.pid!, redis.pid!], 2000)).toEqual([]);
    expect(pidAlive(stranger.pid!)).toBe(true);
    expect(existsSync(paths.dir)).toBe(false);
  });
});

describe('cluster delete, processes without pid files', () => {
  it('kills what the process table ties to this cluster (spawned late, still writing into it), spares a sibling cluster', async () => {
    const paths = layout('late');
    const sibling = layout('late2'); // its folder name extends ours: not ours
    const config = (dir: string) => JSON.stringify({ logs: join(dir, 'logs'), name: 'proxy' });
    // A child the manager spawned after writing the pid files, and one that keeps writing files
    // into the folder while it is being removed (what made rmdir fail with ENOTEMPTY).
    const late = sleeper({ ...process.env, MINIRS_PROC_CONFIG: config(paths.dir) });
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');let i=0;setInterval(()=>{try{fs.mkdirSync(process.argv[1],{recursive:true});fs.writeFileSync(process.argv[1]+'/f'+(i++%50),'x')}catch{}},1)`,
        join(paths.dir, 'logs', 'deep'),
      ],
      { env: { ...process.env, MINIRS_PROC_CONFIG: config(paths.dir) }, stdio: 'ignore' },
    );
    procs.push(writer);
    const other = sleeper({ ...process.env, MINIRS_PROC_CONFIG: config(sibling.dir) });

    const r = await cli(home, 'cluster', 'delete', 'late', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { killed: number[] }).killed.sort()).toEqual(
      [late.pid, writer.pid].sort(),
    );
    expect(existsSync(paths.dir)).toBe(false);
    expect(pidAlive(other.pid!)).toBe(true);
    rmSync(sibling.dir, { recursive: true });
  });
});
