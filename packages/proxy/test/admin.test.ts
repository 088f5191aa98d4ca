import { ErrorReply, SimpleString } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

describe('replication links for AUTH admin clients', () => {
  let bed: StartedProxyTestBed;
  let db: Awaited<ReturnType<StartedProxyTestBed['addDb']>>;
  const raws: RawClient[] = [];
  const raw = async () => {
    const r = await RawClient.connect(db.port);
    raws.push(r);
    return r;
  };
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(3).start();
    db = await bed.addDb({ redis_pass: 'user-pass', admin_pass: 'admin-pass' });
  });
  afterAll(async () => {
    for (const r of raws) r.close();
    await bed?.stop();
  });

  it('lists the shards to an admin and refuses ordinary clients', async () => {
    const user = await raw();
    await user.call('AUTH', 'user-pass');
    expect(((await user.call('MINIRS.SHARDS')) as ErrorReply).message).toMatch(/^NOPERM/);
    expect(((await user.call('MINIRS.LINK', '100')) as ErrorReply).message).toMatch(/^NOPERM/);
    const admin = await raw();
    expect(await admin.call('AUTH', 'admin', 'wrong')).toBeInstanceOf(ErrorReply);
    expect(await admin.call('AUTH', 'admin', 'admin-pass')).toEqual(new SimpleString('OK'));
    expect(await admin.call('MINIRS.SHARDS')).toEqual([
      [100, 0, 5460],
      [101, 5461, 10921],
      [102, 10922, 16383],
    ]);
    expect(((await admin.call('MINIRS.LINK', '999')) as ErrorReply).message).toMatch(/no shard 999/);
  });

  it('turns the connection into a raw pipe to one shard, where PSYNC works', async () => {
    await bed.shardClient(1).set('only-on-101', 'v');
    const admin = await raw();
    await admin.call('AUTH', 'admin', 'admin-pass');
    // Pipelined right behind MINIRS.LINK: these bytes must reach the shard, after the switch.
    admin.write('*2\r\n$11\r\nMINIRS.LINK\r\n$3\r\n101\r\n*2\r\n$3\r\nGET\r\n$11\r\nonly-on-101\r\n');
    expect(await admin.value()).toEqual(new SimpleString('OK'));
    expect(await admin.value()).toBe('v');
    // Now speak the replica protocol: the shard answers FULLRESYNC and streams its RDB.
    admin.socket.removeAllListeners('data');
    const bytes: Buffer[] = [];
    admin.socket.on('data', (b: Buffer) => bytes.push(b));
    // Redis refuses PSYNC while a reply is pending, so wait for REPLCONF's before sending it.
    admin.write('*3\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n');
    await expect.poll(() => Buffer.concat(bytes).toString('latin1')).toBe('+OK\r\n');
    admin.write('*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n');
    await expect
      .poll(() => Buffer.concat(bytes).toString('latin1'), { timeout: 10_000 })
      .toMatch(/^\+OK\r\n\+FULLRESYNC [0-9a-f]{40} \d+\r\n(\n)*\$\d+\r\nREDIS/);
    const text = Buffer.concat(bytes).toString('latin1');
    expect(text).toContain('only-on-101');
    const info = await bed.shardClient(1).info('replication');
    expect(info).toMatch(/connected_slaves:1/);
  });
});
