import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import {
  AccountNameTakenError,
  AccountNotFoundError,
  AccountSuspendedError,
  HoldNotFoundError,
  IdempotencyConflictError,
  InsufficientCreditsError,
  InvalidAccountFieldError,
  InvalidAmountError,
} from './errors.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('ledger on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  it('creates an account with its first key and initial grant, found by id or name', async () => {
    const { account, apiKey } = await ledger.createAccount({ name: 'acme', mode: 'consumption_usd', credits: d('10.50') });
    expect(account.balance.toString()).toBe('10.5');
    expect(account.available.toString()).toBe('10.5');
    expect(account.unit).toBe('usd');
    expect(apiKey.key).toMatch(/^tg_[0-9A-Za-z]{32}$/);
    expect((await ledger.getAccount('acme')).id).toBe(account.id);
    expect((await ledger.getAccount(account.id)).name).toBe('acme');
    const entries = await ledger.entries('acme');
    expect(entries.map((entry) => [entry.kind, entry.amount.toString()])).toEqual([['grant', '10.5']]);
    await expect(ledger.createAccount({ name: 'acme', mode: 'consumption_usd' })).rejects.toBeInstanceOf(AccountNameTakenError);
    await expect(ledger.getAccount('nobody')).rejects.toBeInstanceOf(AccountNotFoundError);
  });

  it('refuses a job_based account without a job price, fractional tokens and negative credits', async () => {
    await expect(ledger.createAccount({ name: 'jobs', mode: 'job_based' })).rejects.toBeInstanceOf(InvalidAccountFieldError);
    await expect(ledger.createAccount({ name: 't', mode: 'consumption_tokens', credits: d('1.5') })).rejects.toBeInstanceOf(
      InvalidAmountError,
    );
    await expect(ledger.createAccount({ name: 'n', mode: 'consumption_usd', credits: d('-1') })).rejects.toBeInstanceOf(
      InvalidAmountError,
    );
    expect((await ledger.listAccounts()).map((account) => account.name)).toEqual(['acme']);
  });

  it('holds, captures less than the hold and gives the rest back', async () => {
    const { account } = await ledger.createAccount({ name: 'settle', mode: 'consumption_usd', credits: d('1') });
    expect((await ledger.hold({ accountId: account.id, requestId: 'r1', amount: d('0.3') })).available.toString()).toBe('0.7');
    // Holding again for the same request takes nothing more.
    expect((await ledger.hold({ accountId: account.id, requestId: 'r1', amount: d('0.3') })).available.toString()).toBe('0.7');
    const outcome = await ledger.capture({ requestId: 'r1', amount: d('0.1234567'), priceVersion: 7, usage: { input: 10 } });
    expect(outcome.captured.toString()).toBe('0.1234567');
    expect(outcome.released.toString()).toBe('0.1765433');
    expect(outcome.balance.toString()).toBe('0.8765433');
    expect(outcome.available.toString()).toBe('0.8765433');
    const again = await ledger.capture({ requestId: 'r1', amount: d('0.1234567') });
    expect(again.replayed).toBe(true);
    expect(again.captured.toString()).toBe('0.1234567');
    expect((await ledger.getAccount(account.id)).balance.toString()).toBe('0.8765433');
    expect((await ledger.release('r1')).released).toBe(false);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('refuses a hold beyond available, on a suspended account, and for an unknown account', async () => {
    const { account } = await ledger.createAccount({ name: 'small', mode: 'consumption_usd', credits: d('0.05') });
    const refused = await ledger
      .hold({ accountId: account.id, requestId: 'big', amount: d('0.06') })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InsufficientCreditsError);
    expect((refused as InsufficientCreditsError).statusCode).toBe(402);
    expect((refused as InsufficientCreditsError).available.toString()).toBe('0.05');
    await ledger.setStatus('small', 'suspended');
    await expect(ledger.hold({ accountId: account.id, requestId: 's', amount: d('0.01') })).rejects.toBeInstanceOf(
      AccountSuspendedError,
    );
    await ledger.setStatus('small', 'active');
    await expect(ledger.hold({ accountId: 'acct_missing', requestId: 'm', amount: d('0.01') })).rejects.toBeInstanceOf(
      AccountNotFoundError,
    );
    await expect(ledger.capture({ requestId: 'never-held', amount: d('1') })).rejects.toBeInstanceOf(HoldNotFoundError);
    expect((await ledger.entries('small', { kinds: ['hold'] })).length).toBe(0);
  });

  it('captures an excess over the hold from available, and only down to the overdraft limit', async () => {
    const { account } = await ledger.createAccount({ name: 'excess', mode: 'consumption_usd', credits: d('1') });
    await ledger.hold({ accountId: account.id, requestId: 'e1', amount: d('0.5') });
    const within = await ledger.capture({ requestId: 'e1', amount: d('0.8') });
    expect([within.captured, within.overdraft, within.shortfall, within.balance].map(String)).toEqual(['0.8', '0.3', '0', '0.2']);
    await ledger.hold({ accountId: account.id, requestId: 'e2', amount: d('0.1') });
    const beyond = await ledger.capture({ requestId: 'e2', amount: d('0.5') });
    // No overdraft by default: 0.2 is all there is; 0.3 is recorded as a shortfall.
    expect([beyond.captured, beyond.shortfall, beyond.balance, beyond.available].map(String)).toEqual(['0.2', '0.3', '0', '0']);
    expect((await ledger.entries('excess', { kinds: ['capture'], limit: 1 }))[0]!.note).toMatch(/^shortfall 0\.3:/);
    expect((await ledger.capture({ requestId: 'e2', amount: d('0.5') })).shortfall.toString()).toBe('0.3');

    const { account: trusted } = await ledger.createAccount({
      name: 'trusted',
      mode: 'consumption_usd',
      credits: d('0.1'),
      overdraftLimit: d('0.25'),
    });
    await ledger.hold({ accountId: trusted.id, requestId: 'o1', amount: d('0.1') });
    const overdrawn = await ledger.capture({ requestId: 'o1', amount: d('1') });
    expect([overdrawn.captured, overdrawn.shortfall, overdrawn.balance].map(String)).toEqual(['0.35', '0.65', '-0.25']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('releases a hold once, and a capture after a release still charges what available allows', async () => {
    const { account } = await ledger.createAccount({ name: 'release', mode: 'consumption_tokens', credits: d('1000') });
    await ledger.hold({ accountId: account.id, requestId: 'x1', amount: d('400') });
    expect((await ledger.release('x1', 'upstream error')).amount.toString()).toBe('400');
    expect((await ledger.release('x1')).released).toBe(false);
    expect((await ledger.getAccount(account.id)).available.toString()).toBe('1000');
    const late = await ledger.capture({ requestId: 'x1', amount: d('120') });
    expect([late.captured, late.released, late.balance].map(String)).toEqual(['120', '0', '880']);
    await expect(ledger.release('no-such-request')).rejects.toBeInstanceOf(HoldNotFoundError);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('grants, adjusts and refunds with idempotency keys', async () => {
    await ledger.createAccount({ name: 'admin-ops', mode: 'consumption_usd' });
    const first = await ledger.grant('admin-ops', d('5'), { idempotencyKey: 'topup-1' });
    const second = await ledger.grant('admin-ops', d('5'), { idempotencyKey: 'topup-1' });
    expect(second.replayed).toBe(true);
    expect(second.account.balance.toString()).toBe('5');
    expect(second.entry.id).toBe(first.entry.id);
    await expect(ledger.grant('admin-ops', d('6'), { idempotencyKey: 'topup-1' })).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
    expect((await ledger.adjust('admin-ops', d('-1.25'), { note: 'correction' })).account.balance.toString()).toBe('3.75');
    await expect(ledger.adjust('admin-ops', d('-4'))).rejects.toBeInstanceOf(InsufficientCreditsError);
    // A refund gives back what was charged, and no more; a replayed refund is a replay, not a second refund.
    await expect(ledger.refund('admin-ops', d('0.25'))).rejects.toThrow(
      /more than the account was charged and not yet refunded \(0 usd\)/,
    );
    const account = await ledger.getAccount('admin-ops');
    await ledger.hold({ accountId: account.id, requestId: 'req-refundable', amount: d('0.5') });
    await ledger.capture({ requestId: 'req-refundable', amount: d('0.25') });
    expect((await ledger.refund('admin-ops', d('0.25'), { idempotencyKey: 'refund-1' })).account.available.toString()).toBe(
      '3.75',
    );
    expect((await ledger.refund('admin-ops', d('0.25'), { idempotencyKey: 'refund-1' })).replayed).toBe(true);
    await expect(ledger.refund('admin-ops', d('0.01'))).rejects.toBeInstanceOf(InvalidAmountError);
    await expect(ledger.refund('admin-ops', d('-1'))).rejects.toBeInstanceOf(InvalidAmountError);
    await expect(ledger.grant('admin-ops', d('0'))).rejects.toBeInstanceOf(InvalidAmountError);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('verify names an account whose projection was tampered with', async () => {
    const { account } = await ledger.createAccount({ name: 'tampered', mode: 'consumption_usd', credits: d('2') });
    await database.db.updateTable('accounts').set({ balance: '3', available: '3' }).where('id', '=', account.id).execute();
    const result = await ledger.verify();
    expect(result.ok).toBe(false);
    const bad = result.accounts.filter((entry) => !entry.ok);
    expect(bad.map((entry) => [entry.name, entry.balance.toString(), entry.expectedBalance.toString()])).toEqual([
      ['tampered', '3', '2'],
    ]);
    await database.db.updateTable('accounts').set({ balance: '2', available: '2' }).where('id', '=', account.id).execute();
  });
});
