import { randomUUID } from 'node:crypto';

/** RS v1 action statuses (requests/actions): pending -> active -> completed | failed. */
export type ActionStatus = 'pending' | 'active' | 'completed' | 'failed';

/** An RS state machine run (`SMCreateBDB`, `SMUpdateBDB`, ...) as GET /v1/actions shows it. */
export interface Action {
  action_uid: string;
  name: string;
  /** `bdb:<uid>` */
  object_name: string;
  status: ActionStatus;
  progress: number;
  /** Unix seconds (RS v2 field, kept on v1 objects too). */
  creation_time: number;
  heartbeat: number;
  error_code?: string;
  error_message?: string;
}

/** How many finished actions are kept for GET /v1/actions (RS keeps "the status of the last run"). */
const KEEP_FINISHED = 200;

/**
 * The actions of this manager, in memory: a restarted manager knows no earlier action (404, as RS
 * answers for an action with no available status). Each one is settled by the operation it tracks.
 */
export class ActionRegistry {
  private readonly actions = new Map<string, Action>();

  start(name: string, bdbUid: number): Action {
    const now = Math.floor(Date.now() / 1000);
    const a: Action = {
      action_uid: randomUUID(),
      name,
      object_name: `bdb:${bdbUid}`,
      status: 'active',
      progress: 0,
      creation_time: now,
      heartbeat: now,
    };
    this.actions.set(a.action_uid, a);
    this.trim();
    return a;
  }

  /** Settles `a` when `work` does; a failure keeps RS's error_code/error_message. */
  track(a: Action, work: Promise<unknown>): void {
    work.then(
      () => this.complete(a),
      (err: unknown) => this.fail(a, err),
    );
  }

  complete(a: Action): void {
    if (a.status === 'completed' || a.status === 'failed') return;
    a.status = 'completed';
    a.progress = 100;
    a.heartbeat = Math.floor(Date.now() / 1000);
  }

  fail(a: Action, err: unknown): void {
    if (a.status === 'completed' || a.status === 'failed') return;
    a.status = 'failed';
    a.error_code = 'internal_error';
    a.error_message = err instanceof Error ? err.message : String(err);
    a.heartbeat = Math.floor(Date.now() / 1000);
  }

  get(uid: string): Action | undefined {
    return this.actions.get(uid);
  }

  list(): Action[] {
    return [...this.actions.values()];
  }

  /** The latest action on a bdb: RS's bdb.action_uid. */
  latestFor(bdbUid: number): Action | undefined {
    let last: Action | undefined;
    for (const a of this.actions.values()) if (a.object_name === `bdb:${bdbUid}`) last = a;
    return last;
  }

  private trim(): void {
    const finished = [...this.actions.values()].filter(
      (a) => a.status === 'completed' || a.status === 'failed',
    );
    for (const a of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      this.actions.delete(a.action_uid);
    }
  }
}
