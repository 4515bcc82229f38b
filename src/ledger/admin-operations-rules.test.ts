import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { entriesOf, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { applyAdminOperation } from './admin-operations.js';
import { AccountNotFoundError, IdempotencyConflictError, InsufficientCreditsError, InvalidAmountError } from './errors.js';
import type { Ledger } from './ledger.js';
import { refusal } from '../../test/support/refusals.js';

const d = (text: string) => Decimal.parse(text);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

describe.each(backends())('admin credit operations on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  /** Charges the account `amount` through a hold and its capture. */
  async function charge(accountId: string, requestId: string, amount: string): Promise<void> {
    await ledger.hold({ accountId, requestId, amount: d(amount) });
    await ledger.capture({ requestId, amount: d(amount) });
  }

  it('writes one entry per operation with its kind, signed amount, unit, request id, key and note', async () => {
    const { account } = await ledger.createAccount({ name: 'ops', mode: 'consumption_usd' });
    const grant = await ledger.grant('ops', d('5.50'), { idempotencyKey: 'inv-1', note: 'invoice 1' });
    expect(grant.replayed).toBe(false);
    expect([grant.account.balance.toString(), grant.account.available.toString()]).toEqual(['5.5', '5.5']);
    expect(grant.entry).toMatchObject({
      accountId: account.id,
      kind: 'grant',
      unit: 'usd',
      requestId: `grant:${account.id}:inv-1`,
      idempotencyKey: 'inv-1',
      note: 'invoice 1',
      leaseId: null,
      priceVersion: null,
    });
    expect(grant.entry.amount.toString()).toBe('5.5');
    const adjust = await ledger.adjust(account.id, d('-0.5'));
    expect(adjust.entry).toMatchObject({ kind: 'adjust', idempotencyKey: null, note: null });
    expect(adjust.entry.requestId).toMatch(new RegExp(`^adjust:${account.id}:${UUID}$`));
    expect(adjust.entry.amount.toString()).toBe('-0.5');
    expect([adjust.account.balance.toString(), adjust.account.available.toString()]).toEqual(['5', '5']);
    await charge(account.id, 'ops-call', '2');
    const refund = await ledger.refund('ops', d('0.75'), { note: 'disputed' });
    expect(refund.entry).toMatchObject({ kind: 'refund', note: 'disputed', idempotencyKey: null });
    expect(refund.entry.requestId).toMatch(new RegExp(`^refund:${account.id}:${UUID}$`));
    expect([refund.account.balance.toString(), refund.account.available.toString()]).toEqual(['3.75', '3.75']);
    const rows = await entriesOf(database.db, account.id);
    expect(rows.map((row) => [row.kind, d(row.amount).toString()])).toEqual([
      ['grant', '5.5'],
      ['adjust', '-0.5'],
      ['hold', '2'],
      ['capture', '-2'],
      ['refund', '0.75'],
    ]);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('moves available with the balance, keeping open holds aside', async () => {
    const { account } = await ledger.createAccount({ name: 'ops-held', mode: 'consumption_usd', credits: d('3') });
    await ledger.hold({ accountId: account.id, requestId: 'ops-held-1', amount: d('1') });
    const granted = await ledger.grant(account.id, d('2'));
    expect([granted.account.balance.toString(), granted.account.available.toString()]).toEqual(['5', '4']);
    const adjusted = await ledger.adjust(account.id, d('-4'));
    expect([adjusted.account.balance.toString(), adjusted.account.available.toString()]).toEqual(['1', '0']);
    const error = await refusal(ledger.adjust(account.id, d('-0.01')));
    expect(error).toBeInstanceOf(InsufficientCreditsError);
    expect(error.message).toBe(`insufficient credits on account ${account.id}: this call needs 0.01 usd, 0 usd available`);
  });

  it('refuses a negative grant or refund, a zero of any kind, fractional tokens and an empty idempotency key', async () => {
    await ledger.createAccount({ name: 'ops-tokens', mode: 'consumption_tokens', credits: d('10') });
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => ledger.grant('ops-tokens', d('-1')), 'invalid grant amount: must not be negative, got -1'],
      [() => ledger.refund('ops-tokens', d('-2')), 'invalid refund amount: must not be negative, got -2'],
      [() => ledger.grant('ops-tokens', d('0')), 'invalid grant amount: must not be zero'],
      [() => ledger.adjust('ops-tokens', d('0')), 'invalid adjust amount: must not be zero'],
      [() => ledger.refund('ops-tokens', d('0')), 'invalid refund amount: must not be zero'],
      [() => ledger.grant('ops-tokens', d('1.5')), 'invalid grant amount: token amounts are whole numbers, got 1.5'],
      [() => ledger.adjust('ops-tokens', d('-0.5')), 'invalid adjust amount: token amounts are whole numbers, got -0.5'],
      [
        () => ledger.grant('ops-tokens', d('1000000000000000')),
        'invalid grant amount: must have at most 15 digits before the decimal point and 18 after, got 16 and 0',
      ],
      [() => ledger.grant('ops-tokens', d('1'), { idempotencyKey: '  ' }), 'invalid idempotency key: must not be empty'],
      [() => ledger.grant('ops-tokens', d('1'), { idempotencyKey: '' }), 'invalid idempotency key: must not be empty'],
    ];
    for (const [operation, message] of cases) {
      const error = await refusal(operation());
      expect(error, message).toBeInstanceOf(InvalidAmountError);
      expect(error.message).toBe(message);
    }
    const account = await ledger.getAccount('ops-tokens');
    expect(account.balance.toString()).toBe('10');
    expect((await entriesOf(database.db, account.id)).length).toBe(1);
    // A signed adjustment in whole tokens is fine.
    expect((await ledger.adjust('ops-tokens', d('-3'))).account.balance.toString()).toBe('7');
    await expect(ledger.grant('nobody-ops', d('1'))).rejects.toBeInstanceOf(AccountNotFoundError);
    await expect(applyAdminOperation(database.db, 'grant', 'nobody-ops', d('1'))).rejects.toBeInstanceOf(AccountNotFoundError);
  });

  it('debits down to exactly −overdraft_limit and no further, and names the shortfall in the account unit', async () => {
    const { account } = await ledger.createAccount({
      name: 'ops-overdraft',
      mode: 'consumption_tokens',
      credits: d('10'),
      overdraftLimit: d('5'),
    });
    const error = await refusal(ledger.adjust(account.id, d('-16')));
    expect(error).toBeInstanceOf(InsufficientCreditsError);
    expect(error.message).toBe(`insufficient credits on account ${account.id}: this call needs 16 tokens, 10 tokens available`);
    expect((await entriesOf(database.db, account.id)).map((row) => row.kind)).toEqual(['grant']);
    const exact = await ledger.adjust(account.id, d('-15'));
    expect([exact.account.balance.toString(), exact.account.available.toString()]).toEqual(['-5', '-5']);
    const more = await refusal(ledger.adjust(account.id, d('-1')));
    expect(more.message).toBe(`insufficient credits on account ${account.id}: this call needs 1 tokens, -5 tokens available`);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('replays a repeated key with the current account, refuses it with another amount, and keeps kinds and accounts apart', async () => {
    const { account } = await ledger.createAccount({ name: 'ops-replay', mode: 'consumption_usd' });
    const first = await ledger.grant('ops-replay', d('2'), { idempotencyKey: 'k' });
    await ledger.grant('ops-replay', d('1'));
    const again = await ledger.grant(account.id, d('2.00'), { idempotencyKey: 'k', note: 'ignored' });
    expect(again.replayed).toBe(true);
    expect(again.entry.id).toBe(first.entry.id);
    expect(again.entry.note).toBeNull();
    expect([again.account.balance.toString(), again.account.available.toString()]).toEqual(['3', '3']);
    const conflict = await refusal(ledger.grant('ops-replay', d('2.01'), { idempotencyKey: 'k' }));
    expect(conflict).toBeInstanceOf(IdempotencyConflictError);
    expect(conflict.message).toBe('idempotency key "k" was already used with a different request; use a new key');
    // The same key on another kind, or another account, is another operation.
    const adjust = await ledger.adjust('ops-replay', d('-2'), { idempotencyKey: 'k' });
    expect([adjust.replayed, adjust.account.balance.toString()]).toEqual([false, '1']);
    await ledger.createAccount({ name: 'ops-replay-2', mode: 'consumption_usd' });
    const other = await ledger.grant('ops-replay-2', d('7'), { idempotencyKey: 'k' });
    expect([other.replayed, other.account.balance.toString()]).toEqual([false, '7']);
    expect((await entriesOf(database.db, account.id)).map((row) => row.kind)).toEqual(['grant', 'grant', 'adjust']);
  });

  it('refunds up to what was captured less what was refunded, to the last digit, and replays a spent refund', async () => {
    const { account } = await ledger.createAccount({ name: 'ops-refund', mode: 'consumption_usd', credits: d('10') });
    // Grants and adjustments are not charges.
    await ledger.adjust(account.id, d('-1'));
    const none = await refusal(ledger.refund(account.id, d('0.01')));
    expect(none).toBeInstanceOf(InvalidAmountError);
    expect(none.message).toBe(
      'invalid refund amount: 0.01 is more than the account was charged and not yet refunded (0 usd); use a grant to add credits',
    );
    await charge(account.id, 'ops-refund-1', '1.25');
    await charge(account.id, 'ops-refund-2', '0.5');
    await ledger.refund(account.id, d('0.5'), { idempotencyKey: 'r1' });
    const over = await refusal(ledger.refund(account.id, d('1.2500001')));
    expect(over.message).toBe(
      'invalid refund amount: 1.2500001 is more than the account was charged and not yet refunded (1.25 usd); use a grant to add credits',
    );
    const exact = await ledger.refund(account.id, d('1.25'), { idempotencyKey: 'r2' });
    expect([exact.replayed, exact.account.balance.toString()]).toEqual([false, '9']);
    // Nothing is left to refund, yet the same refund again is a replay, not a refusal.
    const replay = await ledger.refund(account.id, d('1.25'), { idempotencyKey: 'r2' });
    expect([replay.replayed, replay.entry.id, replay.account.balance.toString()]).toEqual([true, exact.entry.id, '9']);
    const spent = await refusal(ledger.refund(account.id, d('0.000001')));
    expect(spent.message).toContain('(0 usd)');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('names tokens in a token account refund refusal', async () => {
    const { account } = await ledger.createAccount({ name: 'ops-refund-tokens', mode: 'consumption_tokens', credits: d('100') });
    await charge(account.id, 'ops-refund-tokens-1', '30');
    const error = await refusal(ledger.refund(account.id, d('31')));
    expect(error.message).toBe(
      'invalid refund amount: 31 is more than the account was charged and not yet refunded (30 tokens); use a grant to add credits',
    );
    expect((await ledger.refund(account.id, d('30'))).account.balance.toString()).toBe('100');
  });
});
