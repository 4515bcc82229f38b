import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.js';
import { monthOf } from '../db/usage-partitions.js';
import { accountStatement, statementCsv, statementJson } from '../reports/account-statement.js';
import { resolveFilters } from '../reports/report-filters.js';
import { parseGroupBy, parseRange, parseTime } from '../reports/report-request.js';
import { GROUP_KEYS } from '../reports/summary-plan.js';
import { summaryCsv, summaryJson } from '../reports/summary-json.js';
import { listUsageRecords, MAX_RECORDS_PAGE, RECORD_STATUSES, type RecordStatus } from '../reports/usage-records.js';
import { summarizeUsage } from '../reports/usage-summary.js';

const tags = ['customer: account'];
const security = [{ bearer: [] }];

/**
 * A customer's own usage: the report API's summary, request log and monthly statement with the account
 * fixed to the caller's (its key's or its console session's), whatever the query names. Registered inside
 * the customer scope of console-customer-routes.ts, which resolves `account(request)`.
 */
export function registerCustomerUsageRoutes(
  scope: FastifyInstance,
  services: { db: Db; account: (request: FastifyRequest) => string },
): void {
  const { db, account } = services;
  const filterProperties = {
    key: { type: 'string', description: 'one of your API keys, by id or prefix' },
    model: { type: 'string' },
    provider: { type: 'string' },
    end_user: { type: 'string', description: "the request's OpenAI user field" },
  } as const;
  type Filters = { key?: string; model?: string; provider?: string; end_user?: string };

  scope.get<{ Querystring: Filters & { group_by?: string; from?: string; to?: string; format?: 'json' | 'csv' } }>(
    '/account/usage/summary',
    {
      schema: {
        tags,
        security,
        summary: 'Your usage summed by hour, day, month, key, end user, model and/or provider (as /admin/usage/summary)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            group_by: { type: 'string', description: `comma list of ${GROUP_KEYS.join(', ')}` },
            from: { type: 'string' },
            to: { type: 'string' },
            ...filterProperties,
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
          },
        },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const filters = await resolveFilters(db, { ...query, account: account(request) });
      const json = await summaryJson(
        db,
        await summarizeUsage(db, { groupBy: parseGroupBy(query.group_by), ...parseRange(query, new Date()), filters }),
      );
      if (query.format === 'csv') return reply.type('text/csv; charset=utf-8').send(summaryCsv(json));
      return json;
    },
  );

  scope.get<{ Querystring: Filters & { cursor?: string; limit?: number; status?: RecordStatus; from?: string; to?: string } }>(
    '/account/usage/records',
    {
      schema: {
        tags,
        security,
        summary: 'Your calls, newest first, each with its cost breakdown (as /admin/usage/records)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            cursor: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_RECORDS_PAGE, default: 50 },
            status: { type: 'string', enum: [...RECORD_STATUSES] },
            from: { type: 'string' },
            to: { type: 'string' },
            ...filterProperties,
          },
        },
      },
    },
    async (request) => {
      const query = request.query;
      return listUsageRecords(db, {
        filters: await resolveFilters(db, { ...query, account: account(request) }),
        status: query.status,
        from: query.from === undefined ? undefined : parseTime(query.from, 'from'),
        to: query.to === undefined ? undefined : parseTime(query.to, 'to'),
        limit: query.limit ?? 50,
        cursor: query.cursor,
      });
    },
  );

  scope.get<{ Querystring: { month?: string; format?: 'json' | 'csv' } }>(
    '/account/statement',
    {
      schema: {
        tags,
        security,
        summary:
          'Your monthly statement from the ledger: opening balance, grants, refunds, adjustments, charges by model, closing balance',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            month: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}$', description: 'YYYY-MM (UTC)' },
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
          },
        },
      },
    },
    async (request, reply) => {
      const month = request.query.month ?? monthOf(new Date());
      const statement = await accountStatement(db, account(request), month);
      if (request.query.format === 'csv') return reply.type('text/csv; charset=utf-8').send(statementCsv(statement));
      return statementJson(statement);
    },
  );
}
