import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

/**
 * A real database refusal, for the paths that must survive one: a trigger that raises an error on every
 * capture entry of one account (other accounts, and other suites on the same server, are untouched), counting
 * the attempts in a sequence (sequences are not rolled back, so the count survives the failed inserts).
 * PGlite runs PL/pgSQL too, so this works on both backends.
 */
export interface CaptureFault {
  /** How many capture inserts of the account were refused so far. */
  attempts(): Promise<number>;
  /** Lets captures through again. */
  stop(): Promise<void>;
}

/**
 * @param options.sqlstate the error's SQLSTATE: `P0001` (raise_exception, the default) is a refusal nothing
 *   retries; `40001` (serialization_failure) is a transient failure the database asks the client to retry.
 */
export async function refuseCapturesOf(
  db: Db,
  accountId: string,
  options: { sqlstate?: 'P0001' | '40001' } = {},
): Promise<CaptureFault> {
  await sql`create sequence if not exists tollgate_test_capture_attempts`.execute(db);
  const start = await currentCount(db);
  await sql`
    create or replace function tollgate_test_refuse_capture() returns trigger language plpgsql as $$
    begin
      if new.kind = 'capture' and new.account_id = ${sql.lit(accountId)} then
        perform nextval('tollgate_test_capture_attempts');
        raise exception 'the test refuses this capture' using errcode = ${sql.lit(options.sqlstate ?? 'P0001')};
      end if;
      return new;
    end $$`.execute(db);
  await sql`drop trigger if exists tollgate_test_refuse_capture on ledger_entries`.execute(db);
  await sql`create trigger tollgate_test_refuse_capture before insert on ledger_entries
    for each row execute function tollgate_test_refuse_capture()`.execute(db);
  return {
    attempts: async () => (await currentCount(db)) - start,
    stop: async () => {
      await sql`drop trigger if exists tollgate_test_refuse_capture on ledger_entries`.execute(db);
    },
  };
}

async function currentCount(db: Db): Promise<number> {
  const { rows } = await sql<{ count: string | number }>`
    select case when is_called then last_value else 0 end as count from tollgate_test_capture_attempts`.execute(db);
  return Number(rows[0]?.count ?? 0);
}
