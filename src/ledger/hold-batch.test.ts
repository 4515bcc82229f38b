import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { AccountNotFoundError, AccountSuspendedError, InsufficientCreditsError } from './errors.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

/** Holds submitted together: the first runs alone at once, the rest share the next transaction. */
describe.each(backends())('holds decided together on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  /** The transactions that wrote the account's hold entries, by the id each row carries (xmin): start times can
   * share a millisecond, transaction ids never do. */
  async function holdTransactions(accountId: string): Promise<number> {
    const rows = await database.db
      .selectFrom('ledger_entries')
      .select(sql<string>`xmin::text`.as('transaction'))
      .where('account_id', '=', accountId)
      .where('kind', '=', 'hold')
      .execute();
    return new Set(rows.map((row) => row.transaction)).size;
  }

  it('grants concurrent holds in arrival order while available lasts, never past it, in fewer transactions', async () => {
    const { account } = await ledger.createAccount({ name: 'crowd', mode: 'consumption_usd', credits: d('1') });
    // 30 holds of 0.04 against 1.00: exactly 25 fit; the last 5 are refused with what was left (0).
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, index) =>
        ledger.hold({ accountId: account.id, requestId: `crowd-${index}`, amount: d('0.04') }),
      ),
    );
    const granted = results.filter((result) => result.status === 'fulfilled');
    const refused = results.filter((result) => result.status === 'rejected');
    expect([granted.length, refused.length]).toEqual([25, 5]);
    expect(results.slice(0, 25).every((result) => result.status === 'fulfilled')).toBe(true);
    expect(
      results.map((result) => (result.status === 'fulfilled' ? result.value.available.toString() : 'refused')).slice(22, 26),
    ).toEqual(['0.08', '0.04', '0', 'refused']);
    for (const result of refused) {
      const error = (result as PromiseRejectedResult).reason as InsufficientCreditsError;
      expect(error).toBeInstanceOf(InsufficientCreditsError);
      expect([error.needed.toString(), error.available.toString(), error.unit]).toEqual(['0.04', '0', 'usd']);
    }
    expect((await ledger.getAccount(account.id)).available.toString()).toBe('0');
    expect(await holdTransactions(account.id)).toBeLessThan(25);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('keeps each hold its own outcome in a shared transaction: repeat, unknown and suspended accounts, two accounts', async () => {
    const { account: first } = await ledger.createAccount({ name: 'first', mode: 'consumption_usd', credits: d('1') });
    const { account: tokens } = await ledger.createAccount({ name: 'tokens', mode: 'consumption_tokens', credits: d('1000') });
    const { account: frozen } = await ledger.createAccount({ name: 'frozen', mode: 'consumption_usd', credits: d('5') });
    await ledger.updateAccount(frozen.id, { status: 'suspended' });
    const [lead, once, again, unknown, suspended, other] = await Promise.allSettled([
      ledger.hold({ accountId: first.id, requestId: 'b-lead', amount: d('0.1') }),
      ledger.hold({ accountId: first.id, requestId: 'b-once', amount: d('0.5') }),
      // The same request again: idempotent, nothing more taken, even though 0.9 would not fit now.
      ledger.hold({ accountId: first.id, requestId: 'b-once', amount: d('0.9') }),
      ledger.hold({ accountId: 'acct_nobody', requestId: 'b-unknown', amount: d('0.1') }),
      ledger.hold({ accountId: frozen.id, requestId: 'b-frozen', amount: d('0.1') }),
      ledger.hold({ accountId: tokens.id, requestId: 'b-tokens', amount: d('400') }),
    ]);
    const available = (result: PromiseSettledResult<{ available: Decimal }> | undefined) =>
      result?.status === 'fulfilled' ? result.value.available.toString() : `rejected: ${String(result?.status)}`;
    expect([available(lead), available(once), available(again), available(other)]).toEqual(['0.9', '0.4', '0.4', '600']);
    expect(unknown?.status === 'rejected' && unknown.reason).toBeInstanceOf(AccountNotFoundError);
    expect(suspended?.status === 'rejected' && suspended.reason).toBeInstanceOf(AccountSuspendedError);
    const tokenHold = await database.db
      .selectFrom('ledger_entries')
      .select(['amount', 'unit'])
      .where('request_id', '=', 'b-tokens')
      .executeTakeFirstOrThrow();
    expect([tokenHold.amount, tokenHold.unit]).toEqual(['400', 'tokens']);
    expect((await ledger.getAccount(frozen.id)).available.toString()).toBe('5');
    // b-lead alone, then b-once and b-tokens in the next transaction.
    expect(await holdTransactions(first.id)).toBe(2);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
