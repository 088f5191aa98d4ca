import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { type Credentials, ErrorCodes, invalid, isMinirsError, type MinirsError } from '@minirs/common';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ActionRegistry } from './actions.js';
import type { ClusterManager } from './manager.js';
import { registerActionRoutes } from './routes-actions.js';
import { registerBdbRoutes } from './routes-bdbs.js';
import { registerClusterRoutes } from './routes-cluster.js';
import { registerShardRoutes } from './routes-shards.js';
import { errorBody, RsApiError } from './rs-errors.js';

/** How much of a refused oversized body is read and dropped so that the 413 reaches the client. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

function drainRequest(raw: IncomingMessage, limit: number, timeoutMs: number): Promise<void> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      resolve();
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > limit) done();
    };
    const timer = setTimeout(done, timeoutMs);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.resume();
  });
}

/** Request bodies above this are refused with 413: a bdb with many client certificates is a few kB. */
export const BODY_LIMIT = 1024 * 1024;

const STATUS_BY_CODE: Partial<Record<string, number>> = {
  [ErrorCodes.INVALID_ARGUMENT]: 400,
  [ErrorCodes.UNSUPPORTED]: 400,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.CONFLICT]: 409,
  [ErrorCodes.PORT_IN_USE]: 409,
  [ErrorCodes.UNAUTHORIZED]: 401,
};

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ApiExtensions {
  /** Extra routes (Replica Of, faults, metrics) registered by later modules. */
  register?(app: FastifyInstance, actions: ActionRegistry): void;
  /** Requests served without basic auth (the web UI's static files and login check). */
  isPublic?(method: string, url: string): boolean;
}

/** The RS-shaped REST API over HTTPS with basic auth. */
export async function buildApi(
  mgr: ClusterManager,
  creds: Credentials,
  ext: ApiExtensions = {},
): Promise<FastifyInstance> {
  const certs = mgr.paths.certs;
  const app = Fastify({
    https: { key: readFileSync(join(certs, 'api.key')), cert: readFileSync(join(certs, 'api.pem')) },
    logger: false,
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/metrics' || req.url.startsWith('/metrics?')) return;
    if (ext.isPublic?.(req.method, req.url)) return;
    const h = req.headers.authorization ?? '';
    const m = /^Basic\s+(.+)$/i.exec(h);
    let ok = false;
    if (m) {
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      ok =
        i > 0 &&
        safeEqual(decoded.slice(0, i), creds.username) &&
        safeEqual(decoded.slice(i + 1), creds.password);
    }
    if (!ok) {
      reply
        .code(401)
        .header('www-authenticate', 'Basic realm="minirs"')
        .send({
          error_code: ErrorCodes.UNAUTHORIZED,
          message: m
            ? 'wrong username or password; use the credentials in the cluster folder (credentials.json)'
            : 'authentication required: HTTP basic auth with the cluster credentials (credentials.json)',
        });
    }
  });

  app.setErrorHandler((err: FastifyError | MinirsError, req, reply) => {
    if (err instanceof RsApiError) {
      reply.code(err.status).send(err.toJSON());
      return;
    }
    if (isMinirsError(err)) {
      reply.code(STATUS_BY_CODE[err.code] ?? 500).send(errorBody(err));
      return;
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const v = fe.validation[0];
      const params = (v?.params ?? {}) as Record<string, unknown>;
      const path = (v?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
      const field =
        [path, params.missingProperty ?? params.additionalProperty].filter(Boolean).join('.') ||
        fe.validationContext ||
        'body';
      reply.code(400).send(errorBody(invalid(field, `invalid ${field}: ${v?.message ?? fe.message}`)));
      return;
    }
    if (fe.statusCode === 413) {
      const send = () =>
        reply
          .code(413)
          .header('connection', 'close')
          .send({
            error_code: 'request_too_large',
            minirs_error_code: ErrorCodes.INVALID_ARGUMENT,
            message: `the request body is larger than ${BODY_LIMIT} bytes; a bdb request is a few kB: send only the fields to set`,
          });
      // Read and drop what the client is still sending (bounded) before answering: a socket closed
      // with unread bytes is reset by the kernel, and the client would see ECONNRESET, not the 413.
      drainRequest(req.raw, DRAIN_LIMIT, 5000).then(send, send);
      return;
    }
    if (fe.statusCode && fe.statusCode < 500) {
      reply.code(fe.statusCode).send({ error_code: ErrorCodes.INVALID_ARGUMENT, message: fe.message });
      return;
    }
    mgr.log.error({ err, url: req.url }, 'request failed');
    reply.code(500).send({ error_code: ErrorCodes.INTERNAL, message: fe.message });
  });

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send({ error_code: ErrorCodes.NOT_FOUND, message: `no such endpoint: ${req.method} ${req.url}` });
  });

  registerClusterRoutes(app, mgr, creds);
  const actions = new ActionRegistry();
  registerBdbRoutes(app, mgr, actions);
  registerShardRoutes(app, mgr);
  registerActionRoutes(app, actions);

  ext.register?.(app, actions);
  return app;
}
