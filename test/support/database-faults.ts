import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

type FaultKind = 'hold' | 'capture' | 'release';
const KINDS: readonly FaultKind[] = ['hold', 'capture', 'release'];

/**
 * A real database refusal, for the paths that must survive one: a trigger that raises an error on every ledger
 * entry of one kind (hold, capture or release) of one account (other accounts, and other suites on the same
 * server, are untouched), counting the attempts in a sequence (sequences are not rolled back, so the count
 * survives the failed inserts). PGlite runs PL/pgSQL too, so this works on both backends. One fault per kind
 * at a time: a second of the same kind replaces the first.
 */
export interface EntryFault {
  /** How many inserts of the account's entries of that kind were refused so far. */
  attempts(): Promise<number>;
  /** Lets those entries through again. */
  stop(): Promise<void>;
}

/**
 * @param options.kind the entries refused: `capture` (the default), `hold` or `release`.
 * @param options.sqlstate the error's SQLSTATE: `P0001` (raise_exception, the default) is a refusal nothing
 *   retries; `40001` (serialization_failure) is a transient failure the database asks the client to retry;
 *   `08006` is how a lost connection reads.
 */
export async function refuseEntriesOf(
  db: Db,
  accountId: string,
  options: { kind?: FaultKind; sqlstate?: string } = {},
): Promise<EntryFault> {
  const kind = options.kind ?? 'capture';
  const { sequence, trigger } = namesOf(kind);
  await sql`create sequence if not exists ${sequence}`.execute(db);
  const start = await currentCount(db, sequence);
  await sql`
    create or replace function ${trigger}() returns trigger language plpgsql as $$
    begin
      if new.kind = ${sql.lit(kind)} and new.account_id = ${sql.lit(accountId)} then
        perform nextval(${sql.lit(`tollgate_test_${kind}_attempts`)});
        raise exception ${sql.lit(`the test refuses this ${kind}`)} using errcode = ${sql.lit(options.sqlstate ?? 'P0001')};
      end if;
      return new;
    end $$`.execute(db);
  await sql`drop trigger if exists ${trigger} on ledger_entries`.execute(db);
  await sql`create trigger ${trigger} before insert on ledger_entries for each row execute function ${trigger}()`.execute(db);
  return {
    attempts: async () => (await currentCount(db, sequence)) - start,
    stop: () => dropTrigger(db, trigger),
  };
}

/** Stops every fault of `refuseEntriesOf` (for an `afterEach`: a test that failed before its own `stop`). */
export async function stopEntryFaults(db: Db): Promise<void> {
  for (const kind of KINDS) await dropTrigger(db, namesOf(kind).trigger);
}

/** The sequence and trigger of a kind: identifiers built from one of the three kinds above. */
function namesOf(kind: FaultKind) {
  return { sequence: sql.id(`tollgate_test_${kind}_attempts`), trigger: sql.id(`tollgate_test_refuse_${kind}`) };
}

async function dropTrigger(db: Db, trigger: ReturnType<typeof sql.id>): Promise<void> {
  await sql`drop trigger if exists ${trigger} on ledger_entries`.execute(db);
}

async function currentCount(db: Db, sequence: ReturnType<typeof sql.id>): Promise<number> {
  const { rows } = await sql<{ count: string | number }>`
    select case when is_called then last_value else 0 end as count from ${sequence}`.execute(db);
  return Number(rows[0]?.count ?? 0);
}
