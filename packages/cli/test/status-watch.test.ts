import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/context.js';
import { replicaStatus } from '@minirs/harness';
import { JsonWatchRenderer, type StatusEntry, TextWatchRenderer, watchLoop } from '../src/status-watch.js';

function entry(progress: number): StatusEntry {
  return {
    cluster: 'west',
    name: 'dest',
    view: replicaStatus({
      uid: 2,
      replica_sync: 'enabled',
      replica_sources: [
        {
          uid: 1,
          uri: 'redis://admin:pw@127.0.1.1:12000',
          compression: 0,
          encryption: false,
          status: progress < 100 ? 'syncing' : 'in-sync',
          rdb_size: 100,
          rdb_transferred: progress,
          lag: 4,
          last_update: null,
          last_error: '',
        },
      ],
    }),
  };
}

function captureIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: {},
  };
}

describe('status --watch loop', () => {
  it('redraws each poll, shows a failed poll and goes on, until aborted', async () => {
    const io = captureIo();
    const stop = new AbortController();
    let calls = 0;
    const poll = async () => {
      calls++;
      if (calls === 2) throw new Error('the cluster API at 127.0.1.1:9443 is unreachable (ECONNREFUSED)');
      if (calls === 3) stop.abort();
      return [entry(calls === 1 ? 42 : 100)];
    };
    await watchLoop(poll, new TextWatchRenderer(io), { intervalMs: 10, signal: stop.signal });
    expect(calls).toBe(3);
    const text = io.out.join('');
    expect(text).toContain('west/dest (bdb 2): Syncing 42%');
    expect(text).toContain('minirs: the cluster API at 127.0.1.1:9443 is unreachable (ECONNREFUSED)');
    expect(text).toContain('west/dest (bdb 2): Synced (lag 4 ms)');
    expect(text.indexOf('Syncing 42%')).toBeLessThan(text.indexOf('ECONNREFUSED'));
    expect(text.indexOf('ECONNREFUSED')).toBeLessThan(text.indexOf('Synced (lag 4 ms)'));
  });

  it("the first poll's error is the command's error", async () => {
    const io = captureIo();
    await expect(
      watchLoop(
        async () => {
          throw new Error('no database "dest"');
        },
        new TextWatchRenderer(io),
        { intervalMs: 10 },
      ),
    ).rejects.toThrow('no database "dest"');
  });

  it('ends by itself after --watch-seconds', async () => {
    const io = captureIo();
    let calls = 0;
    await watchLoop(
      async () => {
        calls++;
        return [entry(50)];
      },
      new TextWatchRenderer(io),
      { seconds: 0.05, intervalMs: 10 },
    );
    expect(calls).toBeGreaterThanOrEqual(1);
  });

  it('--json --watch writes one JSON document per line and poll', async () => {
    const io = captureIo();
    const stop = new AbortController();
    let calls = 0;
    await watchLoop(
      async () => {
        if (++calls === 2) stop.abort();
        return [entry(calls * 30)];
      },
      new JsonWatchRenderer(io, (es) => es[0]!.view),
      { intervalMs: 10, signal: stop.signal },
    );
    const docs = io.out.map(
      (l) => JSON.parse(l) as { status: string; sources: { progress: number; uri: string }[] },
    );
    expect(docs.map((d) => d.sources[0]!.progress)).toEqual([30, 60]);
    expect(docs[0]!.sources[0]!.uri).toBe('redis://admin:***@127.0.1.1:12000');
  });
});
