import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../gateway/errors.js';
import { SyncBusyError, SyncRequestError, SYNC_SOURCES } from './run-sync.js';
import type { PriceSync } from './sync-service.js';

const tags = ['admin: pricing sync'];

/** A sync result: its fields are documented on SyncResult (src/sync/run-sync.ts); money is exact decimal text. */
const syncResultSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    runId: { type: 'integer' },
    source: { type: 'string' },
    url: { type: 'string' },
    mode: { type: 'string', enum: ['dry-run', 'execute'] },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
    error: { type: ['string', 'null'] },
    startedAt: { type: 'string' },
    finishedAt: { type: 'string' },
    summary: { type: 'object', additionalProperties: { type: 'integer' } },
    changes: { type: 'array', items: { type: 'object', additionalProperties: true } },
    heldBack: { type: 'array', items: { type: 'object', additionalProperties: true } },
    newModels: { type: 'array', items: { type: 'object', additionalProperties: true } },
    gone: { type: 'array', items: { type: 'string' } },
    otherSource: { type: 'array', items: { type: 'object', additionalProperties: true } },
    invalid: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;

const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        code: { type: 'string' },
        param: { type: ['string', 'null'] },
      },
    },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    kind: { type: 'string' },
    message: { type: 'string' },
    details: {},
    createdAt: { type: 'string' },
    deliveredAt: { type: ['string', 'null'] },
  },
} as const;

/** GET/POST /admin/pricing/sync and GET /admin/alerts; the parent scope has already checked the admin key. */
export function registerSyncRoutes(admin: FastifyInstance, sync: PriceSync): void {
  admin.get(
    '/admin/pricing/sync',
    {
      schema: {
        tags,
        summary: 'Price sync status: the schedule, its next run, whether a run is under way, the last result per source',
        response: {
          200: {
            type: 'object',
            properties: {
              cron: { type: ['string', 'null'] },
              nextRun: { type: ['string', 'null'] },
              running: { type: 'boolean' },
              sources: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    source: { type: 'string' },
                    url: { type: ['string', 'null'] },
                    scheduled: { type: 'boolean' },
                    lastResult: { anyOf: [{ type: 'null' }, syncResultSchema] },
                  },
                },
              },
            },
          },
        },
      },
    },
    async () => sync.status(),
  );

  admin.post(
    '/admin/pricing/sync',
    {
      schema: {
        tags,
        summary:
          'Run a price sync now: fetch a feed, diff it with the catalog, and with execute=true apply the changes that pass the guards',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            source: { type: 'string', enum: [...SYNC_SOURCES] },
            url: { type: 'string', minLength: 1 },
            execute: { type: 'boolean', default: false },
            register_new_models: { type: 'boolean', default: false },
            adopt_other_sources: { type: 'boolean', default: false },
          },
        },
        response: { 200: syncResultSchema, 400: errorSchema, 409: errorSchema },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as {
        source?: string;
        url?: string;
        execute?: boolean;
        register_new_models?: boolean;
        adopt_other_sources?: boolean;
      };
      try {
        return await sync.runNow({
          ...(body.source ? { source: body.source } : {}),
          ...(body.url ? { url: body.url } : {}),
          execute: body.execute ?? false,
          registerNewModels: body.register_new_models ?? false,
          adoptOtherSources: body.adopt_other_sources ?? false,
        });
      } catch (error) {
        if (error instanceof SyncRequestError) throw new GatewayError('invalid_request', error.message);
        if (error instanceof SyncBusyError) throw new GatewayError('invalid_request', error.message, undefined, 409);
        throw error;
      }
    },
  );

  admin.get(
    '/admin/alerts',
    {
      schema: {
        tags,
        summary: 'Operator alerts, newest first: active models without a price, held-back price changes, failed syncs',
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            kind: { type: 'string', enum: ['missing_price', 'held_back_change', 'sync_failed'] },
          },
        },
        response: { 200: { type: 'object', properties: { data: { type: 'array', items: alertSchema } } } },
      },
    },
    async (request) => {
      const query = request.query as { limit?: number; kind?: string };
      return { data: await sync.alerts.list({ limit: query.limit ?? 100, ...(query.kind ? { kind: query.kind } : {}) }) };
    },
  );
}
