import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/database.js';
import { monthOf } from '../db/usage-partitions.js';
import { accountStatement, statementCsv, statementJson } from '../reports/account-statement.js';
import { resolveFilters } from '../reports/report-filters.js';
import { parseGroupBy, parseRange, parseTime, type ReportFilterInput } from '../reports/report-request.js';
import { GROUP_KEYS } from '../reports/summary-plan.js';
import { summaryCsv, summaryJson } from '../reports/summary-json.js';
import { COUNTER_NAMES } from '../reports/usage-counters.js';
import { listUsageRecords, MAX_RECORDS_PAGE, RECORD_STATUSES, type RecordStatus } from '../reports/usage-records.js';
import { summarizeUsage } from '../reports/usage-summary.js';

/**
 * The report API (the parent scope checks the admin key): usage summaries from the rollups, the request
 * log a page at a time, and an account's monthly statement. Thin handlers over src/reports/, which the CLI's
 * `tollgate usage` and `tollgate accounts statement` call too.
 */
export function registerAdminUsageRoutes(app: FastifyInstance, services: { db: Db }): void {
  const { db } = services;
  const tags = ['admin: usage'];

  app.get<{ Querystring: ReportFilterInput & { group_by?: string; from?: string; to?: string; format?: 'json' | 'csv' } }>(
    '/admin/usage/summary',
    {
      schema: {
        tags,
        summary: 'Usage summed by hour, day, month, account, key, end user, model and/or provider, from the rollups',
        description:
          'Rows are ordered by their time keys, then by charge (largest first). Money is exact decimal text; token ' +
          'counts are numbers (text past 2^53). Times are UTC: hour as an ISO instant, day YYYY-MM-DD, month YYYY-MM. ' +
          'from defaults to the start of the month of to, to to now. format=csv answers RFC 4180 CSV with a header row.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            group_by: { type: 'string', description: `comma list of ${GROUP_KEYS.join(', ')}` },
            ...rangeProperties,
            ...filterProperties,
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              group_by: { type: 'array', items: { type: 'string', enum: [...GROUP_KEYS] } },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              rows: {
                type: 'array',
                items: {
                  type: 'object',
                  description: 'the group keys (and account_name, key_prefix beside account and key), then the counters',
                  additionalProperties: { type: ['string', 'number', 'null'] },
                },
              },
              totals: { type: 'object', properties: counterProperties },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const groupBy = parseGroupBy(query.group_by);
      const range = parseRange(query, new Date());
      const filters = await resolveFilters(db, query);
      const json = await summaryJson(db, await summarizeUsage(db, { groupBy, ...range, filters }));
      if (query.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="usage-${json.from.slice(0, 10)}-${json.to.slice(0, 10)}.csv"`)
          .send(summaryCsv(json));
      }
      return json;
    },
  );

  app.get<{
    Querystring: ReportFilterInput & { cursor?: string; limit?: number; status?: RecordStatus; from?: string; to?: string };
  }>(
    '/admin/usage/records',
    {
      schema: {
        tags,
        summary: 'The request log, newest first: each call with its cost breakdown, price version and ledger entry',
        description: 'Keyset pagination: pass next_cursor as cursor for the next page; null when there is none.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            cursor: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: MAX_RECORDS_PAGE, default: 50 },
            status: { type: 'string', enum: [...RECORD_STATUSES] },
            ...rangeProperties,
            ...filterProperties,
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              data: { type: 'array', items: { type: 'object', additionalProperties: true } },
              next_cursor: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    async (request) => {
      const query = request.query;
      return listUsageRecords(db, {
        filters: await resolveFilters(db, query),
        status: query.status,
        from: query.from === undefined ? undefined : parseTime(query.from, 'from'),
        to: query.to === undefined ? undefined : parseTime(query.to, 'to'),
        limit: query.limit ?? 50,
        cursor: query.cursor,
      });
    },
  );

  app.get<{ Params: { account: string }; Querystring: { month?: string; format?: 'json' | 'csv' } }>(
    '/admin/accounts/:account/statement',
    {
      schema: {
        tags,
        summary:
          "An account's monthly statement: opening balance, grants, refunds, adjustments, charges by model, closing balance",
        description: 'From the ledger entries themselves, so it equals the ledger. month defaults to the current UTC month.',
        params: { type: 'object', required: ['account'], properties: { account: { type: 'string', description: 'id or name' } } },
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
      const statement = await accountStatement(db, request.params.account, month);
      if (request.query.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="statement-${statement.account.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${month}.csv"`,
          )
          .send(statementCsv(statement));
      }
      return statementJson(statement);
    },
  );
}

const rangeProperties = {
  from: { type: 'string', description: 'ISO time, inclusive' },
  to: { type: 'string', description: 'ISO time, exclusive' },
} as const;

const filterProperties = {
  account: { type: 'string', description: 'account id or name' },
  key: { type: 'string', description: 'API key id or prefix' },
  model: { type: 'string', description: 'catalog model id (or the requested name of a call no catalog model priced)' },
  provider: { type: 'string' },
  end_user: { type: 'string', description: "the request's OpenAI user field" },
} as const;

const counterProperties = Object.fromEntries(
  COUNTER_NAMES.map((name) => [
    name,
    name === 'provider_cost' || name === 'markup' || name === 'charge'
      ? { type: 'string', description: 'USD, exact decimal' }
      : { type: ['integer', 'string'] },
  ]),
);
