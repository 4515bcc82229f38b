import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.js';
import { InvalidCursorError } from '../db/keyset-pages.js';
import { GatewayError } from '../gateway/errors.js';
import { pageEntries } from '../ledger/account-pages.js';
import { billingTerms } from '../ledger/accounts.js';
import { entriesPageOptions, entriesQuerySchema, errorSchema, pageSchema } from '../ledger/admin-request-schemas.js';
import { listApiKeys } from '../ledger/api-keys.js';
import type { Ledger } from '../ledger/ledger.js';
import { accountJson, accountJsonSchema, entryJson, entryJsonSchema, keyJson, keyJsonSchema } from '../ledger/ledger-json.js';
import type { ConsoleAccess } from './console-access.js';
import { registerCustomerUsageRoutes } from './console-customer-usage-routes.js';

const tags = ['customer: account'];
const security = [{ bearer: [] }];
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema } as const;

/**
 * Read-only routes a customer uses to see its own account, under `/account`: authorised by one of the
 * account's user keys (`Authorization: Bearer`) or a customer's console session, and scoped to that
 * account whatever the request asks. An admin key is refused here (operators use /admin/accounts/<account>).
 */
export function registerCustomerRoutes(app: FastifyInstance, services: { access: ConsoleAccess; ledger: Ledger; db: Db }): void {
  const { access, ledger, db } = services;
  const accountOf = new WeakMap<FastifyRequest, string>();

  void app.register(async (scope) => {
    scope.addHook('onRequest', async (request) => {
      accountOf.set(request, await access.customerAccount(request));
    });
    const account = (request: FastifyRequest) => accountOf.get(request)!;

    scope.get(
      '/account',
      {
        schema: {
          tags,
          security,
          summary: 'Your account: balance, available credits, open holds, and the wallet your calls draw on',
          description:
            "`wallet` is the account whose credits pay your calls and what they can spend now (`available`, in the wallet's " +
            "unit): your own account, or for a team account the root of its chain, whose credits its teams share (a team's " +
            'own `balance` and `available` stay 0). Spend caps and rate limits may refuse a call sooner.',
          response: {
            200: {
              type: 'object',
              properties: {
                account: accountJsonSchema,
                open_holds: {
                  type: 'object',
                  properties: { count: { type: 'integer' }, total: { type: 'string', description: 'exact decimal' } },
                },
                wallet: {
                  type: 'object',
                  description: 'the account whose credits pay your calls: yours, or for a team account its wallet',
                  properties: {
                    id: { type: 'string' },
                    name: { type: 'string' },
                    mode: { type: 'string', enum: ['consumption_usd', 'consumption_tokens', 'job_based'] },
                    unit: { type: 'string', enum: ['usd', 'tokens'] },
                    available: { type: 'string', description: 'exact decimal: what your calls can spend now' },
                    shared: { type: 'boolean', description: "true for a team account: the wallet is another account's" },
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const { account: found, wallet } = await billingTerms(db, account(request));
        const holds = await ledger.openHolds(found.id);
        return {
          account: accountJson(found),
          open_holds: { count: holds.count, total: holds.total.toString() },
          // A team account has no credits of its own: what it can spend is its wallet's available.
          wallet: {
            id: wallet.id,
            name: wallet.name,
            mode: wallet.mode,
            unit: wallet.unit,
            available: wallet.available.toString(),
            shared: wallet.id !== found.id,
          },
        };
      },
    );

    scope.get<{ Querystring: { limit?: number; cursor?: string; kind?: string } }>(
      '/account/entries',
      {
        schema: {
          tags,
          security,
          summary: 'Your ledger entries (grants, charges, refunds...), newest first, a page at a time',
          querystring: entriesQuerySchema,
          response: { 200: pageSchema(entryJsonSchema), ...errors },
        },
      },
      async (request) => {
        try {
          const page = await pageEntries(db, account(request), entriesPageOptions(request.query));
          return { data: page.data.map(entryJson), next_cursor: page.nextCursor };
        } catch (error) {
          if (error instanceof InvalidCursorError) throw new GatewayError('invalid_request', error.message, 'cursor');
          throw error;
        }
      },
    );

    registerCustomerUsageRoutes(scope, { db, account });

    scope.get(
      '/account/keys',
      {
        schema: {
          tags,
          security,
          summary: "Your account's API keys (prefixes only: keys are never stored)",
          response: { 200: { type: 'object', properties: { data: { type: 'array', items: keyJsonSchema } } }, ...errors },
        },
      },
      async (request) => ({ data: (await listApiKeys(db, account(request))).map(keyJson) }),
    );
  });
}
