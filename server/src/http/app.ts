/**
 * `buildServer(config)`: the API server as a Fastify instance. Every route comes from a table
 * of definitions; a definition without a declared permission stops the build (deny by default).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import helmet from 'helmet';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { CandorError, InvariantError } from '@candor/shared/errors';
import { parseUnknown, ValidationError } from '@candor/shared/validation';
import { randomBytes } from '@candor/shared/crypto';
import { authenticate, csrfTokenMatches, CSRF_HEADER, SESSION_COOKIE, SESSION_ABSOLUTE_MS } from '../auth/sessions.ts';
import { decide, type Caller, type Permission, type Decision } from '../auth/permissions.ts';
import type { ApiStore } from '../db/store.ts';
import type { ServerKeys } from '../keys/files.ts';
import { HTTP_ERRORS, HttpError } from './errors.ts';
import type { AnyRoute, Services } from './route.ts';
import { ALL_ROUTES } from './routes/index.ts';
import { pruneProcessedEnvelopes } from '../ingest/prune.ts';

export type ServerConfig = {
  store: ApiStore;
  serverKeys: () => ServerKeys;
  rotateServerKey: () => { retired: string[]; current: string };
  /** Cookies get `Secure` unless the server only listens on loopback (plain-HTTP development). */
  secureCookies: boolean;
  logger?: boolean | { level: string; stream?: NodeJS.WritableStream };
  now?: () => Date;
  erasureWaitMs?: number;
  uniform?: () => number;
  /** The route table; defaults to every route Candor has. */
  routes?: readonly AnyRoute[];
  /** How often sealed envelopes the aggregator has taken in are emptied. */
  pruneIntervalMs?: number;
  /** Multiplies every route's rate limit (a load test or a large site raises them; never 0). */
  rateLimitScale?: number;
  /** Observes each authorization decision (the route matrix test reads them). */
  onDecision?: (route: AnyRoute, caller: Caller, decision: Decision) => void;
};

const DEFAULT_BODY_LIMIT = 16 * 1024;
const VALID_PERMISSION_KINDS = new Set<Permission['kind']>(['public', 'device', 'signed-in', 'role']);

/** Who made each request, set by the route's onRequest hook before anything else reads it. */
const callers = new WeakMap<FastifyRequest, Caller>();

/** @throws InvariantError when a route declares no (or an unknown) permission. */
export function assertEveryRouteDeclaresPermission(routes: readonly AnyRoute[]): void {
  for (const route of routes) {
    const permission = (route as { permission?: { kind?: unknown } }).permission;
    if (!permission || !VALID_PERMISSION_KINDS.has(permission.kind as Permission['kind'])) {
      throw new InvariantError(`route ${route.method} ${route.url} declares no permission; refusing to start`);
    }
    if (permission.kind === 'role' && (permission as { anyOf?: readonly unknown[] }).anyOf?.length === 0) {
      throw new InvariantError(`route ${route.method} ${route.url} allows no role; refusing to start`);
    }
  }
}

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/**
 * helmet's default security headers, worked out once: with its default policy none of them
 * depends on the request, and one prepared set given to each reply costs a fraction of running
 * helmet's middleware per request (which set them one by one, about a tenth of an ingest request).
 */
function securityHeaders(): Record<string, string> {
  const response = new ServerResponse(new IncomingMessage(new Socket()));
  const outcome: { finished: boolean; error?: unknown } = { finished: false };
  helmet()(response.req, response, (error?: unknown) => {
    outcome.finished = true;
    outcome.error = error;
  });
  if (!outcome.finished || outcome.error !== undefined) throw new InvariantError('helmet did not set its default headers');
  return Object.fromEntries(Object.entries(response.getHeaders()).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]));
}

/** @throws InvariantError when a route declares no permission. */
export async function buildServer(config: ServerConfig): Promise<FastifyInstance> {
  const routes = config.routes ?? ALL_ROUTES;
  assertEveryRouteDeclaresPermission(routes);
  const now = config.now ?? (() => new Date());

  const app = Fastify({
    logger: config.logger ?? false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    // A JSON body's keys never become prototype properties.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    trustProxy: false,
  });

  const services: Services = {
    store: config.store,
    serverKeys: config.serverKeys,
    rotateServerKey: config.rotateServerKey,
    now,
    log: app.log,
    erasureWaitMs: config.erasureWaitMs ?? 10_000,
    uniform: config.uniform ?? (() => (new DataView(randomBytes(8).buffer).getUint32(0) + 0.5) / 2 ** 32),
  };

  // Bodies are parsed by each route's zod schema through parseUnknown, whose errors never echo input.
  app.setValidatorCompiler(({ schema }) => (data: unknown) => {
    try {
      return { value: parseUnknown(schema as z.ZodType, data, 'request') };
    } catch (error) {
      return { error: error as Error };
    }
  });
  app.setSerializerCompiler(serializerCompiler);

  const security = securityHeaders();
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(security);
    done();
  });
  await app.register(cookie);
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: () => ({ statusCode: 429, error: { code: 'rate-limited', message: 'too many requests; try again later' } }),
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, 404, 'not-found', 'no such route'));
  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof HttpError) return sendError(reply, error.statusCode, error.code, error.message);
    if (error instanceof ValidationError) return sendError(reply, 400, 'validation', error.message.slice(0, 1000));
    if (error instanceof CandorError && error.code in HTTP_ERRORS) {
      return sendError(reply, HTTP_ERRORS[error.code as keyof typeof HTTP_ERRORS], error.code, error.message);
    }
    const fastifyError = error as { code?: string; statusCode?: number };
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'request.too-large', 'request body is too large');
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendError(reply, 415, 'request.unsupported-media-type', 'send application/json');
    if (fastifyError.statusCode === 429) return sendError(reply, 429, 'rate-limited', 'too many requests; try again later');
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      // Fastify's own 4xx (malformed JSON, empty body, bad content length): a fixed message, never the parser's text.
      return sendError(reply, fastifyError.statusCode, 'request.malformed', 'request is malformed');
    }
    // Name and code only: a message can quote what it choked on.
    request.log.error({ errorName: (error as Error).name, errorCode: fastifyError.code }, 'request failed');
    return sendError(reply, 500, 'internal', 'internal error');
  });

  // Compressed bodies are refused, so each route's body limit is the size of what is parsed.
  app.addHook('onRequest', (request, _reply, done) => {
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') done(new HttpError('request.unsupported-encoding', 'compressed request bodies are not accepted'));
    else done();
  });

  for (const route of routes) {
    const permission = route.permission;
    app.route({
      method: route.method,
      url: route.url,
      bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT,
      schema: {
        ...(route.schema.body ? { body: route.schema.body } : {}),
        ...(route.schema.params ? { params: route.schema.params } : {}),
        ...(route.schema.querystring ? { querystring: route.schema.querystring } : {}),
        response: route.schema.response,
      },
      ...(route.rateLimit ? { config: { rateLimit: { max: Math.ceil(route.rateLimit.max * (config.rateLimitScale ?? 1)), timeWindow: route.rateLimit.timeWindowMs } } } : {}),
      // Authentication and authorization run before the body is even read.
      onRequest: (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
        try {
          authorize(request);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
      handler: async (request, reply) => {
        const result = await route.handler({
          caller: callers.get(request) ?? { kind: 'anonymous' },
          body: request.body,
          params: request.params,
          query: request.query,
          services,
          cookie: {
            set: (token: string) =>
              void reply.setCookie(SESSION_COOKIE, token, {
                httpOnly: true,
                sameSite: 'strict',
                secure: config.secureCookies,
                path: '/api/v1',
                maxAge: SESSION_ABSOLUTE_MS / 1000,
              }),
            clear: () => void reply.clearCookie(SESSION_COOKIE, { path: '/api/v1' }),
          },
        });
        return reply.code(result.status).send(result.body);
      },
    });

    function authorize(request: FastifyRequest): void {
      // A device route authenticates by the signature in its body, never by a session or token, so
      // it neither reads nor refreshes one (a stray cookie costs no session lookup or write).
      const caller: Caller =
        permission.kind === 'device'
          ? { kind: 'anonymous' }
          : authenticate(config.store, { cookie: request.cookies[SESSION_COOKIE], authorization: request.headers.authorization }, now().getTime());
      callers.set(request, caller);
      const studyId = (request.params as { studyId?: unknown }).studyId;
      const decision = decide(permission, caller, typeof studyId === 'string' ? studyId : undefined);
      config.onDecision?.(route, caller, decision);
      if (decision === 'unauthenticated') throw new HttpError('auth.required', 'sign in first');
      if (decision === 'forbidden') throw new HttpError('auth.forbidden', 'your role does not allow this');
      if (decision === 'hidden') throw new HttpError('not-found', 'no such object');
      const changesState = route.method !== 'GET';
      if (changesState && caller.kind === 'person' && caller.via === 'session' && caller.sessionTokenHash !== null) {
        const presented = request.headers[CSRF_HEADER];
        if (!csrfTokenMatches(config.store, caller.sessionTokenHash, typeof presented === 'string' ? presented : undefined)) {
          throw new HttpError('auth.csrf', 'missing or wrong CSRF token');
        }
      }
    }
  }

  const pruning = setInterval(() => {
    try {
      pruneProcessedEnvelopes(config.store);
    } catch (error) {
      app.log.error({ errorName: (error as Error).name }, 'pruning processed envelopes failed');
    }
  }, config.pruneIntervalMs ?? 5000);
  pruning.unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(pruning);
    done();
  });
  await app.ready();
  return app;
}
