import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric } from './accounts.js';
import { openHoldsByAccount } from './settlement.js';

export interface AccountVerification {
  id: string;
  name: string;
  balance: Decimal;
  expectedBalance: Decimal;
  available: Decimal;
  expectedAvailable: Decimal;
  /** Σ open holds: holds whose request has neither a capture nor a release entry. */
  openHolds: Decimal;
  ok: boolean;
}

export interface VerifyResult {
  ok: boolean;
  accounts: AccountVerification[];
}

/**
 * Proves the projections against the append-only entries, for every account:
 *   balance   = Σ amount of grant, capture, refund and adjust entries (each stored with its signed effect;
 *               a capture is stored negative)
 *   available = balance − Σ open holds (a credit lease counts for its amount less what its calls drew)
 * NUMERIC sums in SQL are exact, so the totals are computed in the database, grouped by account. It may run
 * while gateways write: it reads one snapshot of the ledger.
 */
export async function verifyLedger(db: Kysely<Schema>): Promise<VerifyResult> {
  // The three reads see one snapshot (REPEATABLE READ: taken at the first): on a ledger in use, a settlement
  // committing between two of them showed as a mismatch that was not there.
  const { accounts, sums, openHolds } = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (snapshot) => ({
      accounts: await snapshot.selectFrom('accounts').select(['id', 'name', 'balance', 'available']).orderBy('name').execute(),
      sums: await snapshot
        .selectFrom('ledger_entries')
        .select((eb) => ['account_id', eb.fn.sum<string>('amount').as('amount')])
        .where('kind', 'in', ['grant', 'capture', 'refund', 'adjust'])
        .groupBy('account_id')
        .execute(),
      openHolds: await openHoldsByAccount(snapshot),
    }));
  const expectedBalances = totalsByAccount(sums);
  const heldByAccount = totalsByAccount(openHolds);
  const results = accounts.map((row): AccountVerification => {
    const balance = fromNumeric(row.balance);
    const available = fromNumeric(row.available);
    const expectedBalance = expectedBalances.get(row.id) ?? Decimal.ZERO;
    const held = heldByAccount.get(row.id) ?? Decimal.ZERO;
    const expectedAvailable = expectedBalance.sub(held);
    return {
      id: row.id,
      name: row.name,
      balance,
      expectedBalance,
      available,
      expectedAvailable,
      openHolds: held,
      ok: balance.eq(expectedBalance) && available.eq(expectedAvailable),
    };
  });
  return { ok: results.every((result) => result.ok), accounts: results };
}

function totalsByAccount(rows: Array<{ account_id: string; amount: string }>): Map<string, Decimal> {
  const totals = new Map<string, Decimal>();
  for (const row of rows) totals.set(row.account_id, (totals.get(row.account_id) ?? Decimal.ZERO).add(fromNumeric(row.amount)));
  return totals;
}
