import { sql, type Insertable, type Kysely, type QueryCreator, type RawBuilder, type Transaction } from 'kysely';
import type { LedgerEntriesTable, LedgerEntryRow, Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric } from './accounts.js';
import { captureAlone } from './capture-statement.js';
import { HoldNotFoundError } from './errors.js';
import { GroupCommitQueue, type Settled as GroupSettled } from '../db/group-commit.js';
import type { CaptureInput, CaptureOutcome } from './settlement.js';

/** At most this many captures share one transaction; the rest wait for the next one. */
export const MAX_CAPTURE_BATCH = 200;

type Settled = Pick<LedgerEntryRow, 'kind' | 'amount' | 'note'>;
export type CaptureResult = GroupSettled<CaptureOutcome>;

/**
 * Group commit for captures. Every capture locks its account's row until its transaction commits, so under
 * load the captures of one account queue on that lock, one commit (one WAL flush) each: on PostgreSQL that
 * capped a single busy account near 110 hold+capture pairs a second (bench:ledger, "one shared account").
 * Captures that arrive while a transaction is in flight are applied together in the next one: one lock per
 * account, one read, one insert of all their entries, one update per account. Nothing waits for a timer: a
 * capture arriving when none is in flight starts at once, as the one-statement capture (captureAlone, one
 * round trip) when its case is the common one, so an idle gateway pays no extra latency.
 */
export function captureBatcher(db: Kysely<Schema>): GroupCommitQueue<CaptureInput, CaptureOutcome> {
  return new GroupCommitQueue((inputs) => captureBatch(db, inputs), { maxBatch: MAX_CAPTURE_BATCH, name: 'captures' });
}

/**
 * Settles `inputs`, in order, in as few transactions as it can: each gets its outcome or its own error. A
 * failed shared transaction (a lost connection, a deadlock) is retried one capture at a time, so one
 * capture's failure is its own and never another's. A capture alone tries the one-statement capture first;
 * what that statement does not cover (replay, no hold, above the hold, a lease, a race) takes the full path.
 */
export async function captureBatch(db: Kysely<Schema>, inputs: CaptureInput[]): Promise<CaptureResult[]> {
  if (inputs.length === 1 && !inputs[0]!.leaseId) {
    try {
      const outcome = await captureAlone(db, inputs[0]!);
      if (outcome) return [{ value: outcome }];
    } catch (error) {
      return [{ error }];
    }
  }
  try {
    return await captureInTransaction(db, inputs);
  } catch (error) {
    if (inputs.length === 1) return [{ error }];
    const results: CaptureResult[] = [];
    for (const input of inputs) {
      results.push(...(await captureInTransaction(db, [input]).catch((single: unknown) => [{ error: single }])));
    }
    return results;
  }
}

/**
 * Settles `inputs` in order in one transaction, each exactly as if alone: the accounts' rows are locked
 * first (in id order, so two batches never deadlock), then the settling entries are read, so every earlier
 * settlement is seen; a request captured earlier, here or before, replays its first outcome.
 *
 * A capture with a `leaseId` draws on that lease's hold instead of a hold of its own: what the lease has
 * left (its amount less the captures already drawn on it; nothing once it was released) pays first, and the
 * lease keeps the rest for its next calls instead of giving it back. Past that, both kinds take the excess
 * from available, down to −overdraft_limit, and record what the policy refuses as a shortfall.
 */
async function captureInTransaction(db: Kysely<Schema>, inputs: CaptureInput[]): Promise<CaptureResult[]> {
  const requestIds = [...new Set(inputs.map((input) => input.requestId))];
  const leaseIds = [...new Set(inputs.flatMap((input) => (input.leaseId ? [input.leaseId] : [])))];
  const holdIds = [...new Set(inputs.map((input) => input.leaseId ?? input.requestId))];
  return db.transaction().execute(async (transaction) => {
    const holds = await transaction
      .selectFrom('ledger_entries as hold')
      .innerJoin('accounts', 'accounts.id', 'hold.account_id')
      .select([
        'hold.request_id',
        'hold.amount',
        'hold.unit',
        'accounts.id as account_id',
        'accounts.balance',
        'accounts.available',
        'accounts.overdraft_limit',
      ])
      .where('hold.request_id', '=', anyOf(holdIds))
      .where('hold.kind', '=', 'hold')
      .orderBy('accounts.id')
      // The lock an UPDATE of the balance takes: it excludes every other ledger writer of these accounts, not
      // another writer's foreign key check (a usage record naming the account), which FOR UPDATE held back.
      .forNoKeyUpdate('accounts')
      .execute();
    const settledRows = await transaction
      .selectFrom('ledger_entries')
      .select(['request_id', 'kind', 'amount', 'note'])
      .where('request_id', '=', anyOf([...new Set([...requestIds, ...leaseIds])]))
      .where('kind', 'in', ['capture', 'release'])
      .execute();
    const drawn = await drawnOnLeases(transaction, leaseIds);
    const holdByRequest = new Map(holds.map((hold) => [hold.request_id, hold]));
    const settled = new Map<string, Settled>(settledRows.map((row) => [`${row.request_id}:${row.kind}`, row]));
    const accounts = new Map<string, { balance: Decimal; available: Decimal }>();
    const entries: Array<Insertable<LedgerEntriesTable>> = [];
    const results = inputs.map((input): CaptureResult => {
      const holdId = input.leaseId ?? input.requestId;
      const hold = holdByRequest.get(holdId);
      if (!hold) return { error: new HoldNotFoundError(holdId) };
      let account = accounts.get(hold.account_id);
      if (!account) {
        account = { balance: fromNumeric(hold.balance), available: fromNumeric(hold.available) };
        accounts.set(hold.account_id, account);
      }
      const released = settled.has(`${holdId}:release`);
      // What the hold can still pay: a lease's amount less what was drawn on it; a call's own hold in full.
      const held = released
        ? Decimal.ZERO
        : Decimal.max(
            Decimal.ZERO,
            fromNumeric(hold.amount).sub(input.leaseId ? (drawn.get(input.leaseId) ?? Decimal.ZERO) : Decimal.ZERO),
          );
      const capture = settled.get(`${input.requestId}:capture`);
      if (capture) {
        // A lease's replay reports no give-back and no overdraft: the lease, not the call, kept the rest.
        const replayHeld = input.leaseId ? fromNumeric(capture.amount).neg() : held;
        return { value: replayedCapture(capture, replayHeld, account.balance, account.available) };
      }
      const fromHold = Decimal.min(input.amount, held);
      const headroom = Decimal.max(Decimal.ZERO, account.available.add(fromNumeric(hold.overdraft_limit)));
      const fromAvailable = Decimal.min(input.amount.sub(fromHold), headroom);
      const captured = fromHold.add(fromAvailable);
      const shortfall = input.amount.sub(captured);
      // A call's own hold gives its unused part back; a lease keeps it for the calls still to come.
      const givenBack = input.leaseId ? Decimal.ZERO : held.sub(fromHold);
      account.available = account.available.add(givenBack).sub(fromAvailable);
      account.balance = account.balance.sub(captured);
      if (input.leaseId) drawn.set(input.leaseId, (drawn.get(input.leaseId) ?? Decimal.ZERO).add(captured));
      const entry = {
        account_id: hold.account_id,
        kind: 'capture' as const,
        amount: captured.neg().toString(),
        unit: hold.unit,
        request_id: input.requestId,
        lease_id: input.leaseId ?? null,
        price_version: input.priceVersion ?? null,
        usage: input.usage === undefined ? null : JSON.stringify(input.usage),
        breakdown: input.breakdown === undefined ? null : JSON.stringify(input.breakdown),
        note: shortfall.isPositive()
          ? `shortfall ${shortfall.toString()}: actual ${input.amount.toString()} exceeded the hold and the overdraft limit`
          : null,
      };
      entries.push(entry);
      settled.set(`${input.requestId}:capture`, entry);
      return {
        value: {
          captured,
          released: givenBack,
          overdraft: fromAvailable,
          shortfall,
          balance: account.balance,
          available: account.available,
          replayed: false,
        },
      };
    });
    await appendAndProject(transaction, entries, accounts);
    return results;
  });
}

/**
 * What has been drawn on each lease so far: the sum of the captures that name it (stored negative, so
 * negated here). Read after the accounts' rows are locked, so it includes every capture committed before.
 */
export async function drawnOnLeases(db: Kysely<Schema>, leaseIds: string[]): Promise<Map<string, Decimal>> {
  if (leaseIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('ledger_entries')
    .select((eb) => ['lease_id', eb.fn.sum<string>('amount').as('amount')])
    .where('lease_id', '=', anyOf(leaseIds))
    .where('kind', '=', 'capture')
    .groupBy('lease_id')
    .execute();
  return new Map(rows.map((row) => [row.lease_id!, fromNumeric(row.amount).neg()]));
}

/** All the batch's entries, and each touched account's projections; the first update carries the insert. */
async function appendAndProject(
  transaction: Transaction<Schema>,
  entries: Array<Insertable<LedgerEntriesTable>>,
  accounts: Map<string, { balance: Decimal; available: Decimal }>,
): Promise<void> {
  if (entries.length === 0) return;
  const touched = [...new Set(entries.map((entry) => entry.account_id))];
  for (const [index, accountId] of touched.entries()) {
    const projection = accounts.get(accountId)!;
    const set = { available: projection.available.toString(), balance: projection.balance.toString() };
    if (index === 0) {
      await transaction
        .with('entry', (cte) => insertEntries(cte, entries))
        .updateTable('accounts')
        .set(set)
        .where('id', '=', accountId)
        .execute();
    } else await transaction.updateTable('accounts').set(set).where('id', '=', accountId).execute();
  }
}

/**
 * `= any(<ids as one text[] parameter>)`: the statement's text is the same for a batch of any size. With an
 * `in (...)` list, every batch size was a statement of its own, parsed and planned anew.
 */
function anyOf(values: string[]): RawBuilder<string> {
  return sql<string>`any(${values}::text[])`;
}

/** The columns a batch's entries set (the id and created_at are the database's). */
const ENTRY_COLUMNS = [
  'account_id',
  'kind',
  'amount',
  'unit',
  'request_id',
  'lease_id',
  'price_version',
  'usage',
  'breakdown',
  'note',
] as const satisfies ReadonlyArray<keyof Insertable<LedgerEntriesTable>>;

/**
 * Inserts the batch's entries from one JSON parameter, unpacked by PostgreSQL, in their order: one statement
 * text for any batch. A bound parameter per column and row (ten per capture) made a statement PostgreSQL
 * parsed and planned anew for each batch size, the most expensive part of a batch's planning, and cost this
 * process building and encoding every parameter. `usage` and `breakdown` travel as JSON text inside the JSON
 * (as they are written), so a JSON `null` stays a JSON null and an absent one stays SQL NULL.
 */
function insertEntries(db: QueryCreator<Schema>, entries: Array<Insertable<LedgerEntriesTable>>) {
  // A column an entry leaves out is NULL, as json_populate_recordset reads a missing key.
  const json = JSON.stringify(entries);
  return db
    .insertInto('ledger_entries')
    .columns(ENTRY_COLUMNS)
    .expression((select) =>
      select
        .selectFrom(
          sql<Insertable<LedgerEntriesTable>>`json_populate_recordset(null::ledger_entries, ${json}) with ordinality`.as(
            'queued',
          ),
        )
        .select(
          ENTRY_COLUMNS.map((column) =>
            column === 'usage' || column === 'breakdown'
              ? sql<string>`(queued.${sql.ref(column)} #>> '{}')::jsonb`.as(column)
              : (`queued.${column}` as const),
          ),
        )
        .orderBy(sql`queued.ordinality`),
    )
    .returning('id');
}

const SHORTFALL_NOTE = /^shortfall (\d+(?:\.\d+)?):/;

function replayedCapture(capture: Settled, held: Decimal, balance: Decimal, available: Decimal): CaptureOutcome {
  const captured = fromNumeric(capture.amount).neg();
  const shortfallText = capture.note ? SHORTFALL_NOTE.exec(capture.note)?.[1] : undefined;
  return {
    captured,
    released: Decimal.max(Decimal.ZERO, held.sub(captured)),
    overdraft: Decimal.max(Decimal.ZERO, captured.sub(held)),
    shortfall: shortfallText ? Decimal.parse(shortfallText) : Decimal.ZERO,
    balance,
    available,
    replayed: true,
  };
}
