import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { fromNumeric, unitOf } from './accounts.js';
import { AccountNotFoundError, AccountSuspendedError, InsufficientCreditsError } from './errors.js';
import { GroupCommitQueue, type Settled } from '../db/group-commit.js';

export interface HoldInput {
  accountId: string;
  requestId: string;
  amount: Decimal;
  /** The gateway instance placing it (released when that instance dies); none for holds made elsewhere. */
  ownerId?: string;
}

type HoldResult = Settled<{ available: Decimal }>;
type SingleHold = (db: Kysely<Schema>, input: HoldInput) => Promise<{ available: Decimal }>;

/** At most this many holds share one transaction; the rest wait for the next one. */
const MAX_BATCH = 200;

/**
 * Group commit for holds. A hold's conditional update keeps its account's row locked until its commit is
 * flushed, so the holds of one busy account queue on that lock, one WAL flush each (bench:gateway: the
 * holds were most of the wait at 50 connections once captures were batched). A hold arriving when none is
 * in flight runs alone, as the one-statement hold (one round trip); holds that arrive meanwhile are decided
 * together in the next transaction, in arrival order, each by the same rules as alone.
 */
export function holdBatcher(db: Kysely<Schema>, single: SingleHold): GroupCommitQueue<HoldInput, { available: Decimal }> {
  const alone = (input: HoldInput): Promise<HoldResult> =>
    single(db, input).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
  // A failed shared transaction (a lost connection, a deadlock, a concurrent hold for the same request on
  // another instance) is retried one hold at a time, so one hold's failure is its own.
  const run = async (inputs: HoldInput[]): Promise<HoldResult[]> => {
    if (inputs.length === 1) return [await alone(inputs[0]!)];
    try {
      return await holdInTransaction(db, inputs);
    } catch {
      const results: HoldResult[] = [];
      for (const input of inputs) results.push(await alone(input));
      return results;
    }
  };
  return new GroupCommitQueue(run, { maxBatch: MAX_BATCH, name: 'holds' });
}

/**
 * Decides `inputs` in order in one transaction, as the one-statement hold would one after another: the
 * accounts' rows are locked first (in id order, so two batches never deadlock), then the existing holds are
 * read. A request that already holds is idempotent (nothing more taken, even if available is short); a
 * refusal names the account's state as it is under the lock.
 */
async function holdInTransaction(db: Kysely<Schema>, inputs: HoldInput[]): Promise<HoldResult[]> {
  const accountIds = [...new Set(inputs.map((input) => input.accountId))];
  const requestIds = [...new Set(inputs.map((input) => input.requestId))];
  return db.transaction().execute(async (transaction) => {
    const rows = await transaction
      .selectFrom('accounts')
      .select(['id', 'status', 'available', 'budget_mode'])
      .where('id', 'in', accountIds)
      .orderBy('id')
      // As the capture batch locks (capture-batch.ts): other holds and settlements wait, foreign key checks do not.
      .forNoKeyUpdate()
      .execute();
    const existing = await transaction
      .selectFrom('ledger_entries')
      .select('request_id')
      .where('request_id', 'in', requestIds)
      .where('kind', '=', 'hold')
      .execute();
    const held = new Set(existing.map((row) => row.request_id));
    const accounts = new Map(rows.map((row) => [row.id, { ...row, available: fromNumeric(row.available), changed: false }]));
    const entries: Array<{
      account_id: string;
      kind: 'hold';
      amount: string;
      unit: 'usd' | 'tokens';
      request_id: string;
      owner_id: string | null;
    }> = [];
    const results = inputs.map((input): HoldResult => {
      const account = accounts.get(input.accountId);
      if (!account) return { error: new AccountNotFoundError(input.accountId) };
      if (held.has(input.requestId)) return { value: { available: account.available } };
      if (account.status !== 'active') return { error: new AccountSuspendedError(input.accountId) };
      if (account.available.cmp(input.amount) < 0) {
        return {
          error: new InsufficientCreditsError(input.accountId, input.amount, account.available, unitOf(account.budget_mode)),
        };
      }
      account.available = account.available.sub(input.amount);
      account.changed = true;
      held.add(input.requestId);
      entries.push({
        account_id: account.id,
        kind: 'hold',
        amount: input.amount.toString(),
        unit: unitOf(account.budget_mode),
        request_id: input.requestId,
        owner_id: input.ownerId ?? null,
      });
      return { value: { available: account.available } };
    });
    const changed = [...accounts.values()].filter((account) => account.changed);
    for (const [index, account] of changed.entries()) {
      const update = { available: account.available.toString() };
      if (index === 0) {
        await transaction
          .with('entry', (cte) => cte.insertInto('ledger_entries').values(entries).returning('id'))
          .updateTable('accounts')
          .set(update)
          .where('id', '=', account.id)
          .execute();
      } else await transaction.updateTable('accounts').set(update).where('id', '=', account.id).execute();
    }
    return results;
  });
}
