import type { FastifyInstance } from 'fastify';
import type { Action, ActionRegistry } from './actions.js';
import { notFound } from './rs-errors.js';

function actionV2(a: Action): Record<string, unknown> {
  const [object_type, object_uid] = a.object_name.split(':');
  return {
    action_uid: a.action_uid,
    action_type: 'state-machine',
    creation_time: a.creation_time,
    name: a.name,
    progress: a.progress,
    status: a.status === 'pending' ? 'queued' : a.status === 'active' ? 'running' : a.status,
    additional_info: {
      object_type,
      object_uid,
      ...(a.error_message ? { error: a.error_message } : {}),
    },
  };
}

/** RS's action requests: v1 (`{"actions", "state-machines"}`) and v2 shapes (actions.ts keeps them). */
export function registerActionRoutes(app: FastifyInstance, actions: ActionRegistry): void {
  app.get('/v1/actions', async () => ({ actions: [], 'state-machines': actions.list() }));
  app.get<{ Params: { uid: string } }>('/v1/actions/:uid', async (req) => {
    const a = actions.get(req.params.uid);
    if (!a) throw notFound('action', req.params.uid);
    return a;
  });
  app.get('/v2/actions', async () => actions.list().map(actionV2));
  app.get<{ Params: { uid: string } }>('/v2/actions/:uid', async (req) => {
    const a = actions.get(req.params.uid);
    if (!a) throw notFound('action', req.params.uid);
    return actionV2(a);
  });
}
