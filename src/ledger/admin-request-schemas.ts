import type { LedgerKind } from '../db/schema.js';
import { MAX_PAGE_SIZE } from '../db/keyset-pages.js';
import { accountJsonSchema, entryJsonSchema } from './ledger-json.js';

/**
 * JSON schemas of the admin requests on the ledger (the routes in src/http/admin-account-routes.ts validate
 * with them and @fastify/swagger documents them). Amounts are decimal strings, matched exactly here and
 * parsed with `Decimal.parse`: a JSON number would already have lost precision.
 */
export const decimal = { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]+)?$', description: 'exact decimal, e.g. "10.50"' } as const;
export const unsignedDecimal = { ...decimal, pattern: '^[0-9]+(\\.[0-9]+)?$' } as const;
export const nullableDecimal = { type: ['string', 'null'], pattern: '^[0-9]+(\\.[0-9]+)?$' } as const;
export const errorSchema = {
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
export const accountParams = {
  type: 'object',
  required: ['account'],
  properties: { account: { type: 'string', maxLength: 200, description: 'account id or name' } },
} as const;
export const errorResponses = { 400: errorSchema, 404: errorSchema, 409: errorSchema } as const;
export const operationBody = (amountSchema: object) =>
  ({
    type: 'object',
    required: ['amount'],
    additionalProperties: false,
    properties: {
      amount: amountSchema,
      note: { type: 'string', maxLength: 1_000 },
      idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
    },
  }) as const;
export const operationResponse = {
  type: 'object',
  properties: { account: accountJsonSchema, entry: entryJsonSchema, replayed: { type: 'boolean' } },
} as const;

export interface OperationBody {
  amount: string;
  note?: string;
  idempotency_key?: string;
}

export const createAccountBodySchema = {
  type: 'object',
  required: ['name', 'mode'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    mode: { type: 'string', enum: ['consumption_usd', 'consumption_tokens', 'job_based'] },
    credits: unsignedDecimal,
    job_price: unsignedDecimal,
    markup_percent: decimal,
    markup_fixed_fee: unsignedDecimal,
    overdraft_limit: unsignedDecimal,
    parent: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: "a team's parent account (id or name): the new account draws on its wallet",
    },
    low_balance_alert: unsignedDecimal,
  },
} as const;

export const accountChangesBodySchema = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['active', 'suspended'] },
    job_price: nullableDecimal,
    markup_percent: { type: ['string', 'null'], pattern: decimal.pattern },
    markup_fixed_fee: nullableDecimal,
    overdraft_limit: unsignedDecimal,
    low_balance_alert: nullableDecimal,
  },
} as const;

/** A key's controls as the admin API takes them (create and update). */
export const keyControlsProperties = {
  name: { type: ['string', 'null'], maxLength: 200, description: 'a label for listings' },
  models: {
    type: ['array', 'null'],
    maxItems: 100,
    items: { type: 'string', minLength: 1, maxLength: 200 },
    description: 'model names or * patterns the key may call; null or empty: every model',
  },
  expires_at: { type: ['string', 'null'], format: 'date-time', description: 'when the key stops working; null: never' },
} as const;

/** A page of a listing: its rows and the cursor of the next page (null on the last). */
export const pageSchema = (itemSchema: object) =>
  ({
    type: 'object',
    properties: {
      data: { type: 'array', items: itemSchema },
      next_cursor: { type: ['string', 'null'], description: 'pass it as cursor for the next page; null on the last page' },
    },
  }) as const;

const LEDGER_KINDS = ['grant', 'hold', 'capture', 'release', 'refund', 'adjust'] as const;

export const entriesQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 },
    cursor: { type: 'string', description: 'the next_cursor of the previous page' },
    kind: {
      type: 'string',
      pattern: `^(${LEDGER_KINDS.join('|')})(,(${LEDGER_KINDS.join('|')}))*$`,
      description: 'only these kinds, comma separated (grant,capture)',
    },
  },
} as const;

/** The options of `pageEntries` from a request's `entriesQuerySchema` query. */
export function entriesPageOptions(query: { limit?: number; cursor?: string; kind?: string }): {
  limit: number;
  cursor?: string;
  kinds?: LedgerKind[];
} {
  return {
    limit: query.limit ?? 50,
    ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    ...(query.kind ? { kinds: query.kind.split(',') as LedgerKind[] } : {}),
  };
}
