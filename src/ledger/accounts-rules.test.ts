import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import type { AccountRow, LedgerEntryRow } from '../db/schema.js';
import {
  accountFromRow,
  BUDGET_MODES,
  entryFromRow,
  findAccountRow,
  fromNumeric,
  newAccountId,
  randomBase62,
  unitOf,
} from './accounts.js';
import { AccountNotFoundError } from './errors.js';
import type { Ledger } from './ledger.js';

describe('account rows', () => {
  it('keep token accounts in tokens and every other mode in USD', () => {
    expect(BUDGET_MODES.map((mode) => [mode, unitOf(mode)])).toEqual([
      ['consumption_usd', 'usd'],
      ['consumption_tokens', 'tokens'],
      ['job_based', 'usd'],
    ]);
  });

  it('read NUMERIC text without its trailing zeros', () => {
    expect(['10.500', '0.000', '-1.20', '7', '0.0001000'].map((text) => fromNumeric(text).toString())).toEqual([
      '10.5',
      '0',
      '-1.2',
      '7',
      '0.0001',
    ]);
  });

  it('map every column of an account row, nullable terms as null', () => {
    const createdAt = new Date('2030-04-05T06:07:08.009Z');
    const row: AccountRow = {
      id: 'acct_1',
      name: 'row',
      budget_mode: 'consumption_tokens',
      balance: '100.00',
      available: '40.0',
      job_price: '0.10',
      markup_percent: '-5.50',
      markup_fixed_fee: '0.0010',
      status: 'suspended',
      overdraft_limit: '2.0',
      parent_id: 'acct_0',
      low_balance_alert: '10.0',
      created_at: createdAt,
    };
    const account = accountFromRow(row);
    expect({
      ...account,
      balance: account.balance.toString(),
      available: account.available.toString(),
      jobPrice: account.jobPrice?.toString(),
      markupPercent: account.markupPercent?.toString(),
      markupFixedFee: account.markupFixedFee?.toString(),
      overdraftLimit: account.overdraftLimit.toString(),
      lowBalanceAlert: account.lowBalanceAlert?.toString(),
    }).toEqual({
      id: 'acct_1',
      name: 'row',
      mode: 'consumption_tokens',
      unit: 'tokens',
      balance: '100',
      available: '40',
      jobPrice: '0.1',
      markupPercent: '-5.5',
      markupFixedFee: '0.001',
      status: 'suspended',
      overdraftLimit: '2',
      parentId: 'acct_0',
      lowBalanceAlert: '10',
      createdAt,
    });
    const bare = accountFromRow({
      ...row,
      budget_mode: 'job_based',
      job_price: null,
      markup_percent: null,
      markup_fixed_fee: null,
      parent_id: null,
      low_balance_alert: null,
    });
    expect([bare.unit, bare.jobPrice, bare.markupPercent, bare.markupFixedFee, bare.parentId, bare.lowBalanceAlert]).toEqual([
      'usd',
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  it('map every column of an entry row', () => {
    const createdAt = new Date('2030-04-05T06:07:08.009Z');
    const row = {
      id: 42,
      account_id: 'acct_1',
      kind: 'capture',
      amount: '-0.250',
      unit: 'usd',
      request_id: 'req_1',
      idempotency_key: 'idem',
      price_version: 7,
      usage: null,
      breakdown: null,
      note: 'a note',
      lease_id: 'lease_1',
      owner_id: null,
      created_at: createdAt,
    } as LedgerEntryRow;
    const entry = entryFromRow(row);
    expect({ ...entry, amount: entry.amount.toString() }).toEqual({
      id: 42,
      accountId: 'acct_1',
      kind: 'capture',
      amount: '-0.25',
      unit: 'usd',
      requestId: 'req_1',
      leaseId: 'lease_1',
      idempotencyKey: 'idem',
      priceVersion: 7,
      note: 'a note',
      createdAt,
    });
  });

  it('draw random base62 text of exactly the length asked', () => {
    for (const length of [0, 1, 16, 32, 200]) {
      const text = randomBase62(length);
      expect(text).toMatch(new RegExp(`^[0-9A-Za-z]{${length}}$`));
    }
    // Over many draws every character of the alphabet turns up.
    const seen = new Set(randomBase62(20_000));
    expect(seen.size).toBe(62);
    expect(newAccountId()).toMatch(/^acct_[0-9A-Za-z]{16}$/);
    expect(newAccountId()).not.toBe(newAccountId());
  });
});

describe.each(backends())('finding accounts on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  it('finds by id or name, an id winning over an older account whose name equals it', async () => {
    // The account named like the other's id comes first, so only the ordering can put the id match first.
    const { account: impostor } = await ledger.createAccount({ name: 'acct_chosen', mode: 'consumption_tokens' });
    await database.db
      .insertInto('accounts')
      .values({
        id: 'acct_chosen',
        name: 'chosen',
        budget_mode: 'consumption_usd',
        balance: '0',
        available: '0',
        overdraft_limit: '0',
        status: 'active',
      })
      .execute();
    expect((await findAccountRow(database.db, 'acct_chosen')).name).toBe('chosen');
    expect((await findAccountRow(database.db, 'chosen')).id).toBe('acct_chosen');
    expect((await findAccountRow(database.db, impostor.id)).name).toBe('acct_chosen');
    const locked = await database.db
      .transaction()
      .execute(async (transaction) => findAccountRow(transaction, impostor.id, { forUpdate: true }));
    expect(locked.budget_mode).toBe('consumption_tokens');
    const error: unknown = await findAccountRow(database.db, 'who?').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AccountNotFoundError);
    expect((error as AccountNotFoundError).message).toBe('no account with id or name "who?"');
  });
});
