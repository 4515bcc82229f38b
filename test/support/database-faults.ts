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

/**
 * A real database error on every usage record of one account, until stopped: a row trigger on `usage_records`
 * (PostgreSQL puts it on every partition, those made later too) that looks the record's account up in a table of
 * faults. Several accounts may fail at once, each with its own SQLSTATE (`P0001`, the default, is a refusal;
 * `08006` is how a lost connection reads, which the recorder retries). The trigger is made once per database and
 * stays: dropping it takes a lock on every partition, which a write still retrying in the background would hold.
 */
export async function refuseUsageRecordsOf(
  db: Db,
  accountId: string,
  options: { sqlstate?: string } = {},
): Promise<{ stop(): Promise<void> }> {
  const { rows } = await sql<{ made: boolean }>`select to_regclass('tollgate_test_usage_faults') is not null as made`.execute(db);
  if (!rows[0]?.made) {
    await sql`create table tollgate_test_usage_faults (account_id text primary key, refused_with text not null)`.execute(db);
    await sql`
      create function tollgate_test_refuse_usage() returns trigger language plpgsql as $$
      declare
        refused_with text;
      begin
        select fault.refused_with into refused_with from tollgate_test_usage_faults fault where fault.account_id = new.account_id;
        if refused_with is not null then
          raise exception 'the test refuses this usage record' using errcode = refused_with;
        end if;
        return new;
      end $$`.execute(db);
    await sql`
      create trigger tollgate_test_refuse_usage before insert on usage_records
      for each row execute function tollgate_test_refuse_usage()`.execute(db);
  }
  await sql`
    insert into tollgate_test_usage_faults (account_id, refused_with) values (${accountId}, ${options.sqlstate ?? 'P0001'})
    on conflict (account_id) do update set refused_with = excluded.refused_with`.execute(db);
  return {
    stop: async () => {
      await sql`delete from tollgate_test_usage_faults where account_id = ${accountId}`.execute(db);
    },
  };
}

/** Stops every fault of `refuseUsageRecordsOf` (for an `afterEach`). */
export async function stopUsageRecordFaults(db: Db): Promise<void> {
  const { rows } = await sql<{ made: boolean }>`select to_regclass('tollgate_test_usage_faults') is not null as made`.execute(db);
  if (rows[0]?.made) await sql`delete from tollgate_test_usage_faults`.execute(db);
}
