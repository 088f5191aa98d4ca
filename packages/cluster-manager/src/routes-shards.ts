import type { FastifyInstance } from 'fastify';
import type { ClusterManager } from './manager.js';
import { notFound } from './rs-errors.js';
import { uidParams } from './schemas.js';
import { pickFields, shardView } from './views.js';

/** RS's shard requests: every shard, one shard, the shards of a bdb (with `extra_info_keys`). */
export function registerShardRoutes(app: FastifyInstance, mgr: ClusterManager): void {
  const shards = (bdbUid?: number) =>
    mgr.state.shards
      .filter((s) => bdbUid === undefined || s.bdb_uid === bdbUid)
      .map((s) => shardView(s, mgr.procs.shardStatsOf(s.uid), mgr.procs.shardStatsTimeOf(s.uid)));

  app.get<{ Params: { uid: number }; Querystring: { extra_info_keys?: string | string[] } }>(
    '/v1/bdbs/:uid/shards',
    { schema: { params: uidParams } },
    async (req) => {
      mgr.requireBdb(req.params.uid);
      // RS: extra_info_keys (repeatable) picks the redis_info keys to return.
      const q = req.query.extra_info_keys;
      const keys = q === undefined ? undefined : (Array.isArray(q) ? q : [q]).flatMap((k) => k.split(','));
      return shards(req.params.uid).map((s) =>
        keys ? { ...s, redis_info: pickFields(s.redis_info as Record<string, unknown>, keys) } : s,
      );
    },
  );

  app.get('/v1/shards', async () => shards());
  app.get<{ Params: { uid: number } }>('/v1/shards/:uid', { schema: { params: uidParams } }, async (req) => {
    const s = mgr.shard(req.params.uid);
    if (!s) throw notFound('shard', req.params.uid);
    return shardView(s, mgr.procs.shardStatsOf(s.uid), mgr.procs.shardStatsTimeOf(s.uid));
  });
}
