import { describe, expect, it } from 'vitest';
import { createRequest } from '../src/commands/db.js';

describe('db create options -> POST /v1/bdbs body', () => {
  it('--replication asks for RS replication (a slave per master); without it the field is absent', () => {
    expect(createRequest('ha', { clientAuth: true, shards: 2, replication: true })).toEqual({
      name: 'ha',
      shards_count: 2,
      sharding: true,
      replication: true,
    });
    expect(createRequest('plain', { clientAuth: true })).toEqual({ name: 'plain', shards_count: 1, sharding: false });
  });
});
