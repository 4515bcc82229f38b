import { sql } from 'kysely';
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

/**
 * `verify` on a ledger in use (a gateway serving while an operator runs `tollgate verify`): an entry and its
 * projection committed between two of its reads must not show as a mismatch. PostgreSQL only: PGlite runs one
 * transaction at a time, so nothing can commit between the reads of another.
 */
describe.each(backends().filter((backend) => backend.name === 'postgres'))(
  'ledger verification while the ledger is written, on $name',
  (backend) => {
    let database: TestDatabase;
    let ledger: Ledger;
    openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

    it('reads one snapshot: a grant that commits after its first read is not seen by the others', async () => {
      const { id } = (await ledger.createAccount({ name: 'verify-live', mode: 'consumption_usd', credits: d('10') })).account;
      let commit!: () => void;
      const committing = new Promise<void>((resolve) => (commit = resolve));
      // A grant and its projection in a transaction of their own, committed once verify has made its first read.
      const granted = database.db.transaction().execute(async (transaction) => {
        await transaction
          .insertInto('ledger_entries')
          .values({ account_id: id, kind: 'grant', amount: '5', unit: 'usd', request_id: 'grant_verify_live' })
          .execute();
        await transaction
          .updateTable('accounts')
          .set({ balance: sql`balance + 5`, available: sql`available + 5` })
          .where('id', '=', id)
          .execute();
        await committing;
      });
      let reads = 0;
      const watched = database.db.withPlugin({
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          reads += 1;
          if (reads === 1) {
            commit();
            await granted;
          }
          return args.result;
        },
      });
      const result = await verifyLedger(watched);
      expect(reads).toBe(3);
      expect(result.accounts.find((account) => account.id === id)).toMatchObject({ ok: true });
      expect(result.ok).toBe(true);
      // Once it has committed, the next verify sees it all.
      const after = (await verifyLedger(database.db)).accounts.find((account) => account.id === id)!;
      expect([after.ok, after.balance.toString(), after.expectedBalance.toString()]).toEqual([true, '15', '15']);
    });
  },
);
