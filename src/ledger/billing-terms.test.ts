import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { billingTerms, type BillingTerms } from './accounts.js';
import { AccountNotFoundError } from './errors.js';
import type { Ledger } from './ledger.js';

const d = Decimal.parse;

/** The terms as plain text: whose markup, its parts, the mode, the job price and the chain. */
function summary(terms: BillingTerms) {
  return {
    mode: terms.wallet.mode,
    wallet: terms.wallet.name,
    chain: terms.chain.map((level) => level.name),
    jobPrice: terms.jobPrice?.toString() ?? null,
    markup: terms.markup
      ? { percent: terms.markup.percent?.toString() ?? null, fixedFee: terms.markup.fixedFee?.toString() ?? null }
      : null,
    markupFrom: terms.markupFrom?.name ?? null,
  };
}

describe.each(backends())('billing terms of an account and its wallet, on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  let counter = 0;
  const name = (label: string) => `${label}-${(counter += 1)}`;

  it("a team's own markup (either part set, zero included) wins; without one, its wallet's; the job price likewise", async () => {
    const wallet = (
      await ledger.createAccount({
        name: name('wallet'),
        mode: 'job_based',
        jobPrice: d('0.02'),
        markupPercent: d('12.5'),
        markupFixedFee: d('0.001'),
      })
    ).account;
    const plain = (await ledger.createAccount({ name: name('plain'), mode: 'job_based', parent: wallet.id })).account;
    const zero = (
      await ledger.createAccount({
        name: name('zero'),
        mode: 'job_based',
        parent: wallet.id,
        markupFixedFee: d('0'),
        jobPrice: d('0.5'),
      })
    ).account;
    expect(summary(await billingTerms(database.db, plain.name))).toEqual({
      mode: 'job_based',
      wallet: wallet.name,
      chain: [plain.name, wallet.name],
      jobPrice: '0.02',
      markup: { percent: '12.5', fixedFee: '0.001' },
      markupFrom: wallet.name,
    });
    expect(summary(await billingTerms(database.db, zero.id))).toMatchObject({
      jobPrice: '0.5',
      markup: { percent: null, fixedFee: '0' },
      markupFrom: zero.name,
    });
    expect(summary(await billingTerms(database.db, wallet.id))).toMatchObject({
      chain: [wallet.name],
      markup: { percent: '12.5', fixedFee: '0.001' },
      markupFrom: wallet.name,
    });
  });

  it("markup rules of scope account: the team's own before the wallet's markup, the wallet's when neither row has one", async () => {
    const wallet = (await ledger.createAccount({ name: name('ruled-wallet'), mode: 'consumption_usd' })).account;
    const ruled = (await ledger.createAccount({ name: name('ruled'), mode: 'consumption_usd', parent: wallet.id })).account;
    const bare = (await ledger.createAccount({ name: name('bare'), mode: 'consumption_usd', parent: wallet.id })).account;
    // Neither the wallet nor the team has a markup: the markup rules (model, provider, global) decide.
    expect(summary(await billingTerms(database.db, bare.id))).toMatchObject({ markup: null, markupFrom: null });
    await database.db
      .insertInto('markup_rules')
      .values([
        { scope: 'account', target: ruled.id, percent: '50', fixed_fee: null },
        { scope: 'account', target: wallet.id, percent: null, fixed_fee: '0.003' },
      ])
      .execute();
    // The team's own rule applies as the gateway's rules apply it (markup undefined: the rules decide, the team's first).
    expect(summary(await billingTerms(database.db, ruled.id))).toMatchObject({ markup: null, markupFrom: ruled.name });
    expect(summary(await billingTerms(database.db, bare.id))).toMatchObject({
      markup: { percent: '0', fixedFee: '0.003' },
      markupFrom: wallet.name,
    });
    // The wallet's row markup comes before its rule, as an account's own row comes before its rule.
    await ledger.updateAccount(wallet.id, { markupPercent: d('7') });
    expect(summary(await billingTerms(database.db, bare.id))).toMatchObject({
      markup: { percent: '7', fixedFee: null },
      markupFrom: wallet.name,
    });
    expect(summary(await billingTerms(database.db, ruled.id))).toMatchObject({ markup: null, markupFrom: ruled.name });
  });

  it('an unknown account is not found', async () => {
    await expect(billingTerms(database.db, 'nobody-at-all')).rejects.toBeInstanceOf(AccountNotFoundError);
  });
});
