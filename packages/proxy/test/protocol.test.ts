import { ErrorReply, SimpleString } from '@minirs/resp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';
import { RawClient } from './raw-client.js';

describe('endpoint protocol: what the proxy answers itself', () => {
  let bed: StartedProxyTestBed;
  let open: Awaited<ReturnType<StartedProxyTestBed['addDb']>>;
  let locked: typeof open;
  const raws: RawClient[] = [];
  const connect = async (db: typeof open) => {
    const r = await RawClient.connect(db.port);
    raws.push(r);
    return r;
  };
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(2).start();
    open = await bed.addDb();
    locked = await bed.addDb({ redis_pass: 's3cret', admin_pass: 'adm' });
  });
  afterAll(async () => {
    for (const r of raws) r.close();
    await bed?.stop();
  });

  it('lets anyone in when the database has no password', async () => {
    const r = await connect(open);
    expect(await r.call('PING')).toEqual(new SimpleString('PONG'));
    expect(await r.call('PING', 'hi')).toBe('hi');
    expect(await r.call('ECHO', 'x y')).toBe('x y');
    expect(await r.call('AUTH', 'x')).toEqual(
      new ErrorReply(
        'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
      ),
    );
    expect(await r.call('AUTH', 'default', 'anything')).toEqual(new SimpleString('OK'));
  });

  it('requires AUTH <pass> or AUTH default <pass> when it has one', async () => {
    const r = await connect(locked);
    expect(await r.call('GET', 'k')).toEqual(new ErrorReply('NOAUTH Authentication required.'));
    expect(await r.call('AUTH', 'wrong')).toEqual(
      new ErrorReply('WRONGPASS invalid username-password pair or user is disabled.'),
    );
    expect(await r.call('AUTH', 'bob', 's3cret')).toBeInstanceOf(ErrorReply);
    expect(await r.call('AUTH', 's3cret')).toEqual(new SimpleString('OK'));
    expect(await r.call('SET', 'k', 'v')).toEqual(new SimpleString('OK'));
    const r2 = await connect(locked);
    expect(await r2.call('AUTH', 'default', 's3cret')).toEqual(new SimpleString('OK'));
    expect(await r2.call('GET', 'k')).toBe('v');
  });

  it('speaks RESP3 after HELLO 3 (with AUTH in the same command)', async () => {
    const r = await connect(locked);
    const hello = await r.call('HELLO', '3', 'AUTH', 'default', 's3cret', 'SETNAME', 'app1');
    expect(hello).toBeInstanceOf(Map);
    const m = hello as Map<unknown, unknown>;
    expect(m.get('proto')).toBe(3);
    expect(m.get('server')).toBe('redis');
    expect(String(m.get('version'))).toMatch(/^\d+\.\d+/);
    await r.call('DEL', 'h');
    await r.call('HSET', 'h', 'a', '1', 'b', '2');
    // A map from a RESP3 shard link, not the flat array a RESP2 link would give.
    expect(await r.raw('HGETALL', 'h')).toMatch(/^%2\r\n/);
    expect(await r.raw('GET', 'missing')).toBe('_\r\n');
    expect(await r.call('CLIENT', 'GETNAME')).toBe('app1');
    expect(await r.call('HELLO', '2')).toBeInstanceOf(Array);
    expect(await r.raw('GET', 'missing')).toBe('$-1\r\n');
    expect(await r.call('HELLO', '4')).toEqual(new ErrorReply('NOPROTO unsupported protocol version'));
  });

  it('refuses HELLO without credentials on a locked database', async () => {
    const r = await connect(locked);
    expect(((await r.call('HELLO', '3')) as ErrorReply).message).toMatch(/^NOAUTH HELLO must be called/);
  });

  it('allows SELECT 0 only', async () => {
    const r = await connect(open);
    expect(await r.call('SELECT', '0')).toEqual(new SimpleString('OK'));
    expect(await r.call('SELECT', '1')).toEqual(new ErrorReply('ERR DB index is out of range'));
  });

  it('answers CLIENT ID/SETNAME/GETNAME/INFO/LIST and refuses the rest', async () => {
    const r = await connect(open);
    const id = (await r.call('CLIENT', 'ID')) as number;
    expect(id).toBeGreaterThan(0);
    expect(await r.call('CLIENT', 'GETNAME')).toBeNull();
    expect(await r.call('CLIENT', 'SETNAME', 'bad name')).toBeInstanceOf(ErrorReply);
    expect(await r.call('CLIENT', 'SETNAME', 'worker-1')).toEqual(new SimpleString('OK'));
    const info = String(await r.call('CLIENT', 'INFO'));
    expect(info).toContain(`id=${id} `);
    expect(info).toContain('name=worker-1');
    expect(String(await r.call('CLIENT', 'LIST'))).toContain('name=worker-1');
    expect(await r.call('CLIENT', 'KILL', 'ID', '1')).toBeInstanceOf(ErrorReply);
    // MONITOR is supported (RS's table): endpoint-fidelity-shards.test.ts. DEBUG is not.
    expect(await r.call('DEBUG', 'SLEEP', '0')).toBeInstanceOf(ErrorReply);
  });

  it('passes COMMAND through to a shard', async () => {
    const r = await connect(open);
    expect(Number(await r.call('COMMAND', 'COUNT'))).toBeGreaterThan(200);
  });

  it('accepts inline commands', async () => {
    const r = await connect(open);
    r.write('SET inl "a b"\r\nGET inl\r\nPING\r\n');
    expect(await r.value()).toEqual(new SimpleString('OK'));
    expect(await r.value()).toBe('a b');
    expect(await r.value()).toEqual(new SimpleString('PONG'));
  });

  it('answers QUIT with +OK and closes', async () => {
    const r = await connect(open);
    r.send('SET', 'q', '1');
    r.send('QUIT');
    r.send('GET', 'q');
    expect(await r.value()).toEqual(new SimpleString('OK'));
    expect(await r.value()).toEqual(new SimpleString('OK'));
    await r.waitClosed();
  });

  it("answers malformed input with redis-server's protocol error, then closes", async () => {
    const r = await connect(open);
    r.write('*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n');
    expect(await r.value()).toEqual(new SimpleString('PONG'));
    const err = (await r.value()) as ErrorReply;
    expect(err.message).toBe('ERR Protocol error: invalid bulk length');
    await r.waitClosed();
    // The proxy is fine.
    const r2 = await connect(open);
    expect(await r2.call('PING')).toEqual(new SimpleString('PONG'));
  });

  it('answers RESET', async () => {
    const r = await connect(locked);
    await r.call('AUTH', 's3cret');
    await r.call('HELLO', '3');
    expect(await r.call('RESET')).toEqual(new SimpleString('RESET'));
    expect(await r.call('GET', 'k')).toEqual(new ErrorReply('NOAUTH Authentication required.'));
  });
});
