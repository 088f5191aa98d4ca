import { describe, expect, it } from 'vitest';
import { ErrorCodes, isMinirsError } from '../src/errors.js';
import {
  aggregateStatus,
  canTransition,
  checkTransition,
  classifyReply,
  errorRule,
  featureOfCommand,
  type LinkPhase,
  outcomeOfCode,
  REPLICA_ERROR_TABLE,
  REPLICA_SYNC_TRANSITIONS,
  sourceProgress,
  sourceStatusFromLinks,
  syncRuns,
  transitionRestartsSync,
  versionAtLeast,
} from '../src/replica-state.js';
import type { ReplicaSync } from '../src/types.js';

const STATES: ReplicaSync[] = ['disabled', 'enabled', 'paused', 'stopped'];

describe('replica_sync transitions', () => {
  // CONTRACT.md, plus "clearing the sources disables" from any state.
  const allowed = new Set([
    'disabled->enabled',
    'enabled->paused',
    'enabled->stopped',
    'enabled->disabled',
    'paused->enabled',
    'paused->stopped',
    'paused->disabled',
    'stopped->enabled',
    'stopped->disabled',
  ]);
  for (const from of STATES) {
    for (const to of STATES) {
      if (from === to) continue;
      const ok = allowed.has(`${from}->${to}`);
      it(`${from} -> ${to} is ${ok ? 'allowed' : 'refused'}`, () => {
        expect(canTransition(from, to)).toBe(ok);
        if (ok) expect(() => checkTransition(from, to)).not.toThrow();
        else {
          let err: unknown;
          try {
            checkTransition(from, to);
          } catch (e) {
            err = e;
          }
          expect(isMinirsError(err, ErrorCodes.INVALID_ARGUMENT)).toBe(true);
          expect((err as { field?: string }).field).toBe('replica_sync');
          expect((err as Error).message).toContain(`allowed: ${REPLICA_SYNC_TRANSITIONS[from].join(', ')}`);
        }
      });
    }
  }
  it('staying in a state is no transition', () => {
    for (const s of STATES) expect(canTransition(s, s)).toBe(true);
  });
  it('entering enabled restarts the sync; nothing else does', () => {
    expect(transitionRestartsSync('paused', 'enabled')).toBe(true);
    expect(transitionRestartsSync('stopped', 'enabled')).toBe(true);
    expect(transitionRestartsSync('disabled', 'enabled')).toBe(true);
    expect(transitionRestartsSync('enabled', 'enabled')).toBe(false);
    expect(transitionRestartsSync('enabled', 'paused')).toBe(false);
  });
  it('links run only while enabled', () => {
    expect(STATES.filter(syncRuns)).toEqual(['enabled']);
  });
});

describe('a source status from its links', () => {
  const l = (phase: LinkPhase, everSynced = false) => ({ phase, everSynced });
  it('no links yet: syncing, or out-of-sync when the shard discovery failed', () => {
    expect(sourceStatusFromLinks([])).toBe('syncing');
    expect(sourceStatusFromLinks([], true)).toBe('out-of-sync');
  });
  it('in-sync only when every link streams', () => {
    expect(sourceStatusFromLinks([l('streaming', true), l('streaming', true)])).toBe('in-sync');
    expect(sourceStatusFromLinks([l('streaming', true), l('full-sync')])).toBe('syncing');
  });
  it('a link waiting to retry, or one that lost its stream, is out-of-sync', () => {
    expect(sourceStatusFromLinks([l('streaming', true), l('waiting-to-retry')])).toBe('out-of-sync');
    expect(sourceStatusFromLinks([l('streaming', true), l('connecting', true)])).toBe('out-of-sync');
    expect(sourceStatusFromLinks([l('connecting'), l('handshake')])).toBe('syncing');
  });
});

describe('aggregate', () => {
  it('replica_sync wins when not enabled', () => {
    for (const s of ['disabled', 'paused', 'stopped'] as const)
      expect(aggregateStatus(s, [{ status: 'in-sync' }])).toBe(s);
  });
  it('else the worst source: out-of-sync > syncing > in-sync', () => {
    expect(aggregateStatus('enabled', [{ status: 'in-sync' }, { status: 'syncing' }])).toBe('syncing');
    expect(
      aggregateStatus('enabled', [{ status: 'syncing' }, { status: 'out-of-sync' }, { status: 'in-sync' }]),
    ).toBe('out-of-sync');
    expect(aggregateStatus('enabled', [{ status: 'in-sync' }])).toBe('in-sync');
    expect(aggregateStatus('enabled', [])).toBe('disabled');
  });
});

describe('progress', () => {
  it('bytes when the RDB size is known', () => {
    expect(sourceProgress({ status: 'syncing', rdb_size: 200, rdb_transferred: 50 })).toBe(25);
  });
  it('keys of the source key count when the RDB has no size (diskless), never 100 before the end', () => {
    expect(
      sourceProgress({
        status: 'syncing',
        rdb_size: 0,
        rdb_transferred: 999,
        keys_loaded: 30,
        keys_total: 120,
      }),
    ).toBe(25);
    expect(
      sourceProgress({
        status: 'syncing',
        rdb_size: 0,
        rdb_transferred: 9,
        keys_loaded: 130,
        keys_total: 120,
      }),
    ).toBe(99);
  });
  it('unknown when neither is known; 100 in sync', () => {
    expect(sourceProgress({ status: 'syncing', rdb_size: 0, rdb_transferred: 5000 })).toBeNull();
    expect(sourceProgress({ status: 'in-sync', rdb_size: 0, rdb_transferred: 0 })).toBe(100);
  });
});

describe('the error table', () => {
  it('every class has a MINIRS_ERR_ code, an outcome and a remedy', () => {
    const codes = new Set(Object.values(ErrorCodes));
    for (const r of REPLICA_ERROR_TABLE) {
      expect(codes.has(r.code), r.class).toBe(true);
      expect(['stop', 'retry', 'partial-resync', 'full-resync', 'count']).toContain(r.outcome);
      expect(r.remedy.length, r.class).toBeGreaterThan(10);
    }
    expect(new Set(REPLICA_ERROR_TABLE.map((r) => r.class)).size).toBe(REPLICA_ERROR_TABLE.length);
  });
  it('ARCHITECTURE.md: auth stops, CROSSSLOT on the destination stops, OOM on either side stops', () => {
    for (const reply of [
      'WRONGPASS invalid username-password pair',
      'NOAUTH Authentication required.',
      'NOPERM x',
    ])
      expect(classifyReply(reply, 'source')).toMatchObject({
        class: 'auth',
        outcome: 'stop',
        code: ErrorCodes.AUTH,
      });
    expect(
      classifyReply("CROSSSLOT Keys in request don't hash to the same slot", 'destination'),
    ).toMatchObject({
      class: 'crossslot',
      outcome: 'stop',
      code: ErrorCodes.CROSSSLOT,
    });
    for (const side of ['source', 'destination'] as const)
      expect(classifyReply("OOM command not allowed when used memory > 'maxmemory'.", side)).toMatchObject({
        class: 'oom',
        outcome: 'stop',
      });
  });
  it('not-ready replies: the source link retries, the destination starts over', () => {
    for (const r of [
      'LOADING Redis is loading the dataset in memory',
      'BUSY x',
      'NOMASTERLINK x',
      'MASTERDOWN x',
    ])
      expect(classifyReply(r, 'source').outcome).toBe('retry');
    for (const r of ['LOADING Redis is loading', 'TRYAGAIN x', 'CLUSTERDOWN x', 'ERR shard 3 unavailable'])
      expect(classifyReply(r, 'destination').outcome).toBe('full-resync');
    expect(
      classifyReply(
        'ERR shard 3: private link released; the command may or may not have been executed',
        'destination',
      ),
    ).toMatchObject({ class: 'destination-unknown-fate', outcome: 'full-resync' });
  });
  it('anything else the destination refuses is a counted write; from a source, a protocol error', () => {
    for (const r of [
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      "ERR unknown command 'FOO'",
    ])
      expect(classifyReply(r, 'destination')).toMatchObject({
        class: 'rejected-write',
        outcome: 'count',
        code: ErrorCodes.DEST_REJECTED_WRITE,
      });
    expect(classifyReply('ERR something odd', 'source')).toMatchObject({
      class: 'protocol',
      outcome: 'stop',
    });
    expect(classifyReply("ERR BGSAVE failed, replication can't continue", 'source')).toMatchObject({
      class: 'full-sync-failed',
      outcome: 'retry',
    });
  });
  it('prefixes match whole words only', () => {
    expect(classifyReply('OOMPA x', 'destination').class).toBe('rejected-write');
    expect(classifyReply('BUSYKEY Target key name already exists.', 'destination').class).toBe(
      'rejected-write',
    );
  });
  it('codes carried by MinirsErrors map to outcomes', () => {
    expect(outcomeOfCode(ErrorCodes.AUTH, 'source')).toBe('stop');
    expect(outcomeOfCode(ErrorCodes.OOM, 'destination')).toBe('stop');
    expect(outcomeOfCode(ErrorCodes.PROTOCOL, 'source')).toBe('stop');
    expect(outcomeOfCode(ErrorCodes.TIMEOUT, 'source')).toBe('retry');
    expect(outcomeOfCode(ErrorCodes.CONNECTION, 'source')).toBe('retry');
    expect(errorRule('syncer-unresponsive').code).toBe(ErrorCodes.SYNCER_UNRESPONSIVE);
  });
  it('newer features by command, and versions', () => {
    expect(featureOfCommand('hpexpire')?.since).toBe('7.4');
    expect(featureOfCommand('SET')).toBeUndefined();
    expect(versionAtLeast('7.4.1', '7.4')).toBe(true);
    expect(versionAtLeast('7.0.15', '7.4')).toBe(false);
    expect(versionAtLeast('10.0', '7.4')).toBe(true);
  });
});
