import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric } from './accounts.js';
import { isUniqueViolation } from './errors.js';
import type { CaptureInput, CaptureOutcome } from './settlement.js';

/**
 * The one-statement capture, for a capture with nothing else in flight (bench:gateway at concurrency 1: the
 * transactional capture cost about five round trips, most of tollgate's added latency). It covers the common
 * case only: the request holds, nothing settled it yet, and the actual amount is at most the hold. Then the
 * capture debits the amount, gives the rest of the hold back and writes its entry, in one round trip.
 *
 * Everything else (no hold, a replay, a capture after a release, an amount above the hold: the overdraft and
 * shortfall rules) makes the statement write nothing and return no row, and the caller takes the full path
 * (captureInTransaction), which decides it exactly as before.
 *
 * Why it is exact without a transaction: the "already settled?" check reads the statement's snapshot, which
 * may predate a settlement committed while this statement waits for the account's row lock. Every settlement
 * (capture or release, of any request) updates its account's row, so the update is made conditional on the
 * row still being the version the snapshot saw (same `xmin`). Under READ COMMITTED a row updated meanwhile is
 * re-checked in its new version (PostgreSQL docs, "13.2.1 Read Committed Isolation Level"), whose `xmin`
 * differs: the update then skips it, nothing is written, and the full path re-reads everything under the lock.
 * A concurrent capture of the same request that still slips through fails on the unique (request_id, kind)
 * index, which undoes the whole statement; that too is sent down the full path, where it replays.
 */
export async function captureAlone(db: Kysely<Schema>, input: CaptureInput): Promise<CaptureOutcome | undefined> {
  const amount = input.amount.toString();
  const usage = input.usage === undefined ? null : JSON.stringify(input.usage);
  const breakdown = input.breakdown === undefined ? null : JSON.stringify(input.breakdown);
  let row: { balance: string; available: string; held: string } | undefined;
  try {
    row = await db
      .with('open_hold', (cte) =>
        cte
          .selectFrom('ledger_entries as hold')
          .innerJoin('accounts', 'accounts.id', 'hold.account_id')
          .select(['hold.account_id', 'hold.amount', 'hold.unit', sql<string>`accounts.xmin`.as('version')])
          .where('hold.request_id', '=', input.requestId)
          .where('hold.kind', '=', 'hold')
          .where('hold.amount', '>=', amount)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('ledger_entries as settled')
                  .select('settled.id')
                  .where('settled.request_id', '=', input.requestId)
                  .where('settled.kind', 'in', ['capture', 'release']),
              ),
            ),
          ),
      )
      .with('settled_account', (cte) =>
        cte
          .updateTable('accounts')
          .from('open_hold')
          .set({
            available: sql<string>`accounts.available + open_hold.amount - cast(${amount} as numeric)`,
            balance: sql<string>`accounts.balance - cast(${amount} as numeric)`,
          })
          .whereRef('accounts.id', '=', 'open_hold.account_id')
          .where(sql<boolean>`accounts.xmin = open_hold.version`)
          // The table's CHECK would refuse this; the full path then reports that refusal as it always did.
          .where(sql<boolean>`accounts.balance - cast(${amount} as numeric) >= -accounts.overdraft_limit`)
          .returning(['accounts.id', 'accounts.balance', 'accounts.available', 'open_hold.amount as held', 'open_hold.unit']),
      )
      .with('entry', (cte) =>
        cte
          .insertInto('ledger_entries')
          .columns(['account_id', 'kind', 'amount', 'unit', 'request_id', 'price_version', 'usage', 'breakdown'])
          .expression((eb) =>
            eb
              .selectFrom('settled_account')
              .select([
                'settled_account.id',
                sql<string>`'capture'`.as('kind'),
                sql<string>`cast(${input.amount.neg().toString()} as numeric)`.as('amount'),
                'settled_account.unit',
                sql<string>`cast(${input.requestId} as text)`.as('request_id'),
                sql<string>`cast(${input.priceVersion ?? null} as bigint)`.as('price_version'),
                sql<string>`cast(${usage} as jsonb)`.as('usage'),
                sql<string>`cast(${breakdown} as jsonb)`.as('breakdown'),
              ]),
          )
          .returning('id'),
      )
      .selectFrom('settled_account')
      .select(['settled_account.balance', 'settled_account.available', 'settled_account.held'])
      .executeTakeFirst();
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return undefined;
  }
  if (!row) return undefined;
  return {
    captured: input.amount,
    released: fromNumeric(row.held).sub(input.amount),
    overdraft: Decimal.ZERO,
    shortfall: Decimal.ZERO,
    balance: fromNumeric(row.balance),
    available: fromNumeric(row.available),
    replayed: false,
  };
}
