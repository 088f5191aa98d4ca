import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ControlMessage,
  ControlServer,
  connectControl,
  encodeFrame,
  FrameDecoder,
  maskUri,
} from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('control channel', () => {
  it('splits frames cut at every offset', () => {
    const msgs: ControlMessage[] = [
      { type: 'event', event: 'redis-exited', detail: { code: 1, signal: 'SIGKILL' } },
      { type: 'config', config: { dbs: [{ uid: 1, shards: [1, 2, 3] }] } },
      { type: 'shutdown' },
    ];
    const stream = Buffer.concat(msgs.map(encodeFrame));
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out).toEqual(msgs);
    }
  });

  it('rejects an absurd frame length instead of buffering it', () => {
    const d = new FrameDecoder();
    expect(() => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))).toThrow(/exceeds/);
  });

  it('greets, answers requests and carries errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-'));
    dirs.push(dir);
    const server = new ControlServer(
      join(dir, 'c.sock'),
      () => ({ type: 'hello', role: 'shard', id: 7, pid: process.pid, started_at: 'now' }),
      (op, args) => {
        if (op === 'fail') throw new Error('nope');
        return { op, args };
      },
    );
    await server.listen();
    const hello = new Promise<ControlMessage>((resolve) => {
      void connectControl(join(dir, 'c.sock')).then((c) => {
        c.on('message', resolve);
        conn = c;
      });
    });
    let conn: Awaited<ReturnType<typeof connectControl>> | undefined;
    expect(await hello).toMatchObject({ type: 'hello', id: 7 });
    expect(await conn!.request('echo', { x: 1 })).toEqual({ op: 'echo', args: { x: 1 } });
    await expect(conn!.request('fail')).rejects.toThrow('nope');
    conn!.close();
    await server.close();
  });
});

describe('maskUri', () => {
  it('hides passwords in redis URIs', () => {
    expect(maskUri('redis://admin:s3cret@127.0.0.1:12000')).toBe('redis://admin:***@127.0.0.1:12000');
    expect(maskUri('redis://:p%40ss@h:1')).toBe('redis://:***@h:1');
    expect(maskUri('redis://h:1')).toBe('redis://h:1');
    expect(maskUri('db1:redis://admin:s3cret@h:1')).toBe('db1:redis://admin:***@h:1');
    expect(maskUri('sources: redis://:a@h:1 rediss://admin:b@g:2')).toBe(
      'sources: redis://:***@h:1 rediss://admin:***@g:2',
    );
  });
});
