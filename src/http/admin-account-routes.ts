import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import type { DatabaseHealth } from '../db/database-health.js';
import type { BudgetMode, Schema } from '../db/schema.js';
import { InvalidCursorError, MAX_PAGE_SIZE } from '../db/keyset-pages.js';
import { pageAccounts, pageEntries } from '../ledger/account-pages.js';
import { createApiKey, listApiKeys, revokeApiKey, updateApiKey, type KeyChanges, type KeyScope } from '../ledger/api-keys.js';
import { LedgerError } from '../ledger/errors.js';
import type { AccountChanges, Ledger } from '../ledger/ledger.js';
import type { CallReservations } from '../ledger/reservations.js';
import {
  accountJson,
  accountJsonSchema,
  createdKeyJsonSchema,
  entryJson,
  entryJsonSchema,
  keyJson,
  keyJsonSchema,
  verificationJson,
  verificationJsonSchema,
} from '../ledger/ledger-json.js';
import {
  accountChangesBodySchema,
  accountParams,
  createAccountBodySchema,
  decimal,
  entriesPageOptions,
  entriesQuerySchema,
  errorResponses,
  errorSchema,
  keyControlsProperties,
  operationBody,
  operationResponse,
  pageSchema,
  unsignedDecimal,
  type OperationBody,
} from '../ledger/admin-request-schemas.js';
import { Decimal } from '../money/decimal.js';
import { validationErrorBody } from './validation-errors.js';
import { settledWithin } from '../util/settled-within.js';

/**
 * The admin routes' answer to a ledger refusal (its status, code and field) or a request that fails its
 * schema (400 naming the field); any other error goes on to the app's handler.
 */
export function ledgerErrorReply(error: FastifyError, reply: FastifyReply): FastifyReply {
  if (error instanceof LedgerError) {
    return reply
      .code(error.statusCode)
      .send({ error: { message: error.message, type: error.type, code: error.code, param: error.param ?? null } });
  }
  if (error.validation) return reply.code(400).send(validationErrorBody(error));
  throw error;
}

/**
 * Admin routes for accounts, credits, keys and ledger verification. The parent scope checks the admin key;
 * these handlers only translate HTTP to ledger calls. Amounts travel as decimal strings both ways.
 */
export function registerAccountAdminRoutes(
  app: FastifyInstance,
  services: {
    ledger: Ledger;
    db: Kysely<Schema>;
    /** Written before a grant, adjustment or refund reads the ledger (see AppServices.settledCaptures). */
    settledCaptures?: Pick<CallReservations, 'flush'>;
    /**
     * Whether the database answers: an operation waits for the captures while it does, not for the retries of
     * an outage (captures the database cannot take are retried until it is back).
     */
    databaseHealth?: Pick<DatabaseHealth, 'isReachable' | 'onChange'>;
    /** The longest an operation waits for them all the same (default 30 s). */
    settledCapturesWaitMs?: number;
  },
): void {
  const { ledger, db } = services;
  const tags = ['admin: accounts'];

  // An encapsulated scope, so the error handler below applies to these routes only.
  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error instanceof InvalidCursorError) {
        return reply
          .code(400)
          .send({ error: { message: error.message, type: 'invalid_request_error', code: 'invalid_request', param: 'cursor' } });
      }
      return ledgerErrorReply(error, reply);
    });

    scope.post<{
      Body: {
        name: string;
        mode: BudgetMode;
        credits?: string;
        job_price?: string;
        markup_percent?: string;
        markup_fixed_fee?: string;
        overdraft_limit?: string;
        parent?: string;
        low_balance_alert?: string;
      };
    }>(
      '/admin/accounts',
      {
        schema: {
          tags,
          summary: 'Create an account with its first user key (shown once) and initial credits',
          body: createAccountBodySchema,
          response: {
            201: { type: 'object', properties: { account: accountJsonSchema, api_key: createdKeyJsonSchema } },
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const { account, apiKey } = await ledger.createAccount({
          name: body.name,
          mode: body.mode,
          credits: optional(body.credits),
          jobPrice: optional(body.job_price),
          markupPercent: optional(body.markup_percent),
          markupFixedFee: optional(body.markup_fixed_fee),
          overdraftLimit: optional(body.overdraft_limit),
          ...(body.parent !== undefined ? { parent: body.parent } : {}),
          lowBalanceAlert: optional(body.low_balance_alert),
        });
        return reply.code(201).send({ account: accountJson(account), api_key: apiKey });
      },
    );

    scope.get<{ Querystring: { limit?: number; cursor?: string; search?: string; status?: 'active' | 'suspended' } }>(
      '/admin/accounts',
      {
        schema: {
          tags,
          summary: 'Accounts by name with their balance and available credits, a page at a time',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 100 },
              cursor: { type: 'string', description: 'the next_cursor of the previous page' },
              search: { type: 'string', description: 'part of the name (any case), or the whole id' },
              status: { type: 'string', enum: ['active', 'suspended'] },
            },
          },
          response: { 200: pageSchema(accountJsonSchema), 400: errorSchema },
        },
      },
      async (request) => {
        const { limit = 100, cursor, search, status } = request.query;
        const page = await pageAccounts(db, {
          limit,
          ...(cursor !== undefined ? { cursor } : {}),
          ...(search ? { search } : {}),
          ...(status ? { status } : {}),
        });
        return { data: page.data.map(accountJson), next_cursor: page.nextCursor };
      },
    );

    scope.get<{ Params: { account: string }; Querystring: { limit?: number; cursor?: string; kind?: string } }>(
      '/admin/accounts/:account/entries',
      {
        schema: {
          tags,
          summary: "The account's ledger entries, newest first, a page at a time",
          params: accountParams,
          querystring: entriesQuerySchema,
          response: { 200: pageSchema(entryJsonSchema), 400: errorSchema, 404: errorSchema },
        },
      },
      async (request) => {
        const page = await pageEntries(db, request.params.account, entriesPageOptions(request.query));
        return { data: page.data.map(entryJson), next_cursor: page.nextCursor };
      },
    );

    scope.get<{ Params: { account: string }; Querystring: { limit?: number } }>(
      '/admin/accounts/:account',
      {
        schema: {
          tags,
          summary: 'One account: balances, open holds and its most recent ledger entries',
          params: accountParams,
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 20 } } },
          response: {
            200: {
              type: 'object',
              properties: {
                account: accountJsonSchema,
                open_holds: { type: 'object', properties: { count: { type: 'integer' }, total: decimal } },
                entries: { type: 'array', items: entryJsonSchema },
              },
            },
            404: errorSchema,
          },
        },
      },
      async (request) => {
        const account = await ledger.getAccount(request.params.account);
        const holds = await ledger.openHolds(account.id);
        const entries = await ledger.entries(account.id, { limit: request.query.limit ?? 20 });
        return {
          account: accountJson(account),
          open_holds: { count: holds.count, total: holds.total.toString() },
          entries: entries.map(entryJson),
        };
      },
    );

    for (const [path, operation, amountSchema, summary] of [
      ['credits', 'grant', unsignedDecimal, 'Grant credits (a repeated idempotency_key replays)'],
      ['adjustments', 'adjust', decimal, 'A signed correction; refused if it would overdraw the account'],
      ['refunds', 'refund', unsignedDecimal, 'Give credits back'],
    ] as const) {
      scope.post<{ Params: { account: string }; Body: OperationBody }>(
        `/admin/accounts/:account/${path}`,
        {
          schema: {
            tags,
            summary,
            params: accountParams,
            body: operationBody(amountSchema),
            response: { 200: operationResponse, 402: errorSchema, ...errorResponses },
          },
        },
        async (request) => {
          const { amount, note, idempotency_key: idempotencyKey } = request.body;
          // A refund is checked against what was captured, an adjustment against the balance: both include the
          // calls this process answered, whose captures would otherwise still be waiting for their batch. While
          // the database refuses them they are retried until it is back: the operation does not wait for that.
          if (services.settledCaptures)
            await capturesWritten(
              services.settledCaptures.flush(),
              services.databaseHealth,
              services.settledCapturesWaitMs ?? 30_000,
            );
          const result = await ledger[operation](request.params.account, Decimal.parse(amount), {
            ...(note !== undefined ? { note } : {}),
            ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          });
          return { account: accountJson(result.account), entry: entryJson(result.entry), replayed: result.replayed };
        },
      );
    }

    scope.patch<{
      Params: { account: string };
      Body: {
        status?: 'active' | 'suspended';
        job_price?: string | null;
        markup_percent?: string | null;
        markup_fixed_fee?: string | null;
        overdraft_limit?: string;
        low_balance_alert?: string | null;
      };
    }>(
      '/admin/accounts/:account',
      {
        schema: {
          tags,
          summary: 'Change status, job price, markup or overdraft limit (null clears a markup)',
          params: accountParams,
          body: accountChangesBodySchema,
          response: { 200: { type: 'object', properties: { account: accountJsonSchema } }, ...errorResponses },
        },
      },
      async (request) => {
        const body = request.body;
        const changes: AccountChanges = {};
        if (body.status !== undefined) changes.status = body.status;
        if (body.job_price !== undefined) changes.jobPrice = nullable(body.job_price);
        if (body.markup_percent !== undefined) changes.markupPercent = nullable(body.markup_percent);
        if (body.markup_fixed_fee !== undefined) changes.markupFixedFee = nullable(body.markup_fixed_fee);
        if (body.overdraft_limit !== undefined) changes.overdraftLimit = Decimal.parse(body.overdraft_limit);
        if (body.low_balance_alert !== undefined) changes.lowBalanceAlert = nullable(body.low_balance_alert);
        return { account: accountJson(await ledger.updateAccount(request.params.account, changes)) };
      },
    );

    scope.post<{ Params: { account: string }; Body: ({ scope?: KeyScope } & KeyControlsBody) | undefined }>(
      '/admin/accounts/:account/keys',
      {
        schema: {
          tags,
          summary:
            'Create an API key for the account (optionally limited to some models, expiring); the whole key is in this response only',
          params: accountParams,
          body: {
            type: ['object', 'null'],
            additionalProperties: false,
            properties: { scope: { type: 'string', enum: ['user', 'admin'], default: 'user' }, ...keyControlsProperties },
          },
          response: { 201: createdKeyJsonSchema, ...errorResponses },
        },
      },
      async (request, reply) => {
        const account = await ledger.getAccount(request.params.account);
        const body = request.body ?? {};
        const changes = keyChangesOf(body);
        const created = await createApiKey(db, {
          accountId: account.id,
          scope: body.scope ?? 'user',
          ...(changes.name ? { name: changes.name } : {}),
          ...(changes.allowedModels !== undefined ? { allowedModels: changes.allowedModels } : {}),
          ...(changes.expiresAt !== undefined ? { expiresAt: changes.expiresAt } : {}),
        });
        return reply.code(201).send(created);
      },
    );

    scope.patch<{ Params: { prefix: string }; Body: KeyControlsBody }>(
      '/admin/keys/:prefix',
      {
        schema: {
          tags,
          summary:
            "Change a key's label, allowed models or expiry (null clears one); every instance applies it from its next call (NOTIFY)",
          params: { type: 'object', required: ['prefix'], properties: { prefix: { type: 'string', minLength: 1 } } },
          body: { type: 'object', minProperties: 1, additionalProperties: false, properties: keyControlsProperties },
          response: { 200: keyJsonSchema, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { prefix } = request.params;
        if (!(await updateApiKey(db, prefix, keyChangesOf(request.body)))) {
          return reply.code(404).send({
            error: {
              message: `no live key with prefix ${JSON.stringify(prefix)}`,
              type: 'invalid_request_error',
              code: 'key_not_found',
            },
          });
        }
        const [listed] = await listApiKeys(db, undefined, { livePrefix: prefix });
        return keyJson(listed!);
      },
    );

    scope.get<{ Params: { account: string } }>(
      '/admin/accounts/:account/keys',
      {
        schema: {
          tags,
          summary: "The account's keys (prefixes only; keys are never stored)",
          params: accountParams,
          response: { 200: { type: 'object', properties: { data: { type: 'array', items: keyJsonSchema } } }, 404: errorSchema },
        },
      },
      async (request) => {
        const account = await ledger.getAccount(request.params.account);
        return { data: (await listApiKeys(db, account.id)).map(keyJson) };
      },
    );

    scope.delete<{ Params: { prefix: string } }>(
      '/admin/keys/:prefix',
      {
        schema: {
          tags,
          summary: 'Revoke a key by its prefix (every instance refuses it from its next call: NOTIFY)',
          params: { type: 'object', required: ['prefix'], properties: { prefix: { type: 'string', minLength: 1 } } },
          response: {
            200: { type: 'object', properties: { prefix: { type: 'string' }, revoked: { type: 'boolean' } } },
            404: errorSchema,
          },
        },
      },
      async (request, reply) => {
        if (await revokeApiKey(db, request.params.prefix)) return { prefix: request.params.prefix, revoked: true };
        return reply.code(404).send({
          error: {
            message: `no live key with prefix ${JSON.stringify(request.params.prefix)}`,
            type: 'invalid_request_error',
            code: 'key_not_found',
          },
        });
      },
    );

    scope.get(
      '/admin/ledger/verify',
      {
        schema: {
          tags,
          summary: 'For every account: balance = Σ entries and available = balance − open holds',
          response: { 200: verificationJsonSchema },
        },
      },
      async () => {
        const result = await ledger.verify();
        return { ok: result.ok, accounts: result.accounts.map(verificationJson) };
      },
    );
  });
}

function optional(text: string | undefined): Decimal | undefined {
  return text === undefined ? undefined : Decimal.parse(text);
}

function nullable(text: string | null): Decimal | null {
  return text === null ? null : Decimal.parse(text);
}

interface KeyControlsBody {
  name?: string | null;
  models?: string[] | null;
  expires_at?: string | null;
}

function keyChangesOf(body: KeyControlsBody): KeyChanges {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.models !== undefined ? { allowedModels: body.models } : {}),
    ...(body.expires_at !== undefined ? { expiresAt: body.expires_at === null ? null : new Date(body.expires_at) } : {}),
  };
}

/**
 * Waits for the captures this process still holds to be written, while the database answers: not once it is
 * seen unreachable (they are retried until it is back, and the operation then fails or goes on by itself), and
 * at most `ms`. A busy database is waited for: a refund checked before a capture lands would refuse an amount
 * that was charged.
 */
async function capturesWritten(
  flush: Promise<void>,
  health: Pick<DatabaseHealth, 'isReachable' | 'onChange'> | undefined,
  ms: number,
): Promise<void> {
  if (health && !health.isReachable) return;
  let unsubscribe: (() => void) | undefined;
  const unreachable = new Promise<void>((resolve) => {
    unsubscribe = health?.onChange((reachable) => {
      if (!reachable) resolve();
    });
  });
  try {
    await settledWithin(Promise.race([flush, unreachable]), ms);
  } finally {
    unsubscribe?.();
  }
}
