import type { BdbState } from '@minirs/common';
import { describe, expect, it } from 'vitest';
import { PromText } from '../src/prom-text.js';
import type { RsApiError } from '../src/rs-errors.js';
import {
  CREATE_FIELDS,
  checkBdbFields,
  FIXED_FIELDS,
  READ_ONLY_FIELDS,
  RS_BDB_FIELDS,
  UPDATE_FIELDS,
} from '../src/rs-fields.js';

function refusal(body: unknown, current?: BdbState): RsApiError | undefined {
  try {
    checkBdbFields(body, current);
    return undefined;
  } catch (err) {
    return err as RsApiError;
  }
}

describe('bdb field checks', () => {
  it('every field minirs honors, fixes or reports is an RS bdb field (sync_epoch is minirs own)', () => {
    for (const f of [...CREATE_FIELDS, ...UPDATE_FIELDS, ...Object.keys(FIXED_FIELDS), ...READ_ONLY_FIELDS]) {
      if (f === 'sync_epoch' || f === 'failovers' || f === 'rereplications') continue; // minirs's own read-only fields
      expect(RS_BDB_FIELDS.has(f), f).toBe(true);
    }
  });

  it('names unknown fields, unimplemented RS fields and wrong fixed values', () => {
    expect(refusal({ name: 'a', memory_size: 1 })).toBeUndefined();
    expect(refusal({ name: 'a', colour: 1 })).toMatchObject({
      status: 400,
      rsCode: 'invalid_schema',
      field: 'colour',
    });
    expect(refusal({ name: 'a', crdt: true })).toMatchObject({
      status: 400,
      rsCode: 'unsupported_field',
      field: 'crdt',
    });
    expect(refusal({ replication: true })).toBeUndefined();
    expect(refusal({ replication: false })).toBeUndefined();
    expect(refusal({ replica_sources: [{ uri: 'redis://h:1', replication_tls_sni: 'x' }] })).toBeUndefined();
    expect(refusal({ replica_sources: [{ uri: 'redis://h:1', lag: 5 }] })).toMatchObject({
      field: 'replica_sources[0].lag',
    });
    expect(refusal({ endpoints: [] })).toMatchObject({ field: 'endpoints' });
  });

  it('on update, a read-only field may repeat its current value', () => {
    const cur = { uid: 3, port: 12000, shards_count: 1, replica_sources: [] } as unknown as BdbState;
    expect(refusal({ uid: 3, port: 12000 }, cur)).toBeUndefined();
    expect(refusal({ port: 12001 }, cur)).toMatchObject({ field: 'port', rsCode: 'unsupported_field' });
    expect(refusal({ sharding: true, uid: 3 }, { ...cur, sharding: false })).toMatchObject({
      field: 'sharding',
    });
  });
});

describe('Prometheus text', () => {
  it('writes HELP, TYPE and escaped label values', () => {
    const p = new PromText();
    p.family('x_total', 'counter', 'a help\nline');
    p.add('x_total', { db: '1', name: 'a"b\\c' }, 5);
    expect(p.toString()).toBe(
      '# HELP x_total a help\\nline\n# TYPE x_total counter\nx_total{db="1",name="a\\"b\\\\c"} 5\n',
    );
    expect(() => p.add('y', {}, 1)).toThrow(/no family/);
  });
});
