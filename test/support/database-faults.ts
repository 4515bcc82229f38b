import { sql } from 'kysely';
import type { Db } from '../../src/db/database.js';

/**
 * A real database refusal, for the paths that must survive one: a trigger that raises an error on every
 * capture entry (or release entry) of one account (other accounts, and other suites on the same server, are untouched), counting
 * the attempts in a sequence (sequences are not rolled back, so the count survives the failed inserts).
 * PGlite runs PL/pgSQL too, so this works on both backends.
 */
export interface CaptureFault {
  /** How many inserts of the account's entries of that kind were refused so far. */
  attempts(): Promise<number>;
  /** Lets captures through again. */
  stop(): Promise<void>;
}

/**
 * @param options.sqlstate the error's SQLSTATE: `P0001` (raise_exception, the default) is a refusal nothing
 *   retries; `40001` (serialization_failure) is a transient failure the database asks the client to retry.
 * @param options.kind the entries refused: `capture` (the default) or `release`.
 */
export async function refuseCapturesOf(
  db: Db,
  accountId: string,
  options: { sqlstate?: 'P0001' | '40001'; kind?: 'capture' | 'release' } = {},
): Promise<CaptureFault> {
  const kind = options.kind ?? 'capture';
  // Names built from the kind, one of two literals above.
  const sequence = sql.id(`tollgate_test_${kind}_attempts`);
  const refuse = sql.id(`tollgate_test_refuse_${kind}`);
  await sql`create sequence if not exists ${sequence}`.execute(db);
  const start = await currentCount(db, sequence);
  await sql`
    create or replace function ${refuse}() returns trigger language plpgsql as $$
    begin
      if new.kind = ${sql.lit(kind)} and new.account_id = ${sql.lit(accountId)} then
        perform nextval(${sql.lit(`tollgate_test_${kind}_attempts`)});
        raise exception ${sql.lit(`the test refuses this ${kind}`)} using errcode = ${sql.lit(options.sqlstate ?? 'P0001')};
      end if;
      return new;
    end $$`.execute(db);
  await sql`drop trigger if exists ${refuse} on ledger_entries`.execute(db);
  await sql`create trigger ${refuse} before insert on ledger_entries for each row execute function ${refuse}()`.execute(db);
  return {
    attempts: async () => (await currentCount(db, sequence)) - start,
    stop: async () => {
      await sql`drop trigger if exists ${refuse} on ledger_entries`.execute(db);
    },
  };
}

async function currentCount(db: Db, sequence: ReturnType<typeof sql.id>): Promise<number> {
  const { rows } = await sql<{ count: string | number }>`
    select case when is_called then last_value else 0 end as count from ${sequence}`.execute(db);
  return Number(rows[0]?.count ?? 0);
}
