import { sql, type ExpressionBuilder, type Insertable, type Kysely, type Transaction } from 'kysely';
import type { LedgerEntriesTable, LedgerEntryRow, Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric } from './accounts.js';
import { captureBatcher, drawnOnLeases } from './capture-batch.js';
import { checkAmount, HoldNotFoundError } from './errors.js';

/**
 * Settlement: capture and release (the hold is in hold.ts). Sign convention (what `verify` checks): a hold or release entry carries the
 * held amount (positive) and never touches the balance; a capture entry carries the signed effect on the
 * balance (−captured). A hold is open until its request has a capture or a release entry; the unique
 * (request_id, kind) constraint makes each of those happen at most once per request.
 */

export interface CaptureInput {
  requestId: string;
  amount: Decimal;
  /** Settle against this credit lease (its hold's request id) instead of a hold of the request's own. */
  leaseId?: string;
  priceVersion?: number;
  usage?: unknown;
  breakdown?: unknown;
}

export interface CaptureOutcome {
  /** What the balance was debited. */
  captured: Decimal;
  /** The part of the hold given back to available. */
  released: Decimal;
  /** The part of the capture above the hold, taken from available (and, past zero, from the overdraft limit). */
  overdraft: Decimal;
  /** The part of the actual amount not collected because the overdraft policy stopped it (also in the note). */
  shortfall: Decimal;
  balance: Decimal;
  available: Decimal;
  /**
   * True when this capture had already been made and nothing was written: the amounts above are the first
   * capture's; balance and available are the account's current ones.
   */
  replayed: boolean;
}

/**
 * The request's hold and its account, with the account's row locked, then whatever settled the hold. Every
 * settlement of one account's requests queues on that lock, so the "already settled?" read that follows it
 * sees any settlement committed before and cannot race one committed after.
 */
async function settlementState(transaction: Transaction<Schema>, requestId: string) {
  const hold = await transaction
    .selectFrom('ledger_entries as hold')
    .innerJoin('accounts', 'accounts.id', 'hold.account_id')
    .select([
      'hold.amount',
      'hold.unit',
      'accounts.id as account_id',
      'accounts.balance',
      'accounts.available',
      'accounts.overdraft_limit',
    ])
    .where('hold.request_id', '=', requestId)
    .where('hold.kind', '=', 'hold')
    // As the capture batch locks (capture-batch.ts): other settlements wait, foreign key checks do not.
    .forNoKeyUpdate('accounts')
    .executeTakeFirst();
  if (!hold) throw new HoldNotFoundError(requestId);
  const settled = await transaction
    .selectFrom('ledger_entries')
    .select(['kind', 'amount', 'note'])
    .where('request_id', '=', requestId)
    .where('kind', 'in', ['capture', 'release'])
    .execute();
  return {
    hold,
    capture: settled.find((entry) => entry.kind === 'capture'),
    release: settled.find((entry) => entry.kind === 'release'),
  };
}

/** Appends the settling entry and sets the account's projections in one statement (one round trip). */
async function appendAndProject(
  transaction: Transaction<Schema>,
  entry: Insertable<LedgerEntriesTable>,
  projection: { balance?: Decimal; available: Decimal },
): Promise<void> {
  await transaction
    .with('entry', (cte) => cte.insertInto('ledger_entries').values(entry).returning('id'))
    .updateTable('accounts')
    .set({
      available: projection.available.toString(),
      ...(projection.balance ? { balance: projection.balance.toString() } : {}),
    })
    .where('id', '=', entry.account_id)
    .execute();
}

/**
 * Settles a request: debits the actual amount and gives the rest of the hold back, in one transaction
 * (shared with the captures that arrive while another is committing: see captureBatcher).
 * An actual amount above the hold takes the excess from available, down to −overdraft_limit and no further;
 * what the policy refuses is recorded as a shortfall in the entry's note (sub2api#3384: balances went negative).
 * A capture after the sweeper released the hold still charges, from available, under the same policy.
 * A second capture for the same request returns the first outcome and writes nothing.
 * @throws HoldNotFoundError, InvalidAmountError
 */
export async function captureHold(db: Kysely<Schema>, input: CaptureInput): Promise<CaptureOutcome> {
  checkAmount('capture amount', input.amount);
  let batcher = batchers.get(db);
  if (!batcher) batchers.set(db, (batcher = captureBatcher(db)));
  return batcher.submit(input);
}

/** Per database handle, so two databases in one process (tests) never share a transaction. */
const batchers = new WeakMap<Kysely<Schema>, ReturnType<typeof captureBatcher>>();

/**
 * Returns the whole hold to available (upstream error, timeout, client abort: litellm#27639 left holds
 * stuck on errors); for a credit lease, the part its calls did not draw. Idempotent, and a no-op once the
 * request was captured.
 * @returns whether this call released the hold, and the amount given back
 * @throws HoldNotFoundError
 */
export async function releaseHold(
  db: Kysely<Schema>,
  requestId: string,
  reason?: string,
): Promise<{ released: boolean; amount: Decimal }> {
  return db.transaction().execute(async (transaction) => {
    const { hold, capture, release } = await settlementState(transaction, requestId);
    if (capture || release) return { released: false, amount: Decimal.ZERO };
    // A credit lease gives back only what its calls did not draw (0 for a call's own hold: nothing names it).
    const drawn = (await drawnOnLeases(transaction, [requestId])).get(requestId) ?? Decimal.ZERO;
    const held = Decimal.max(Decimal.ZERO, fromNumeric(hold.amount).sub(drawn));
    await appendAndProject(
      transaction,
      {
        account_id: hold.account_id,
        kind: 'release',
        amount: held.toString(),
        unit: hold.unit,
        request_id: requestId,
        note: reason ?? null,
      },
      { available: fromNumeric(hold.available).add(held) },
    );
    return { released: true, amount: held };
  });
}

const unsettledHold = ({ not, exists, selectFrom }: ExpressionBuilder<Schema & { hold: Schema['ledger_entries'] }, 'hold'>) =>
  not(
    exists(
      selectFrom('ledger_entries as settled')
        .select('settled.id')
        .whereRef('settled.request_id', '=', 'hold.request_id')
        .where('settled.kind', 'in', ['capture', 'release']),
    ),
  );

/**
 * The open holds (of one account, or all), each with what it still reserves: a call's hold its amount, a
 * credit lease its amount less what its calls drew (never below zero: a call may draw past a lease's end,
 * the excess then came from available). Grouped by account.
 */
export function openHoldsByAccount(db: Kysely<Schema>, accountId?: string) {
  let query = db
    .selectFrom('ledger_entries as hold')
    .leftJoin(
      (eb) => {
        let draws = eb
          .selectFrom('ledger_entries')
          .select((inner) => ['lease_id', inner.fn.sum<string>('amount').as('drawn')])
          .where('kind', '=', 'capture')
          .where('lease_id', 'is not', null);
        // One account's view sums only that account's draws (a capture draws on a lease of its own account).
        if (accountId !== undefined) draws = draws.where('account_id', '=', accountId);
        return draws.groupBy('lease_id').as('lease');
      },
      (join) => join.onRef('lease.lease_id', '=', 'hold.request_id'),
    )
    .select((eb) => [
      'hold.account_id',
      eb.fn.countAll<number>().as('count'),
      eb.fn.sum<string>(sql`greatest(0, hold.amount + coalesce(lease.drawn, 0))`).as('amount'),
    ])
    .where('hold.kind', '=', 'hold')
    .where(unsettledHold)
    .groupBy('hold.account_id');
  if (accountId !== undefined) query = query.where('hold.account_id', '=', accountId);
  return query.execute();
}

/** How many holds of the account are open (credit leases included), and what they still reserve. */
export async function openHoldTotals(db: Kysely<Schema>, accountId: string): Promise<{ count: number; total: Decimal }> {
  const [row] = await openHoldsByAccount(db, accountId);
  return row ? { count: Number(row.count), total: fromNumeric(row.amount) } : { count: 0, total: Decimal.ZERO };
}

/** Request ids of holds older than `maxAgeSeconds` that were never captured nor released. */
export async function staleHoldRequestIds(db: Kysely<Schema>, maxAgeSeconds: number, limit: number): Promise<string[]> {
  const cutoff = new Date(Date.now() - maxAgeSeconds * 1000);
  const rows = await db
    .selectFrom('ledger_entries as hold')
    .select('hold.request_id')
    .where('hold.kind', '=', 'hold')
    .where('hold.created_at', '<', cutoff)
    .where(unsettledHold)
    .orderBy('hold.id')
    .limit(limit)
    .execute();
  return rows.map((row) => row.request_id);
}
