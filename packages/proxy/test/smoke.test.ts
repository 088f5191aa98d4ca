import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyTestBed, type StartedProxyTestBed } from './harness.js';

describe('proxy smoke', () => {
  let bed: StartedProxyTestBed;
  beforeAll(async () => {
    bed = await new ProxyTestBed().withShards(2).start();
  });
  afterAll(async () => {
    await bed?.stop();
  });

  it('serves SET/GET/MGET across shards', async () => {
    const db = await bed.addDb();
    const c = bed.client(db);
    expect(await c.ping()).toBe('PONG');
    expect(await c.set('a', '1')).toBe('OK');
    expect(await c.get('a')).toBe('1');
    await c.mset('x', '1', 'y', '2', 'z', '3');
    expect(await c.mget('x', 'y', 'z', 'nope')).toEqual(['1', '2', '3', null]);
    expect(await c.dbsize()).toBe(4);
  });
});
