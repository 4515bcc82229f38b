import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import type { Decimal } from '../money/decimal.js';
import { fromNumeric, unitOf } from './accounts.js';
import { holdBatcher, type HoldInput } from './hold-batch.js';
import {
  AccountNotFoundError,
  AccountSuspendedError,
  checkAmount,
  InsufficientCreditsError,
  isUniqueViolation,
} from './errors.js';

/**
 * Reserves `amount` in ONE statement, never check-then-act (litellm#34732, one-api#2440: parallel requests
 * all passed a read-then-write budget check). The conditional update (`available >= h`, active, and no hold
 * yet for this request) and the hold entry are two data-modifying CTEs of a single statement, so they commit
 * together or not at all, in one round trip. Two concurrent holds for one request both pass the "no hold
 * yet" test; the second then fails on the unique (request_id, kind) index and its whole statement, update
 * included, is undone. A repeated hold for a request is idempotent: nothing more is taken. Holds that arrive
 * while one is committing are decided together in the next transaction, by the same rules (holdBatcher).
 * @throws InsufficientCreditsError, AccountSuspendedError, AccountNotFoundError, InvalidAmountError
 */
export async function placeHold(db: Kysely<Schema>, input: HoldInput): Promise<{ available: Decimal }> {
  checkAmount('hold amount', input.amount);
  let batcher = batchers.get(db);
  if (!batcher) batchers.set(db, (batcher = holdBatcher(db, placeOneHold)));
  return batcher.submit(input);
}

/** Per database handle, so two databases in one process (tests) never share a transaction. */
const batchers = new WeakMap<Kysely<Schema>, ReturnType<typeof holdBatcher>>();

/** The one-statement hold, for a hold that has no company. */
async function placeOneHold(db: Kysely<Schema>, input: HoldInput): Promise<{ available: Decimal }> {
  const amount = input.amount.toString();
  let held: { available: string } | undefined;
  try {
    held = await db
      .with('held', (cte) =>
        cte
          .updateTable('accounts')
          .set((eb) => ({ available: eb('available', '-', amount) }))
          .where('id', '=', input.accountId)
          .where('status', '=', 'active')
          .where('available', '>=', amount)
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('ledger_entries').select('id').where('request_id', '=', input.requestId).where('kind', '=', 'hold'),
              ),
            ),
          )
          .returning(['id', 'available', 'budget_mode']),
      )
      .with('entry', (cte) =>
        cte
          .insertInto('ledger_entries')
          .columns(['account_id', 'kind', 'amount', 'unit', 'request_id', 'owner_id'])
          .expression((eb) =>
            eb
              .selectFrom('held')
              .select([
                'held.id',
                sql<string>`'hold'`.as('kind'),
                sql<string>`cast(${amount} as numeric)`.as('amount'),
                sql<string>`case when held.budget_mode = 'consumption_tokens' then 'tokens' else 'usd' end`.as('unit'),
                sql<string>`cast(${input.requestId} as text)`.as('request_id'),
                sql<string>`cast(${input.ownerId ?? null} as text)`.as('owner_id'),
              ]),
          )
          .returning('id'),
      )
      .selectFrom('held')
      .select('held.available')
      .executeTakeFirst();
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
  }
  if (held) return { available: fromNumeric(held.available) };
  // Refused, or this request already holds its credits (then the retry is idempotent even if available is short).
  const existing = await db
    .selectFrom('ledger_entries')
    .select('id')
    .where('request_id', '=', input.requestId)
    .where('kind', '=', 'hold')
    .executeTakeFirst();
  if (!existing) throw await explainRefusedHold(db, input.accountId, input.amount);
  const row = await db.selectFrom('accounts').select('available').where('id', '=', input.accountId).executeTakeFirstOrThrow();
  return { available: fromNumeric(row.available) };
}

async function explainRefusedHold(transaction: Kysely<Schema>, accountId: string, needed: Decimal): Promise<Error> {
  const row = await transaction
    .selectFrom('accounts')
    .select(['status', 'available', 'budget_mode'])
    .where('id', '=', accountId)
    .executeTakeFirst();
  if (!row) return new AccountNotFoundError(accountId);
  if (row.status !== 'active') return new AccountSuspendedError(accountId);
  return new InsufficientCreditsError(accountId, needed, fromNumeric(row.available), unitOf(row.budget_mode));
}
