import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { HoldNotFoundError } from './errors.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

/** Captures submitted together: the first starts a transaction at once, the rest share the next one. */
describe.each(backends())('captures committed together on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  /** The transactions that wrote the account's capture entries, by the id each row carries (xmin): start times can
   * share a millisecond, transaction ids never do. */
  async function captureTransactions(accountId: string): Promise<number> {
    const rows = await database.db
      .selectFrom('ledger_entries')
      .select(sql<string>`xmin::text`.as('transaction'))
      .where('account_id', '=', accountId)
      .where('kind', '=', 'capture')
      .execute();
    return new Set(rows.map((row) => row.transaction)).size;
  }

  it('settles 40 concurrent captures on one account exactly as one after another, in fewer transactions', async () => {
    const { account } = await ledger.createAccount({ name: 'busy', mode: 'consumption_usd', credits: d('100') });
    // Request i holds 0.1 and captures 0.001 × (i + 1): 0.001 … 0.040, 0.82 in all.
    const requests = Array.from({ length: 40 }, (_, index) => ({
      requestId: `busy-${index}`,
      amount: d('0.001').times(index + 1),
    }));
    for (const request of requests) await ledger.hold({ accountId: account.id, requestId: request.requestId, amount: d('0.1') });
    const outcomes = await Promise.all(requests.map((request) => ledger.capture(request)));

    expect(outcomes.map((outcome) => outcome.captured.toString())).toEqual(requests.map((request) => request.amount.toString()));
    expect(outcomes.every((outcome) => outcome.released.toString() === d('0.1').sub(outcome.captured).toString())).toBe(true);
    // Each outcome reports the balance right after its own capture: 40 distinct steps down to 100 − 0.82.
    expect(new Set(outcomes.map((outcome) => outcome.balance.toString())).size).toBe(40);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['99.18', '99.18']);
    expect(outcomes.map((outcome) => outcome.balance.toString())).toContain('99.18');
    expect(await captureTransactions(account.id)).toBeLessThan(40);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('keeps each capture its own outcome in a shared transaction: replay, missing hold, shortfall, after release', async () => {
    const { account } = await ledger.createAccount({ name: 'mixed', mode: 'consumption_usd', credits: d('1') });
    await ledger.hold({ accountId: account.id, requestId: 'm-first', amount: d('0.1') });
    await ledger.hold({ accountId: account.id, requestId: 'm-twice', amount: d('0.2') });
    await ledger.hold({ accountId: account.id, requestId: 'm-big', amount: d('0.1') });
    await ledger.hold({ accountId: account.id, requestId: 'm-released', amount: d('0.3') });
    await ledger.release('m-released', 'upstream error');
    // The first capture starts a transaction at once; the five behind it are queued into the next one.
    const [first, twice, again, missing, big, released] = await Promise.allSettled([
      ledger.capture({ requestId: 'm-first', amount: d('0.05') }),
      ledger.capture({ requestId: 'm-twice', amount: d('0.15') }),
      ledger.capture({ requestId: 'm-twice', amount: d('0.19') }),
      ledger.capture({ requestId: 'm-none', amount: d('0.01') }),
      ledger.capture({ requestId: 'm-big', amount: d('5') }),
      ledger.capture({ requestId: 'm-released', amount: d('0.02') }),
    ]);
    const value = <T>(result: PromiseSettledResult<T> | undefined): T => {
      if (result?.status !== 'fulfilled') throw new Error(`expected a capture, got ${String(result?.status)}`);
      return result.value;
    };
    expect(value(first).captured.toString()).toBe('0.05');
    expect([value(twice).captured.toString(), value(twice).replayed]).toEqual(['0.15', false]);
    // The second capture of m-twice replays the first one's amount, whatever it asked for.
    expect([value(again).captured.toString(), value(again).replayed]).toEqual(['0.15', true]);
    expect(missing?.status === 'rejected' && missing.reason).toBeInstanceOf(HoldNotFoundError);
    // 1 − 0.05 − 0.15 = 0.8 balance; m-big may take its 0.1 hold plus what is available (0.8 − 0.1 = 0.7).
    expect([value(big).captured, value(big).shortfall, value(big).balance].map(String)).toEqual(['0.8', '4.2', '0']);
    // Released before: nothing held, and nothing left to take.
    expect([value(released).captured, value(released).shortfall].map(String)).toEqual(['0', '0.02']);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['0', '0']);
    expect(await captureTransactions(account.id)).toBe(2);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
