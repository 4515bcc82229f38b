import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import type { Account, LedgerEntry } from './accounts.js';
import type { ApiKeyListing } from './api-keys.js';
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
} from './ledger-json.js';

const d = (text: string) => Decimal.parse(text);
const CREATED = new Date('2030-01-02T03:04:05.006Z');

const account: Account = {
  id: 'acct_1',
  name: 'acme',
  mode: 'consumption_usd',
  unit: 'usd',
  balance: d('12.5'),
  available: d('-0.25'),
  jobPrice: d('0.05'),
  markupPercent: d('-10'),
  markupFixedFee: d('0.001'),
  status: 'suspended',
  overdraftLimit: d('3'),
  parentId: 'acct_0',
  lowBalanceAlert: d('1.5'),
  createdAt: CREATED,
};

const entry: LedgerEntry = {
  id: 7,
  accountId: 'acct_1',
  kind: 'capture',
  amount: d('-0.125'),
  unit: 'tokens',
  requestId: 'req_1',
  leaseId: 'lease_1',
  idempotencyKey: 'idem-1',
  priceVersion: 42,
  note: 'shortfall 1: ...',
  createdAt: CREATED,
};

const key: ApiKeyListing = {
  id: 'key_1',
  prefix: 'tg_abcdefghi',
  scope: 'user',
  name: 'ci',
  accountId: 'acct_1',
  createdAt: CREATED,
  revokedAt: new Date('2030-02-01T00:00:00.000Z'),
  lastUsedAt: new Date('2030-01-15T12:00:00.500Z'),
  allowedModels: ['gpt-4o*'],
  expiresAt: new Date('2031-01-01T00:00:00.000Z'),
};

describe('ledger JSON', () => {
  it('shows an account with exact decimal strings and ISO times', () => {
    expect(accountJson(account)).toEqual({
      id: 'acct_1',
      name: 'acme',
      mode: 'consumption_usd',
      unit: 'usd',
      balance: '12.5',
      available: '-0.25',
      job_price: '0.05',
      markup_percent: '-10',
      markup_fixed_fee: '0.001',
      status: 'suspended',
      overdraft_limit: '3',
      parent_id: 'acct_0',
      low_balance_alert: '1.5',
      created_at: '2030-01-02T03:04:05.006Z',
    });
  });

  it('shows unset account terms as null', () => {
    expect(
      accountJson({
        ...account,
        jobPrice: null,
        markupPercent: null,
        markupFixedFee: null,
        parentId: null,
        lowBalanceAlert: null,
      }),
    ).toMatchObject({
      job_price: null,
      markup_percent: null,
      markup_fixed_fee: null,
      parent_id: null,
      low_balance_alert: null,
      overdraft_limit: '3',
    });
  });

  it('shows an entry whole, and its unset fields as null', () => {
    expect(entryJson(entry)).toEqual({
      id: 7,
      kind: 'capture',
      amount: '-0.125',
      unit: 'tokens',
      request_id: 'req_1',
      lease_id: 'lease_1',
      idempotency_key: 'idem-1',
      price_version: 42,
      note: 'shortfall 1: ...',
      created_at: '2030-01-02T03:04:05.006Z',
    });
    expect(entryJson({ ...entry, leaseId: null, idempotencyKey: null, priceVersion: null, note: null })).toMatchObject({
      lease_id: null,
      idempotency_key: null,
      price_version: null,
      note: null,
    });
  });

  it('shows a key without its secret, its unset times as null', () => {
    expect(keyJson(key)).toEqual({
      id: 'key_1',
      prefix: 'tg_abcdefghi',
      scope: 'user',
      name: 'ci',
      account_id: 'acct_1',
      created_at: '2030-01-02T03:04:05.006Z',
      revoked_at: '2030-02-01T00:00:00.000Z',
      last_used_at: '2030-01-15T12:00:00.500Z',
      allowed_models: ['gpt-4o*'],
      expires_at: '2031-01-01T00:00:00.000Z',
    });
    expect(
      keyJson({ ...key, name: null, accountId: null, revokedAt: null, lastUsedAt: null, allowedModels: null, expiresAt: null }),
    ).toEqual({
      id: 'key_1',
      prefix: 'tg_abcdefghi',
      scope: 'user',
      name: null,
      account_id: null,
      created_at: '2030-01-02T03:04:05.006Z',
      revoked_at: null,
      last_used_at: null,
      allowed_models: null,
      expires_at: null,
    });
  });

  it("shows an account's verification with both sides of each sum", () => {
    expect(
      verificationJson({
        id: 'acct_1',
        name: 'acme',
        balance: d('3'),
        expectedBalance: d('2.5'),
        available: d('1'),
        expectedAvailable: d('0.75'),
        openHolds: d('1.75'),
        ok: false,
      }),
    ).toEqual({
      id: 'acct_1',
      name: 'acme',
      balance: '3',
      expected_balance: '2.5',
      available: '1',
      expected_available: '0.75',
      open_holds: '1.75',
      ok: false,
    });
  });

  it('documents exactly the fields it shows', () => {
    expect(Object.keys(accountJsonSchema.properties)).toEqual(Object.keys(accountJson(account)));
    expect(Object.keys(entryJsonSchema.properties)).toEqual(Object.keys(entryJson(entry)));
    expect(Object.keys(keyJsonSchema.properties)).toEqual(Object.keys(keyJson(key)));
    expect(Object.keys(createdKeyJsonSchema.properties)).toEqual(['id', 'prefix', 'key']);
    expect(Object.keys(verificationJsonSchema.properties.accounts.items.properties)).toEqual(
      Object.keys(
        verificationJson({
          id: 'a',
          name: 'a',
          balance: d('0'),
          expectedBalance: d('0'),
          available: d('0'),
          expectedAvailable: d('0'),
          openHolds: d('0'),
          ok: true,
        }),
      ),
    );
    // Amounts are strings, never JSON numbers.
    expect(accountJsonSchema.properties.balance.type).toBe('string');
    expect(entryJsonSchema.properties.amount.type).toBe('string');
    expect(accountJsonSchema.properties.mode.enum).toEqual(['consumption_usd', 'consumption_tokens', 'job_based']);
    expect(entryJsonSchema.properties.kind.enum).toEqual(['grant', 'hold', 'capture', 'release', 'refund', 'adjust']);
  });
});
