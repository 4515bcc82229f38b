import type { FastifyInstance } from 'fastify';
import { InvalidCursorError, MAX_PAGE_SIZE } from '../db/keyset-pages.js';
import { GatewayError } from '../gateway/errors.js';
import { HeldBackDecisionError } from './held-back-changes.js';
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

const runParams = {
  type: 'object',
  required: ['run'],
  properties: { run: { type: 'integer', minimum: 1 } },
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

  admin.get<{ Querystring: { limit?: number; cursor?: string; source?: string } }>(
    '/admin/pricing/sync/runs',
    {
      schema: {
        tags,
        summary: 'Sync runs, newest first, a page at a time: each with its summary and its undecided held-back changes',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 },
            cursor: { type: 'string', description: 'the next_cursor of the previous page' },
            source: { type: 'string', enum: [...SYNC_SOURCES] },
          },
        },
        response: { 200: { type: 'object', additionalProperties: true }, 400: errorSchema },
      },
    },
    async (request) => {
      const { limit = 50, cursor, source } = request.query;
      try {
        const page = await sync.runs({ limit, ...(cursor !== undefined ? { cursor } : {}), ...(source ? { source } : {}) });
        return { data: page.data, next_cursor: page.nextCursor };
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new GatewayError('invalid_request', error.message, 'cursor');
        throw error;
      }
    },
  );

  admin.get<{ Params: { run: number } }>(
    '/admin/pricing/sync/runs/:run',
    {
      schema: {
        tags,
        summary: "One sync run's whole result: applied changes, held-back changes with their decisions, new and gone models",
        params: runParams,
        // A run still going (or interrupted) has no result yet, only its row: both shapes pass as they are.
        response: { 200: { type: 'object', additionalProperties: true }, 404: errorSchema },
      },
    },
    async (request) => {
      const run = await sync.run(request.params.run);
      if (!run) throw new GatewayError('not_found', `no sync run ${request.params.run}`);
      return run;
    },
  );

  admin.get(
    '/admin/pricing/sync/held-back',
    {
      schema: {
        tags,
        summary: 'Held-back price changes waiting for an operator (newest proposal per model), to approve or reject',
        response: {
          200: { type: 'object', properties: { data: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
        },
      },
    },
    async () => ({ data: await sync.pendingHeldBack() }),
  );

  for (const action of ['approve', 'reject'] as const) {
    admin.post<{ Params: { run: number; index: number }; Body: { note?: string } | undefined }>(
      `/admin/pricing/sync/runs/:run/held-back/:index/${action}`,
      {
        schema: {
          tags,
          summary:
            action === 'approve'
              ? "Approve a held-back change: its proposed price becomes a new version effective now (refused if the model's price changed since the run)"
              : 'Reject a held-back change: nothing is written but the decision',
          params: {
            type: 'object',
            required: ['run', 'index'],
            properties: { run: { type: 'integer', minimum: 1 }, index: { type: 'integer', minimum: 0 } },
          },
          body: {
            type: ['object', 'null'],
            additionalProperties: false,
            properties: { note: { type: 'string', maxLength: 1000 } },
          },
          response: {
            200: { type: 'object', additionalProperties: true },
            404: errorSchema,
            409: errorSchema,
          },
        },
      },
      async (request) => {
        try {
          const note = request.body?.note;
          return await sync.decideHeldBack({
            runId: request.params.run,
            index: request.params.index,
            action,
            ...(note ? { note } : {}),
          });
        } catch (error) {
          if (error instanceof HeldBackDecisionError) {
            throw new GatewayError(
              error.status === 404 ? 'not_found' : 'invalid_request',
              error.message,
              undefined,
              error.status,
            );
          }
          throw error;
        }
      },
    );
  }

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
