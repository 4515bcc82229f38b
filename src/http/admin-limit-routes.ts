import type { FastifyError, FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { errorResponses } from '../ledger/admin-request-schemas.js';
import {
  limitChangesOf,
  limitsReport,
  limitsReportJsonSchema,
  resolveLimitTarget,
  setLimits,
  setLimitsBodySchema,
  type SetLimitsBody,
} from '../ledger/limits.js';
import { ledgerErrorReply } from './admin-account-routes.js';

const targetParams = {
  type: 'object',
  required: ['target'],
  properties: {
    target: {
      type: 'string',
      minLength: 1,
      maxLength: 500,
      description: 'an account (id or name), a key (its prefix, tg_...), or an end user of an account as account:end-user',
    },
  },
} as const;

/**
 * `/admin/limits/:target`: the caps and rate limits of an account, a key or an end user, and the cap's use in
 * its current period with its next reset. The same calls as `tollgate limits set|show`.
 */
export function registerLimitAdminRoutes(app: FastifyInstance, services: { db: Kysely<Schema>; now?: () => number }): void {
  const { db } = services;
  const now = services.now ?? Date.now;
  const tags = ['admin: limits'];
  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, _request, reply) => ledgerErrorReply(error, reply));

    scope.get<{ Params: { target: string } }>(
      '/admin/limits/:target',
      {
        schema: {
          tags,
          summary: "A target's caps and rate limits, and its cap's use in the current period with the next reset",
          params: targetParams,
          response: { 200: limitsReportJsonSchema, ...errorResponses },
        },
      },
      async (request) => limitsReport(db, await resolveLimitTarget(db, request.params.target), new Date(now())),
    );

    scope.put<{ Params: { target: string }; Body: SetLimitsBody }>(
      '/admin/limits/:target',
      {
        schema: {
          tags,
          summary: "Sets a target's caps and rate limits: fields given change, the rest stay, null clears one",
          params: targetParams,
          body: setLimitsBodySchema,
          response: { 200: limitsReportJsonSchema, ...errorResponses },
        },
      },
      async (request) => {
        const target = await resolveLimitTarget(db, request.params.target);
        await setLimits(db, target, limitChangesOf(request.body));
        return limitsReport(db, target, new Date(now()));
      },
    );
  });
}
