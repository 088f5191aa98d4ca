import { timingSafeEqual } from 'node:crypto';
import { ErrorCodes } from '@minirs/common';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { loadAssets } from './assets.js';
import { LagRecorder } from './lag-history.js';
import type { UiSnapshot } from './types.js';

export { LagRecorder } from './lag-history.js';
export type { LagHistory, UiFault, UiNode, UiSnapshot } from './types.js';

export interface UiOptions {
  /** The cluster's REST credentials: the login page checks them, the browser then uses them. */
  username: string;
  password: string;
  /** The manager's live state, read on every tick. */
  snapshot(): UiSnapshot;
  /** Period of the live-status stream and of the lag samples (default 1000 ms). */
  intervalMs?: number;
  /** Concurrent live-status streams; more get a 503 (default 32). */
  maxStreams?: number;
}

/** Where the UI lives on the API port; `minirs cluster status` prints `<api_url>/ui/`. */
export const UI_PATH = '/ui/';
/** (minirs) The live-status stream: text/event-stream of `history` then `state` events. */
export const EVENTS_PATH = '/v1/events';

/**
 * Requests the API's basic-auth hook lets through: the UI's static files (no data in them) and
 * its login check. Everything with data, /v1/events included, still needs the credentials.
 */
export function isUiPublicPath(method: string, url: string): boolean {
  const path = url.split('?')[0]!;
  if (method === 'POST') return path === '/ui/login';
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path === '/' || path === '/ui' || path.startsWith('/ui/');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const SECURITY_HEADERS = {
  // Everything is served from this origin: no CDN, no inline script.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Serves the web UI, its login check and the live-status stream on the manager's API server. */
export function registerUi(app: FastifyInstance, o: UiOptions): void {
  const assets = loadAssets();
  const intervalMs = o.intervalMs ?? 1000;
  const maxStreams = o.maxStreams ?? 32;
  const lag = new LagRecorder();
  const open = new Set<() => void>();

  const sampler = setInterval(() => {
    try {
      lag.record(o.snapshot());
    } catch {
      // A state read mid-change is retried on the next tick.
    }
  }, intervalMs);
  sampler.unref();
  app.addHook('onClose', async () => clearInterval(sampler));
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  const send = (reply: FastifyReply, name: string) => {
    const a = assets.get(name);
    if (!a && assets.size > 0) {
      return reply.code(404).send({
        error_code: ErrorCodes.NOT_FOUND,
        message: `no such file of the web UI: ${name}; open ${UI_PATH}`,
      });
    }
    if (!a) {
      return reply.code(503).send({
        error_code: ErrorCodes.INTERNAL,
        message: `the web UI is not built (${name} is missing); run \`pnpm build\` and restart the cluster`,
      });
    }
    return reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').type(a.type).send(a.body);
  };

  app.get('/', (_req, reply) => reply.redirect(UI_PATH));
  app.get('/ui', (_req, reply) => reply.redirect(UI_PATH));
  app.get<{ Params: { file: string } }>('/ui/assets/:file', (req, reply) => send(reply, req.params.file));
  // Every other /ui/ path is a page of the single-page app (the browser routes it).
  app.get('/ui/*', (_req, reply) => send(reply, 'index.html'));

  app.post<{ Body: { username?: unknown; password?: unknown } }>(
    '/ui/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          properties: { username: { type: 'string' }, password: { type: 'string' } },
        },
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      const ok =
        typeof username === 'string' &&
        typeof password === 'string' &&
        safeEqual(username, o.username) &&
        safeEqual(password, o.password);
      // No WWW-Authenticate: a wrong password is the login page's to say, not a browser popup's.
      if (!ok) {
        return reply.code(401).send({
          error_code: ErrorCodes.UNAUTHORIZED,
          message:
            'wrong username or password; they are in the cluster folder (credentials.json) and `minirs cluster status <name>` prints them',
        });
      }
      return { ok: true };
    },
  );

  app.get(EVENTS_PATH, (req, reply) => {
    if (open.size >= maxStreams) {
      return reply.code(503).send({
        error_code: ErrorCodes.CONFLICT,
        message: `${maxStreams} live-status streams are already open; close some browser tabs and retry`,
      });
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
    });
    const event = (name: string, data: unknown) => {
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let closed = false;
    const tick = () => {
      if (closed) return;
      try {
        event('state', o.snapshot());
      } catch (err) {
        event('problem', { message: `reading the cluster state failed: ${(err as Error).message}` });
      }
    };
    res.write('retry: 2000\n\n');
    event('history', lag.toJSON());
    tick();
    const timer = setInterval(tick, intervalMs);
    const done = () => {
      if (closed) return;
      closed = true;
      open.delete(end);
      clearInterval(timer);
    };
    const end = () => {
      done();
      res.end();
    };
    open.add(end);
    req.raw.on('close', done);
    res.on('error', done);
  });
}
