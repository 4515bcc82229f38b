import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { accountFromRow, entryFromRow, fromNumeric, findAccountRow, unitOf, type Account, type LedgerEntry } from './accounts.js';
import { checkEnteredAmount, IdempotencyConflictError, InsufficientCreditsError, InvalidAmountError } from './errors.js';

export type AdminOperationKind = 'grant' | 'adjust' | 'refund';

export interface AdminOperationOptions {
  /** A repeated key replays the first outcome; the same key with another amount is refused. */
  idempotencyKey?: string;
  note?: string;
}

export interface AdminOperationResult {
  account: Account;
  entry: LedgerEntry;
  /** True when the idempotency key had been used already and nothing was written. */
  replayed: boolean;
}

/**
 * Grant (positive), refund (positive) or adjust (signed): one ledger entry carrying the signed effect on the
 * balance, plus the same change to balance and available, in one transaction. A debit that would take the
 * account below −overdraft_limit is refused, never half-applied.
 * @throws AccountNotFoundError, InvalidAmountError, InsufficientCreditsError, IdempotencyConflictError
 */
export async function applyAdminOperation(
  db: Kysely<Schema>,
  kind: AdminOperationKind,
  accountIdOrName: string,
  amount: Decimal,
  options: AdminOperationOptions = {},
): Promise<AdminOperationResult> {
  const found = await findAccountRow(db, accountIdOrName);
  const unit = unitOf(found.budget_mode);
  checkEnteredAmount(`${kind} amount`, amount, { unit, signed: kind === 'adjust' });
  if (amount.isZero()) throw new InvalidAmountError(`${kind} amount`, 'must not be zero');
  if (options.idempotencyKey !== undefined && options.idempotencyKey.trim() === '') {
    throw new InvalidAmountError('idempotency key', 'must not be empty');
  }
  // The request id carries the idempotency key, so the unique (request_id, kind) constraint does the dedup.
  const requestId = options.idempotencyKey
    ? `${kind}:${found.id}:${options.idempotencyKey}`
    : `${kind}:${found.id}:${randomUUID()}`;
  const value = amount.toString();
  const outcome = await db.transaction().execute(async (transaction) => {
    if (kind === 'refund' && !(await alreadyApplied(transaction, requestId, kind))) {
      await checkRefundable(transaction, found.id, amount, unit);
    }
    const inserted = await transaction
      .insertInto('ledger_entries')
      .values({
        account_id: found.id,
        kind,
        amount: value,
        unit,
        request_id: requestId,
        idempotency_key: options.idempotencyKey ?? null,
        note: options.note ?? null,
      })
      .onConflict((conflict) => conflict.columns(['request_id', 'kind']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) return undefined;
    const updated = await transaction
      .updateTable('accounts')
      .set({
        balance: sql<string>`balance + cast(${value} as numeric)`,
        available: sql<string>`available + cast(${value} as numeric)`,
      })
      .where('id', '=', found.id)
      .where(sql<boolean>`available + cast(${value} as numeric) >= -overdraft_limit`)
      .returningAll()
      .executeTakeFirst();
    if (!updated) {
      const current = await transaction
        .selectFrom('accounts')
        .select('available')
        .where('id', '=', found.id)
        .executeTakeFirstOrThrow();
      throw new InsufficientCreditsError(found.id, amount.neg(), fromNumeric(current.available), unit);
    }
    return { account: accountFromRow(updated), entry: entryFromRow(inserted), replayed: false };
  });
  if (outcome) return outcome;
  const existing = await db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('request_id', '=', requestId)
    .where('kind', '=', kind)
    .executeTakeFirstOrThrow();
  const entry = entryFromRow(existing);
  if (!entry.amount.eq(amount)) throw new IdempotencyConflictError(options.idempotencyKey ?? requestId);
  return { account: accountFromRow(await findAccountRow(db, found.id)), entry, replayed: true };
}

async function alreadyApplied(db: Kysely<Schema>, requestId: string, kind: AdminOperationKind): Promise<boolean> {
  const row = await db
    .selectFrom('ledger_entries')
    .select('id')
    .where('request_id', '=', requestId)
    .where('kind', '=', kind)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * A refund gives back what the account was charged: never more than its captures less the refunds already
 * made (a refund of a million on an account charged cents was accepted, and was a grant by another name).
 * The account's row is locked first, so two refunds at once cannot both pass on the same charges.
 * @throws InvalidAmountError
 */
async function checkRefundable(db: Kysely<Schema>, accountId: string, amount: Decimal, unit: 'usd' | 'tokens'): Promise<void> {
  await db.selectFrom('accounts').select('id').where('id', '=', accountId).forUpdate().executeTakeFirstOrThrow();
  const sums = await db
    .selectFrom('ledger_entries')
    .select((eb) => [
      eb.fn
        .coalesce(
          eb.fn.sum<string>(
            eb
              .case()
              .when('kind', '=', 'capture')
              .then(eb.ref('amount'))
              .else(sql<string>`0`)
              .end(),
          ),
          sql<string>`0`,
        )
        .as('captured'),
      eb.fn
        .coalesce(
          eb.fn.sum<string>(
            eb
              .case()
              .when('kind', '=', 'refund')
              .then(eb.ref('amount'))
              .else(sql<string>`0`)
              .end(),
          ),
          sql<string>`0`,
        )
        .as('refunded'),
    ])
    .where('account_id', '=', accountId)
    .where('kind', 'in', ['capture', 'refund'])
    .executeTakeFirstOrThrow();
  // Captures are stored negative (their effect on the balance), refunds positive.
  const refundable = fromNumeric(sums.captured).neg().sub(fromNumeric(sums.refunded));
  if (amount.gt(refundable)) {
    throw new InvalidAmountError(
      'refund amount',
      `${amount.toString()} is more than the account was charged and not yet refunded (${refundable.toString()} ${unit}); use a grant to add credits`,
    );
  }
}
