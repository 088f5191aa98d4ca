import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/usage-error.js';
import { parseSourceSpec, sourceUrl } from '../src/source-uri.js';

const bdb = {
  name: 'db1',
  port: 12001,
  authentication_admin_pass: 'p@ss:w/rd%+ x',
  endpoints: [{ addr: ['127.0.1.2'], port: 12001, dns_name: 'db1' }],
};

describe('sourceUrl', () => {
  it('is redis://admin:<admin pass URL-encoded>@<first endpoint address>:<port>', () => {
    const uri = sourceUrl(bdb);
    expect(uri).toBe('redis://admin:p%40ss%3Aw%2Frd%25%2B%20x@127.0.1.2:12001');
    const u = new URL(uri);
    expect(u.username).toBe('admin');
    expect(decodeURIComponent(u.password)).toBe(bdb.authentication_admin_pass);
    expect(u.hostname).toBe('127.0.1.2');
    expect(u.port).toBe('12001');
  });

  it("falls back to the bdb's port when the endpoint has none", () => {
    const noPort = { ...bdb, endpoints: [{ addr: ['127.0.1.1'], dns_name: 'x' }] } as unknown as typeof bdb;
    expect(sourceUrl(noPort)).toMatch(/@127\.0\.1\.1:12001$/);
  });

  it('refuses a database without an endpoint', () => {
    expect(() => sourceUrl({ ...bdb, endpoints: [] })).toThrow(/no endpoint/);
  });
});

describe('parseSourceSpec', () => {
  it('takes the three URI forms as they are', () => {
    for (const uri of [
      'redis://admin:secret@127.0.1.1:12000',
      'db1:redis://admin:secret@127.0.1.1:12000',
      'redis://:p%40ss@10.0.0.5:6380',
      'redis://localhost:6380',
      'rediss://:x@127.0.0.1:7000',
    ]) {
      expect(parseSourceSpec(uri)).toEqual({ kind: 'uri', uri });
    }
  });

  it('reads <cluster>/<db> and a bare <db>', () => {
    expect(parseSourceSpec('east/orders')).toEqual({ kind: 'cluster-db', cluster: 'east', db: 'orders' });
    expect(parseSourceSpec('orders')).toEqual({ kind: 'db', db: 'orders' });
    expect(parseSourceSpec('Orders-2')).toEqual({ kind: 'db', db: 'Orders-2' });
  });

  it.each([
    'http://host:1',
    'redis://',
    'my db:redis://h:1',
    'East/orders',
    'east/',
    '/orders',
    'east/orders/x',
    'two words',
    '-db',
    '',
  ])('rejects %j as bad usage with the accepted forms', (text) => {
    let err: unknown;
    try {
      parseSourceSpec(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('<cluster>/<db>');
  });
});
