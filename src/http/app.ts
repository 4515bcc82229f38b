import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { PricingCatalog } from '../catalog/snapshot.js';
import type { Database } from '../db/database.js';
import type { IdempotentCalls } from '../gateway/idempotent-calls.js';
import type { GatewayMetrics } from '../gateway/metrics.js';
import type { CallPipeline } from '../gateway/pipeline.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logging/logger.js';
import { registerAccountAdminRoutes } from './admin-account-routes.js';
import { registerAdminPricingRoutes } from './admin-pricing-routes.js';
import type { Authenticator } from './auth.js';
import { registerChatRoutes } from './chat-routes.js';
import { LazyRequestLogger } from './request-logger.js';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import { errorBody, GatewayError, serviceUnavailable } from '../gateway/errors.js';

export interface AppServices {
  database: Database;
  catalog: PricingCatalog;
  ledger: Ledger;
  /** An admin changed an account (status, terms, credits, keys): every instance drops what it cached of it. */
  onAccountsChanged(): Promise<void>;
  pipeline: CallPipeline;
  authenticator: Authenticator;
  idempotency: IdempotentCalls;
  metrics: GatewayMetrics;
  logger: Logger;
  bodyLimitBytes: number;
  /** Extra admin routes (the price sync's), registered inside the admin scope. */
  adminPlugins?: Array<(app: FastifyInstance) => void>;
  version: string;
}

/** The HTTP surface: routes only, each a thin handler over the services (STYLE habit 11). */
export async function buildApp(services: AppServices): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and Fastify's logger type differ only in generics; it is the same object Fastify expects.
    loggerInstance: services.logger.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    // No per-request log lines: usage records and metrics describe every call; logs are for events.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: services.bodyLimitBytes,
    // Request ids are the gateway's own (x-tollgate-request-id); Fastify's are for its logs.
    genReqId: () => crypto.randomUUID(),
    // Fastify makes a logger per request; it becomes pino's child (request id bound) only if the request logs.
    childLoggerFactory: (logger, bindings, options) => new LazyRequestLogger(logger, bindings, options),
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

  app.setErrorHandler((error: FastifyError | GatewayError, request, reply) => {
    if (!(error instanceof GatewayError) && isDatabaseUnavailable(error)) {
      services.database.health.observe(error);
      error = serviceUnavailable();
    }
    if (error instanceof GatewayError) {
      services.metrics.observeRejection(error);
      return reply.code(error.status).headers(error.headers()).send(error.toBody());
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return reply.code(400).send(errorBody('invalid_request', `the request body is not valid JSON: ${error.message}`));
    }
    if (error.validation) return reply.code(400).send(errorBody('invalid_request', `invalid request: ${error.message}`));
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send(errorBody('invalid_request', error.message));
    }
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
  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const rendered = await services.metrics.render();
    return reply.type(rendered.contentType).send(rendered.body);
  });

  registerChatRoutes(app, services);

  await app.register(async (admin) => {
    admin.addHook('onRequest', async (request) => {
      await services.authenticator.requireAdmin(request.headers.authorization);
    });
    registerAdminPricingRoutes(admin, services);
    registerAccountAdminRoutes(admin, { ledger: services.ledger, db: services.database.db });
    admin.addHook('onResponse', async (request) => {
      // An admin may have changed an account's billing settings or status: every instance drops the cached
      // ones, and the account's next calls reserve from a fresh lease, under the account as it is now.
      if (request.method !== 'GET' && request.url.startsWith('/admin/accounts')) {
        void services.onAccountsChanged().catch((error: unknown) => {
          services.logger.warn({ err: error }, 'could not announce an account change to the other instances');
        });
      }
    });
    for (const plugin of services.adminPlugins ?? []) plugin(admin);
  });

  return app;
}
