import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeCommand } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';

const exec = promisify(execFile);

describe('redis-cli and redis-benchmark against the endpoint', () => {
  let bed: StartedProxyTestBed;
  let port: string;
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(4).start();
    port = String((await bed.addDb({ redis_pass: 'cli-pass' })).port);
  });
  afterAll(async () => {
    await bed?.stop();
  });

  const cli = async (...args: string[]) =>
    (await exec('redis-cli', ['-p', port, '-a', 'cli-pass', '--no-auth-warning', ...args])).stdout;

  it('runs commands and reads every reply type', async () => {
    expect(await cli('SET', 'cli:a', 'hello')).toBe('OK\n');
    expect(await cli('GET', 'cli:a')).toBe('hello\n');
    expect(await cli('RPUSH', 'cli:l', 'x', 'y')).toBe('2\n');
    expect(await cli('LRANGE', 'cli:l', '0', '-1')).toBe('x\ny\n');
    expect(await cli('MGET', 'cli:a', 'cli:none')).toBe('hello\n\n');
    expect(await cli('-3', 'HSET', 'cli:h', 'f', 'v')).toBe('1\n');
    // A RESP3 map: redis-cli prints key and value on one line.
    expect(await cli('-3', 'HGETALL', 'cli:h')).toBe('f v\n');
  });

  it('pipes 10,000 commands with --pipe', async () => {
    const input = Buffer.concat(
      Array.from({ length: 10_000 }, (_, i) => encodeCommand(['SET', `pipe:${i}`, String(i)])),
    );
    const child = execFile('redis-cli', ['-p', port, '-a', 'cli-pass', '--no-auth-warning', '--pipe']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stdin!.end(input);
    await new Promise<void>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(out)))),
    );
    expect(out).toMatch(/errors: 0, replies: 10000/);
    expect(await cli('GET', 'pipe:9999')).toBe('9999\n');
  });

  it('walks every shard with --scan', async () => {
    const keys = (await cli('--scan', '--pattern', 'pipe:*')).trim().split('\n');
    expect(new Set(keys).size).toBe(10_000);
  });

  it('serves redis-benchmark', async () => {
    const { stdout } = await exec('redis-benchmark', [
      '-p',
      port,
      '-a',
      'cli-pass',
      '-t',
      'set,get,mset',
      '-n',
      '2000',
      '-c',
      '20',
      '-P',
      '8',
      '-q',
    ]);
    expect(stdout).toMatch(/SET: .*requests per second/);
    expect(stdout).toMatch(/GET: .*requests per second/);
    expect(stdout).toMatch(/MSET \(10 keys\): .*requests per second/);
  });
});
