import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { Ledger } from './ledger.js';
import { verifyLedger } from './verify.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('ledger verification rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  const shown = async () =>
    (await verifyLedger(database.db)).accounts.map((account) => [
      account.name,
      account.balance.toString(),
      account.expectedBalance.toString(),
      account.available.toString(),
      account.expectedAvailable.toString(),
      account.openHolds.toString(),
      account.ok,
    ]);

  it('proves balance and available from every kind of entry, account by account in name order', async () => {
    const busy = (await ledger.createAccount({ name: 'verify-b', mode: 'consumption_usd', credits: d('10') })).account.id;
    await ledger.createAccount({ name: 'verify-a', mode: 'consumption_usd' });
    await ledger.adjust(busy, d('-1'));
    await ledger.grant(busy, d('0.25'));
    await ledger.hold({ accountId: busy, requestId: 'req_verify_open', amount: d('2') });
    await ledger.hold({ accountId: busy, requestId: 'req_verify_done', amount: d('1') });
    await ledger.capture({ requestId: 'req_verify_done', amount: d('0.4') });
    await ledger.hold({ accountId: busy, requestId: 'req_verify_gone', amount: d('3') });
    await ledger.release('req_verify_gone', 'failed');
    await ledger.hold({ accountId: busy, requestId: 'lease_verify', amount: d('1') });
    await ledger.capture({ requestId: 'req_verify_leased', leaseId: 'lease_verify', amount: d('0.3') });
    await ledger.refund(busy, d('0.5'));
    // balance 10 − 1 + 0.5 + 0.25 − 0.4 − 0.3 = 9.05; open: 2 and the lease's undrawn 0.7.
    expect(await shown()).toEqual([
      ['verify-a', '0', '0', '0', '0', '0', true],
      ['verify-b', '9.05', '9.05', '6.35', '6.35', '2.7', true],
    ]);
    expect((await verifyLedger(database.db)).ok).toBe(true);
  });

  it('finds a projection that differs from the entries, on that account only', async () => {
    const tamper = (column: 'balance' | 'available', amount: string) =>
      database.db
        .updateTable('accounts')
        .set({ [column]: amount })
        .where('name', '=', 'verify-b')
        .execute();
    await tamper('balance', '9.06');
    let result = await verifyLedger(database.db);
    expect(result.ok).toBe(false);
    expect(await shown()).toEqual([
      ['verify-a', '0', '0', '0', '0', '0', true],
      ['verify-b', '9.06', '9.05', '6.35', '6.35', '2.7', false],
    ]);
    await tamper('balance', '9.05');
    await tamper('available', '6.34');
    result = await verifyLedger(database.db);
    expect([result.ok, result.accounts.map((account) => account.ok)]).toEqual([false, [true, false]]);
    await tamper('available', '6.35');
    expect((await verifyLedger(database.db)).ok).toBe(true);
  });
});
