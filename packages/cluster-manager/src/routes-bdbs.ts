import { type BdbCreateRequest, type BdbState, ErrorCodes, MinirsError } from '@minirs/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ActionRegistry } from './actions.js';
import type { ClusterManager } from './manager.js';
import { checkBdbFields } from './rs-fields.js';
import { type BdbUpdateRequest, bdbCreateSchema, bdbUpdateSchema, uidParams } from './schemas.js';
import { bdbView, parseFields, pickFields } from './views.js';

type Query = { fields?: string; dry_run?: string };

/** RS's `dry_run` query parameter: present (any value but false/0) = validate, change nothing. */
function isDryRun(req: FastifyRequest): boolean {
  const q = req.query as Query;
  if (q.dry_run === undefined) return false;
  return !/^(false|0|no)$/i.test(String(q.dry_run));
}

/**
 * The bdb requests of RS's REST API: fields honored or refused by name (rs-fields.ts),
 * `dry_run`, `fields`, and an `action_uid` for every change that RS tracks; the coordinated
 * failover of a bdb's shards.
 */
export function registerBdbRoutes(app: FastifyInstance, mgr: ClusterManager, actions: ActionRegistry): void {
  const view = (b: BdbState) => bdbView(b, actions);

  // Field checks come before the schema, so an unknown or unimplemented field is what the 400 names.
  const checkCreate = async (req: FastifyRequest) => checkBdbFields(req.body, undefined);
  const checkUpdate = async (req: FastifyRequest) => {
    const uid = Number((req.params as { uid: string }).uid);
    const b = Number.isInteger(uid) ? mgr.bdb(uid) : undefined;
    if (!b) return; // the handler answers 404 (or the params schema 400)
    checkBdbFields(req.body, view(b) as BdbState & Record<string, unknown>);
  };

  app.get('/v1/bdbs', async (req) => {
    const fields = parseFields((req.query as Query).fields);
    return mgr.state.bdbs.map((b) => pickFields(view(b), fields));
  });
  app.get<{ Params: { uid: number } }>('/v1/bdbs/:uid', { schema: { params: uidParams } }, async (req) =>
    pickFields(view(mgr.requireBdb(req.params.uid)), parseFields((req.query as Query).fields)),
  );
  app.post<{ Body: BdbCreateRequest }>(
    '/v1/bdbs',
    { schema: { body: bdbCreateSchema }, preValidation: checkCreate },
    async (req) => {
      if (isDryRun(req)) {
        const { bdb } = await mgr.bdbs.plan(req.body);
        return view(bdb);
      }
      const b = await mgr.bdbs.create(req.body);
      actions.track(actions.start('SMCreateBDB', b.uid), mgr.bdbs.whenActive(b.uid));
      // RS answers 200 (not 201): the database is being created; poll the action or the bdb.
      return view(mgr.bdb(b.uid) ?? b);
    },
  );

  app.put<{ Params: { uid: number }; Body: BdbUpdateRequest | undefined }>(
    '/v1/bdbs/:uid',
    { schema: { params: uidParams, body: bdbUpdateSchema }, preValidation: checkUpdate },
    async (req) => {
      const body = req.body ?? {};
      if (isDryRun(req)) {
        const b = mgr.requireBdb(req.params.uid);
        return view({ ...b, ...mgr.bdbs.planUpdate(b.uid, body) });
      }
      const { bdb, applied } = await mgr.bdbs.update(req.params.uid, body);
      actions.track(actions.start('SMUpdateBDB', bdb.uid), applied);
      return view(bdb);
    },
  );

  app.delete<{ Params: { uid: number } }>('/v1/bdbs/:uid', { schema: { params: uidParams } }, async (req) => {
    mgr.requireBdb(req.params.uid);
    if (isDryRun(req)) return { uid: req.params.uid, deleted: false, dry_run: true };
    const a = actions.start('SMDeleteBDB', req.params.uid);
    try {
      await mgr.bdbs.delete(req.params.uid);
    } catch (err) {
      actions.fail(a, err);
      throw err;
    }
    actions.complete(a);
    return { uid: req.params.uid, deleted: true, action_uid: a.action_uid };
  });

  // PUT /v1/bdbs/{uid}/{action}: RS updates the bdb with the body's fields, then performs the action.
  const withAction = (name: 'flush' | 'reset_admin_pass') =>
    app.put<{ Params: { uid: number }; Body: BdbUpdateRequest | undefined }>(
      `/v1/bdbs/:uid/${name}`,
      {
        schema: { params: uidParams, body: bdbUpdateSchema },
        // The body is optional here (a bare PUT .../flush): validate an empty one.
        preValidation: async (req) => {
          req.body ??= {};
          await checkUpdate(req);
        },
      },
      async (req) => {
        const uid = req.params.uid;
        const body = req.body ?? {};
        const b = mgr.requireBdb(uid);
        if (isDryRun(req)) return view({ ...b, ...mgr.bdbs.planUpdate(uid, body) });
        const a = actions.start('SMUpdateBDB', uid);
        try {
          let applied: Promise<unknown> = Promise.resolve();
          if (Object.keys(body).length > 0) applied = (await mgr.bdbs.update(uid, body)).applied;
          if (name === 'flush') await mgr.bdbs.flush(uid);
          else mgr.bdbs.resetAdminPass(uid);
          actions.track(a, applied);
        } catch (err) {
          actions.fail(a, err);
          throw err;
        }
        return view(mgr.requireBdb(uid));
      },
    );
  withAction('flush');
  withAction('reset_admin_pass');

  // (minirs) A coordinated failover of a replicated database's master shards: RS does this with
  // `rladmin failover [db <db>] shard <ids> [immediate]` (its REST API has no such request).
  // Body (optional): shard_uids (master shards; default every master), immediate (boolean).
  app.post<{ Params: { uid: number }; Body: Record<string, unknown> | undefined }>(
    '/v1/bdbs/:uid/actions/failover',
    { schema: { params: uidParams } },
    async (req) => {
      const uid = req.params.uid;
      mgr.requireBdb(uid);
      const body = req.body ?? {};
      const bad = (field: string, what: string) =>
        new MinirsError(ErrorCodes.INVALID_ARGUMENT, `${field} ${what}`, { field });
      if (typeof body !== 'object' || Array.isArray(body)) throw bad('body', 'must be a JSON object');
      for (const k of Object.keys(body)) {
        if (k !== 'shard_uids' && k !== 'immediate') throw bad(k, 'is not a field of a failover request (shard_uids, immediate)');
      }
      let shardUids: number[] | undefined;
      if (body.shard_uids !== undefined) {
        const raw = body.shard_uids;
        const list = Array.isArray(raw) ? raw.map((x) => Number(x)) : [];
        if (!Array.isArray(raw) || raw.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1))
          throw bad('shard_uids', `must be a non-empty list of shard uids, got ${JSON.stringify(raw)}`);
        shardUids = [...new Set(list)];
      }
      if (body.immediate !== undefined && typeof body.immediate !== 'boolean')
        throw bad('immediate', `must be true or false, got ${JSON.stringify(body.immediate)}`);
      const a = actions.start('SMFailoverShards', uid);
      try {
        const failovers = await mgr.ha.coordinatedFailover(uid, shardUids, body.immediate === true);
        actions.complete(a);
        return { action_uid: a.action_uid, failovers };
      } catch (err) {
        actions.fail(a, err);
        throw err;
      }
    },
  );
}
