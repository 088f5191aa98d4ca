import { invalid, type ShardPersistence } from '@minirs/common';

/** RS's persistence of a shard as redis.conf directives (and the same as CONFIG SET pairs). */
export const NO_PERSISTENCE: ShardPersistence = {
  data_persistence: 'disabled',
  aof_policy: 'appendfsync-every-sec',
  snapshot_policy: [],
};

/**
 * `appendonly`, `appendfsync` and `save` for a policy. AOF keeps RDB snapshots off (RS's aof
 * mode); snapshot mode is `save secs writes ...`; disabled turns both off.
 */
export function persistenceDirectives(p: ShardPersistence | undefined): [string, string][] {
  const q = p ?? NO_PERSISTENCE;
  const save =
    q.data_persistence === 'snapshot' && q.snapshot_policy.length > 0
      ? q.snapshot_policy.map((r) => `${r.secs} ${r.writes}`).join(' ')
      : '';
  return [
    ['appendonly', q.data_persistence === 'aof' ? 'yes' : 'no'],
    ['appendfsync', q.aof_policy === 'appendfsync-always' ? 'always' : 'everysec'],
    ['save', save],
  ];
}

/** Validates the persistence part of MINIRS_PROC_CONFIG or of a set-persistence request. */
export function parsePersistence(v: unknown, where: string): ShardPersistence | undefined {
  if (v === undefined) return undefined;
  const o = v as Partial<ShardPersistence> | null;
  if (o === null || typeof o !== 'object') throw invalid('persistence', `${where} must be an object`);
  if (!['disabled', 'aof', 'snapshot'].includes(String(o.data_persistence))) {
    throw invalid('persistence', `${where}.data_persistence must be disabled, aof or snapshot`);
  }
  if (!['appendfsync-every-sec', 'appendfsync-always'].includes(String(o.aof_policy))) {
    throw invalid('persistence', `${where}.aof_policy must be appendfsync-every-sec or appendfsync-always`);
  }
  const rules = o.snapshot_policy;
  if (
    !Array.isArray(rules) ||
    !rules.every(
      (r) =>
        r !== null &&
        typeof r === 'object' &&
        Number.isSafeInteger(r.secs) &&
        r.secs > 0 &&
        Number.isSafeInteger(r.writes) &&
        r.writes > 0,
    )
  ) {
    throw invalid('persistence', `${where}.snapshot_policy must be [{secs, writes}] with positive integers`);
  }
  return {
    data_persistence: o.data_persistence!,
    aof_policy: o.aof_policy!,
    snapshot_policy: rules.map((r) => ({ secs: r.secs, writes: r.writes })),
  };
}
