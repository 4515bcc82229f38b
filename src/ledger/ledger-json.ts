import type { Account, LedgerEntry } from './accounts.js';
import type { ApiKeyListing } from './api-keys.js';
import type { AccountVerification } from './verify.js';

/**
 * The JSON shape of ledger objects, shared by the admin HTTP routes and the CLI's `--json`, with the JSON
 * schema that documents it in OpenAPI. Amounts are exact decimal strings, never JSON numbers.
 */
const amount = { type: 'string', description: 'exact decimal' } as const;
const nullableAmount = { type: ['string', 'null'], description: 'exact decimal, or null when unset' } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;

export function accountJson(account: Account) {
  return {
    id: account.id,
    name: account.name,
    mode: account.mode,
    unit: account.unit,
    balance: account.balance.toString(),
    available: account.available.toString(),
    job_price: account.jobPrice?.toString() ?? null,
    markup_percent: account.markupPercent?.toString() ?? null,
    markup_fixed_fee: account.markupFixedFee?.toString() ?? null,
    status: account.status,
    overdraft_limit: account.overdraftLimit.toString(),
    parent_id: account.parentId,
    low_balance_alert: account.lowBalanceAlert?.toString() ?? null,
    created_at: account.createdAt.toISOString(),
  };
}

export const accountJsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    mode: { type: 'string', enum: ['consumption_usd', 'consumption_tokens', 'job_based'] },
    unit: { type: 'string', enum: ['usd', 'tokens'] },
    balance: amount,
    available: amount,
    job_price: nullableAmount,
    markup_percent: nullableAmount,
    markup_fixed_fee: nullableAmount,
    status: { type: 'string', enum: ['active', 'suspended'] },
    overdraft_limit: amount,
    parent_id: { type: ['string', 'null'], description: "a team account's parent; its credits are its chain's root's" },
    low_balance_alert: nullableAmount,
    created_at: timestamp,
  },
} as const;

export function entryJson(entry: LedgerEntry) {
  return {
    id: entry.id,
    kind: entry.kind,
    amount: entry.amount.toString(),
    unit: entry.unit,
    request_id: entry.requestId,
    lease_id: entry.leaseId,
    idempotency_key: entry.idempotencyKey,
    price_version: entry.priceVersion,
    note: entry.note,
    created_at: entry.createdAt.toISOString(),
  };
}

export const entryJsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    kind: { type: 'string', enum: ['grant', 'hold', 'capture', 'release', 'refund', 'adjust'] },
    amount: { ...amount, description: 'signed effect on the balance; the held amount for hold and release' },
    unit: { type: 'string', enum: ['usd', 'tokens'] },
    request_id: { type: 'string' },
    lease_id: { type: ['string', 'null'], description: 'on a capture drawn on a credit lease: the lease it drew on' },
    idempotency_key: { type: ['string', 'null'] },
    price_version: { type: ['integer', 'null'] },
    note: { type: ['string', 'null'] },
    created_at: timestamp,
  },
} as const;

export function keyJson(key: ApiKeyListing) {
  return {
    id: key.id,
    prefix: key.prefix,
    scope: key.scope,
    name: key.name,
    account_id: key.accountId,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    allowed_models: key.allowedModels,
    expires_at: key.expiresAt?.toISOString() ?? null,
  };
}

export const keyJsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    prefix: { type: 'string' },
    scope: { type: 'string', enum: ['user', 'admin'] },
    name: { type: ['string', 'null'] },
    account_id: { type: ['string', 'null'] },
    created_at: timestamp,
    revoked_at: nullableTimestamp,
    last_used_at: nullableTimestamp,
    allowed_models: { type: ['array', 'null'], items: { type: 'string' }, description: 'names or * patterns; null: every model' },
    expires_at: nullableTimestamp,
  },
} as const;

export const createdKeyJsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    prefix: { type: 'string' },
    key: { type: 'string', description: 'the whole key; shown this once and never again' },
  },
} as const;

export function verificationJson(account: AccountVerification) {
  return {
    id: account.id,
    name: account.name,
    balance: account.balance.toString(),
    expected_balance: account.expectedBalance.toString(),
    available: account.available.toString(),
    expected_available: account.expectedAvailable.toString(),
    open_holds: account.openHolds.toString(),
    ok: account.ok,
  };
}

export const verificationJsonSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    accounts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          balance: amount,
          expected_balance: amount,
          available: amount,
          expected_available: amount,
          open_holds: amount,
          ok: { type: 'boolean' },
        },
      },
    },
  },
} as const;
