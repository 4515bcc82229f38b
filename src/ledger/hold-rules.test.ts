import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { entriesOf, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { AccountNotFoundError, AccountSuspendedError, InsufficientCreditsError, InvalidAmountError } from './errors.js';
import { placeHold } from './hold.js';
import type { Ledger } from './ledger.js';
import { refusal } from '../../test/support/refusals.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('hold rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  const available = async (accountId: string) => (await ledger.getAccount(accountId)).available.toString();

  it('takes the amount from available, never the balance, and records the hold in the account unit with its owner', async () => {
    const { account: usd } = await ledger.createAccount({ name: 'hold-usd', mode: 'consumption_usd', credits: d('1.50') });
    const held = await placeHold(database.db, { accountId: usd.id, requestId: 'hu-1', amount: d('0.25'), ownerId: 'gw-1' });
    expect(held.available.toString()).toBe('1.25');
    await placeHold(database.db, { accountId: usd.id, requestId: 'hu-2', amount: d('0.5') });
    const { account: tokens } = await ledger.createAccount({
      name: 'hold-tokens',
      mode: 'consumption_tokens',
      credits: d('100'),
    });
    expect(
      (await placeHold(database.db, { accountId: tokens.id, requestId: 'ht-1', amount: d('40') })).available.toString(),
    ).toBe('60');
    const holds = [...(await entriesOf(database.db, usd.id)), ...(await entriesOf(database.db, tokens.id))].filter(
      (row) => row.kind === 'hold',
    );
    expect(holds.map((row) => [row.request_id, d(row.amount).toString(), row.unit, row.owner_id, row.account_id])).toEqual([
      ['hu-1', '0.25', 'usd', 'gw-1', usd.id],
      ['hu-2', '0.5', 'usd', null, usd.id],
      ['ht-1', '40', 'tokens', null, tokens.id],
    ]);
    const after = await ledger.getAccount(usd.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['1.5', '0.75']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('takes available down to exactly zero, and refuses the smallest amount more, naming what is there', async () => {
    const { account } = await ledger.createAccount({ name: 'hold-edge', mode: 'consumption_usd', credits: d('0.05') });
    const refused = await refusal(
      placeHold(database.db, { accountId: account.id, requestId: 'he-over', amount: d('0.0500001') }),
    );
    expect(refused).toBeInstanceOf(InsufficientCreditsError);
    expect(refused.message).toBe(
      `insufficient credits on account ${account.id}: this call needs 0.0500001 usd, 0.05 usd available`,
    );
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'he-all', amount: d('0.05') })).available.toString(),
    ).toBe('0');
    const empty = await refusal(placeHold(database.db, { accountId: account.id, requestId: 'he-more', amount: d('0.01') }));
    expect(empty.message).toBe(`insufficient credits on account ${account.id}: this call needs 0.01 usd, 0 usd available`);
    // A zero hold fits an empty account.
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'he-zero', amount: d('0') })).available.toString(),
    ).toBe('0');
    expect((await entriesOf(database.db, account.id)).map((row) => `${row.request_id}:${row.kind}`)).toEqual([
      `grant:${account.id}:initial:grant`,
      'he-all:hold',
      'he-zero:hold',
    ]);
  });

  it('names tokens in a token account refusal', async () => {
    const { account } = await ledger.createAccount({ name: 'hold-tokens-short', mode: 'consumption_tokens', credits: d('10') });
    const refused = await refusal(placeHold(database.db, { accountId: account.id, requestId: 'hts-1', amount: d('11') }));
    expect(refused.message).toBe(`insufficient credits on account ${account.id}: this call needs 11 tokens, 10 tokens available`);
    expect((refused as InsufficientCreditsError).unit).toBe('tokens');
  });

  it('repeats a hold for the same request without taking more, even when available is now short', async () => {
    const { account } = await ledger.createAccount({ name: 'hold-again', mode: 'consumption_usd', credits: d('1') });
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'ha-1', amount: d('0.75') })).available.toString(),
    ).toBe('0.25');
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'ha-1', amount: d('0.75') })).available.toString(),
    ).toBe('0.25');
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'ha-1', amount: d('0.1') })).available.toString(),
    ).toBe('0.25');
    // Suspended since: the request already holds its credits.
    await ledger.setStatus(account.id, 'suspended');
    expect(
      (await placeHold(database.db, { accountId: account.id, requestId: 'ha-1', amount: d('0.75') })).available.toString(),
    ).toBe('0.25');
    expect((await entriesOf(database.db, account.id)).filter((row) => row.kind === 'hold').length).toBe(1);
    expect(await available(account.id)).toBe('0.25');
  });

  it('refuses a suspended account even with credits to spare, an unknown account, and a negative amount', async () => {
    const { account } = await ledger.createAccount({ name: 'hold-suspended', mode: 'consumption_usd', credits: d('5') });
    await ledger.setStatus(account.id, 'suspended');
    for (const amount of ['0.01', '6']) {
      const refused = await refusal(
        placeHold(database.db, { accountId: account.id, requestId: `hs-${amount}`, amount: d(amount) }),
      );
      expect(refused).toBeInstanceOf(AccountSuspendedError);
      expect(refused.message).toBe(`account ${account.id} is suspended; an admin can reactivate it (status "active")`);
    }
    expect(await available(account.id)).toBe('5');
    const missing = await refusal(placeHold(database.db, { accountId: 'acct_nobody', requestId: 'hn-1', amount: d('1') }));
    expect(missing).toBeInstanceOf(AccountNotFoundError);
    expect(missing.message).toBe('no account with id or name "acct_nobody"');
    const negative = await refusal(placeHold(database.db, { accountId: account.id, requestId: 'hneg', amount: d('-0.5') }));
    expect(negative).toBeInstanceOf(InvalidAmountError);
    expect(negative.message).toBe('invalid hold amount: must not be negative, got -0.5');
    expect((await entriesOf(database.db, account.id)).map((row) => row.kind)).toEqual(['grant']);
  });
});
