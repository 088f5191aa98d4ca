import { describe, expect, it } from 'vitest';
import {
  keyspaceKeys,
  parseInfo,
  parseRedisVersion,
  parseShardConfig,
  quoteConfValue,
  renderRedisConf,
  statsFromInfo,
} from '../src/index.js';

const INFO = [
  '# Server',
  'redis_version:7.0.15',
  'process_id:4242',
  'uptime_in_seconds:17',
  '',
  '# Clients',
  'connected_clients:3',
  '# Memory',
  'used_memory:1048576',
  'maxmemory:67108864',
  '# Stats',
  'total_commands_processed:991',
  'instantaneous_ops_per_sec:12',
  '# Keyspace',
  'db0:keys=5,expires=1,avg_ttl=100',
  'db3:keys=2,expires=0,avg_ttl=0',
  '',
].join('\r\n');

const VALID = {
  cluster: 'c',
  uid: 1,
  bdb_uid: 1,
  addr: '127.0.0.1',
  port: 12001,
  password: 'pw',
  maxmemory: 1024,
  data_dir: '/tmp/d',
  socket: '/tmp/s.sock',
  log_file: '/tmp/l.log',
  redis_log_file: '/tmp/r.log',
  redis_pid_file: '/tmp/r.pid',
  redis_server: '/usr/bin/redis-server',
};

describe('INFO parsing', () => {
  it('maps INFO onto ShardStats, summing keys over every db', () => {
    expect(statsFromInfo(INFO)).toEqual({
      used_memory: 1048576,
      maxmemory: 67108864,
      keys: 7,
      ops_per_sec: 12,
      total_commands: 991,
      connected_clients: 3,
      redis_pid: 4242,
      uptime_sec: 17,
    });
  });

  it('reads an empty keyspace as zero keys', () => {
    expect(keyspaceKeys(parseInfo('# Keyspace\r\n'))).toBe(0);
  });
});

describe('redis-server version', () => {
  it('parses --version output', () => {
    expect(parseRedisVersion('Redis server v=7.2.4 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64')).toEqual({
      version: '7.2.4',
      major: 7,
      minor: 2,
    });
    expect(parseRedisVersion('Redis server v=6.0.16 sha=0')?.major).toBe(6);
    expect(parseRedisVersion('something else')).toBeUndefined();
  });
});

describe('redis.conf', () => {
  it('quotes values so quotes and backslashes survive', () => {
    expect(quoteConfValue('a"b\\c d')).toBe('"a\\"b\\\\c d"');
  });

  it('renders no persistence, noeviction and the password for clients and replication', () => {
    const conf = renderRedisConf(parseShardConfig(JSON.stringify(VALID)));
    for (const line of [
      'bind 127.0.0.1',
      'port 12001',
      'requirepass "pw"',
      'masterauth "pw"',
      'maxmemory 1024',
      'maxmemory-policy noeviction',
      'save ""',
      'appendonly no',
      'repl-diskless-sync no',
      'enable-debug-command local',
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
  });
});

describe('shard config', () => {
  it('accepts a complete config', () => {
    expect(parseShardConfig(JSON.stringify(VALID))).toEqual(VALID);
  });

  it.each([
    ['unset', undefined, 'MINIRS_PROC_CONFIG'],
    ['not JSON', '{uid:', 'MINIRS_PROC_CONFIG'],
    ['an array', '[]', 'MINIRS_PROC_CONFIG'],
    ['missing port', JSON.stringify({ ...VALID, port: undefined }), 'port'],
    ['port out of range', JSON.stringify({ ...VALID, port: 70000 }), 'port'],
    ['maxmemory 0 (no limit in Redis)', JSON.stringify({ ...VALID, maxmemory: 0 }), 'maxmemory'],
    ['empty password', JSON.stringify({ ...VALID, password: '' }), 'password'],
    ['newline in a path', JSON.stringify({ ...VALID, data_dir: '/tmp/a\nsave 60 1' }), 'data_dir'],
    ['uid not an integer', JSON.stringify({ ...VALID, uid: 1.5 }), 'uid'],
    ['socket path too long', JSON.stringify({ ...VALID, socket: `/tmp/${'s'.repeat(120)}` }), 'socket'],
  ])('rejects %s, naming the field', (_name, raw, field) => {
    let caught: unknown;
    try {
      parseShardConfig(raw);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'MINIRS_ERR_INVALID_ARGUMENT', field });
    expect((caught as Error).message).toContain(field);
  });
});
