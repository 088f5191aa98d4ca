import { describe, expect, it } from 'vitest';
import { formatSourceUri, parseSourceUri, redactForError } from '../src/index.js';

describe('parseSourceUri', () => {
  it('reads the three RS forms', () => {
    expect(parseSourceUri('db1:redis://admin:s3cret@127.0.1.1:12000')).toEqual({
      dbName: 'db1',
      admin: true,
      username: 'admin',
      password: 's3cret',
      host: '127.0.1.1',
      port: 12000,
      tls: false,
    });
    expect(parseSourceUri('redis://admin:pw@10.0.0.1:12001')).toMatchObject({
      admin: true,
      dbName: undefined,
    });
    expect(parseSourceUri('redis://:p%40ss%3Aw@h.example:6380')).toMatchObject({
      admin: false,
      password: 'p@ss:w',
      port: 6380,
    });
    expect(parseSourceUri('redis://127.0.0.1:6379')).toMatchObject({ admin: false, password: undefined });
    expect(parseSourceUri('rediss://127.0.0.1:6379').tls).toBe(true);
  });

  it('rejects malformed URIs with a hint and without echoing the password', () => {
    for (const bad of [
      '127.0.0.1:6379',
      'http://h:1',
      'redis://h',
      'redis://:pw@h:99999',
      'redis://h:1/3',
      'db:redis://:pw@h:1',
    ]) {
      expect(() => parseSourceUri(bad)).toThrow(/redis:\/\/|database 0|admin/);
    }
    try {
      parseSourceUri('redis://admin:topsecret@h');
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('topsecret');
    }
    expect(redactForError('x:redis://admin:pw@h:1')).toBe('x:redis://admin:***@h:1');
    expect(redactForError('http://:pw@h:1')).toBe('http://:***@h:1');
  });

  it('formats back what it parsed', () => {
    for (const u of ['db1:redis://admin:s3cret@127.0.1.1:12000', 'redis://:p%40ss@h:1', 'redis://h:2']) {
      expect(formatSourceUri(parseSourceUri(u))).toBe(u);
    }
  });
});
