import { createHash, timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import type { PricingCatalog } from '../catalog/snapshot.js';
import type { Database } from '../db/database.js';
import type { IdempotentCalls } from '../gateway/idempotent-calls.js';
import type { GatewayMetrics } from '../gateway/metrics.js';
import type { CallPipeline } from '../gateway/pipeline.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logging/logger.js';
import { registerLimitAdminRoutes } from './admin-limit-routes.js';
import { registerAccountAdminRoutes } from './admin-account-routes.js';
import { registerAdminPricingRoutes } from './admin-pricing-routes.js';
import { registerAdminUsageRoutes } from './admin-usage-routes.js';
import type { Authenticator } from './auth.js';
import { registerChatRoutes } from './chat-routes.js';
import { ConsoleAccess } from './console-access.js';
import { registerCustomerRoutes } from './console-customer-routes.js';
import { registerConsoleRoutes } from './console-routes.js';
import { ConsoleSessions, DEFAULT_SESSION_IDLE_MS, DEFAULT_SESSION_MAX_AGE_MS } from './console-sessions.js';
import { registerMediaRoutes } from './media-routes.js';
import { registerMessagesRoutes } from './messages-routes.js';
import { requestError } from './request-errors.js';
import { registerResponsesRoutes } from './responses-routes.js';
import { LazyRequestLogger } from './request-logger.js';
import { validationErrorBody } from './validation-errors.js';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import { errorBody, GatewayError, serviceUnavailable, shuttingDown } from '../gateway/errors.js';
import { clip, findInputProblem } from '../util/input-checks.js';
import type { CallReservations } from '../ledger/reservations.js';

export interface AppServices {
  database: Database;
  catalog: PricingCatalog;
  ledger: Ledger;
  /** An admin changed an account (status, terms, credits, keys): every instance drops what it cached of it. */
  onAccountsChanged(): Promise<void>;
  pipeline: CallPipeline;
  /**
   * This process's settled calls whose captures still linger before their batch: written before an admin
   * grant, adjustment or refund reads the ledger, so a refund of a call just answered here finds its charge.
   */
  settledCaptures?: Pick<CallReservations, 'flush'>;
  authenticator: Authenticator;
  idempotency: IdempotentCalls;
  metrics: GatewayMetrics;
  logger: Logger;
  http: Config['http'];
  /** `/metrics` on this app: open, behind a bearer key, or not at all (served on an address of its own). */
  metricsAccess: { kind: 'open' } | { kind: 'key'; key: string } | { kind: 'elsewhere' };
  /** The console's session lifetimes (config.console); where its build is, when not console/dist (tests). */
  console?: { sessionIdleMs: number; sessionMaxAgeMs: number; buildDirectory?: string };
  /** Extra admin routes (the price sync's), registered inside the admin scope. */
  adminPlugins?: Array<(app: FastifyInstance) => void>;
  version: string;
  /** What the admin routes take as now for caps' periods (the gateway's clock; tests control it). */
  clock?: () => number;
}

/** The HTTP surface: routes only, each a thin handler over the services (STYLE habit 11). */
export async function buildApp(services: AppServices): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and Fastify's logger type differ only in generics; it is the same object Fastify expects.
    loggerInstance: services.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    // No per-request log lines: usage records and metrics describe every call; logs are for events.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: services.http.bodyLimitBytes,
    // A client that sends its headers and then stalls is cut off instead of holding a connection forever
    // (Fastify's default is no limit): 408 after this long without the whole request.
    requestTimeout: services.http.requestTimeoutMs,
    // Node checks those timeouts every 30 s by default: a 30 s limit could hold a stalled client 60 s.
    http: {
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(services.http.requestTimeoutMs / 4))),
      headersTimeout: services.http.headersTimeoutMs,
    },
    keepAliveTimeout: services.http.keepAliveTimeoutMs,
    // Errors Node answers itself (431 headers too large, 408, malformed HTTP) in OpenAI's error shape too.
    clientErrorHandler,
    // Request ids are the gateway's own (x-tollgate-request-id); Fastify's are for its logs.
    genReqId: () => crypto.randomUUID(),
    // Requests that arrive while the server shuts down are refused by the hook below, in the API's error shape.
    return503OnClosing: false,
    // Fastify makes a logger per request; it becomes pino's child (request id bound) only if the request logs.
    childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(logger, bindings, options),
  });

  app.server.maxConnections = services.http.maxConnections;

  // Shutting down (SIGTERM): a request that still arrives on an open connection (pipelined behind a call in
  // flight, or sent as the drain began) is refused with a 503 the client may retry elsewhere, in OpenAI's error
  // shape, and its connection closed (Fastify sets that); the calls already in flight finish and are billed.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw shuttingDown();
  });
  // No NUL in a URL: PostgreSQL text cannot hold one, and no id or name contains it.
  app.addHook('onRequest', async (request) => {
    if (NUL_IN_URL.test(request.url)) {
      throw new GatewayError('invalid_request', 'invalid request: the URL contains a NUL character (%00)');
    }
  });
  // Bodies nest at most 64 levels; admin bodies (stored as given) hold no NUL, no string past 10,000 characters,
  // and no number a JSON parser has rounded (amounts are decimal strings).
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined || request.body === null || typeof request.body !== 'object') return;
    const admin = request.url.startsWith('/admin');
    const problem = findInputProblem(request.body, {
      maxDepth: 64,
      ...(admin ? { rejectNul: true, maxStringLength: 10_000, rejectInexactNumbers: true } : {}),
    });
    if (problem)
      throw new GatewayError('invalid_request', `invalid request: ${clip(problem.path)} ${problem.message}`, problem.path);
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'tollgate',
        version: services.version,
        description: 'An OpenAI-compatible LLM gateway that prices every call exactly and bills it from prepaid credits.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  /** A database that cannot be reached is a 503 the client may retry, whichever route saw it. */
  const unavailable = (error: unknown): GatewayError | undefined => {
    if (error instanceof GatewayError || !isDatabaseUnavailable(error)) return undefined;
    services.database.health.observe(error);
    return serviceUnavailable();
  };
  app.setErrorHandler((error: FastifyError | GatewayError, request, reply) => {
    error = unavailable(error) ?? error;
    if (error instanceof GatewayError) {
      services.metrics.observeRejection(error);
      return reply.code(error.status).headers(error.headers()).send(error.toBody());
    }
    const refused = requestError(error);
    if (refused) return reply.code(refused.status).send(refused.toBody());
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error', 'internal error in the gateway; the call was not charged'));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'Liveness (the process answers) and the catalog snapshot in use' } },
    async () => ({
      status: 'ok',
      catalog: { models: services.catalog.modelCount, loaded_at: services.catalog.loadedAt?.toISOString() ?? null },
    }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary:
          'Readiness: 200 when calls can be billed (database reachable, notifications heard, catalog loaded), else 503 with the reasons',
      },
    },
    async (_request, reply) => {
      const checks = {
        ...services.database.health.checks(),
        catalog: services.catalog.loadedAt ? { ok: true } : { ok: false, detail: 'no price snapshot loaded yet' },
      };
      const ready = Object.values(checks).every((check) => check.ok);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
  const access = services.metricsAccess;
  if (access.kind !== 'elsewhere') {
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: access.kind === 'key' ? 'Prometheus metrics (Authorization: Bearer <metrics key>)' : 'Prometheus metrics',
        },
      },
      async (request, reply) => {
        if (access.kind === 'key' && !bearerMatches(request.headers.authorization, access.key)) {
          throw new GatewayError('invalid_api_key', 'metrics need the metrics key: send it as "Authorization: Bearer <key>"');
        }
        const rendered = await services.metrics.render();
        return reply.type(rendered.contentType).send(rendered.body);
      },
    );
  }

  registerChatRoutes(app, services);
  registerResponsesRoutes(app, services);
  await registerMessagesRoutes(app, { ...services, unavailable });
  await registerMediaRoutes(app, services);

  const consoleAccess = new ConsoleAccess({
    db: services.database.db,
    authenticator: services.authenticator,
    sessions: new ConsoleSessions(services.database.db, {
      idleMs: services.console?.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS,
      maxAgeMs: services.console?.sessionMaxAgeMs ?? DEFAULT_SESSION_MAX_AGE_MS,
    }),
  });
  await registerConsoleRoutes(app, {
    access: consoleAccess,
    ledger: services.ledger,
    buildDirectory: services.console?.buildDirectory,
  });
  registerCustomerRoutes(app, { access: consoleAccess, ledger: services.ledger, db: services.database.db });

  await app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      if (await consoleAccess.admitsAdmin(request)) return;
      await services.authenticator.requireAdmin(request.headers.authorization);
    });
    registerAdminPricingRoutes(admin, services);
    registerAccountAdminRoutes(admin, {
      ledger: services.ledger,
      db: services.database.db,
      ...(services.settledCaptures ? { settledCaptures: services.settledCaptures } : {}),
      databaseHealth: services.database.health,
    });
    registerLimitAdminRoutes(admin, { db: services.database.db, ...(services.clock ? { now: services.clock } : {}) });
    registerAdminUsageRoutes(admin, { db: services.database.db });
    admin.addHook('onResponse', async (request) => {
      // An admin may have changed an account's billing settings or status, a key's controls or a limit: every
      // instance drops the cached ones, and the account's next calls reserve from a fresh lease, under the
      // account as it is now.
      if (request.method !== 'GET' && /^\/admin\/(accounts|keys|limits)/.test(request.url)) {
        void services.onAccountsChanged().catch((error: unknown) => {
          services.logger.warn({ err: error }, 'could not announce an account change to the other instances');
        });
      }
    });
    for (const plugin of services.adminPlugins ?? []) plugin(admin);
  });

  return app;
}

const NUL_IN_URL = /%00|\u0000/i;

function bearerMatches(authorization: string | undefined, key: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (!presented) return false;
  const [a, b] = [createHash('sha256').update(presented).digest(), createHash('sha256').update(key).digest()];
  return timingSafeEqual(a, b);
}

/**
 * What Node's HTTP parser refuses before any route runs (Fastify's default answers in its own shape): a 431
 * for headers past the size limit, a 408 for a request not received in time, a 400 for malformed HTTP.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are larger than this server accepts (16 KiB in all)']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in full in time; send the body without pausing']
        : [400, 'invalid_request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', code, param: null } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
