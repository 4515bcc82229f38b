import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScratchPostgres, type ScratchDatabase } from '../../test/support/scratch-database.js';
import { writeUsageRecords, type UsageRecordRow } from '../gateway/usage-writer.js';
import { postgresKysely } from './database.js';
import { executePrepared, prepared } from './prepared-statements.js';

/**
 * PostgreSQL only (a prepared statement is a session's): the statements marked by `prepared` run as named
 * prepared statements, once per connection, only when the pool is opened with `preparedStatements`; every
 * other statement runs unnamed as before. One connection per pool, so the session asked is the one used.
 */
const url = process.env.TEST_DATABASE_URL;

describe.skipIf(!url)('prepared statements on postgres', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await openScratchPostgres(url!, 'tollgate_test');
  });
  afterAll(async () => {
    await scratch?.close();
  });

  const sessionStatements = async (db: ReturnType<typeof postgresKysely>['db']) =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db)).rows.map((row) => row.statement);

  it('runs a marked statement prepared, once per connection, and answers as the unnamed one does', async () => {
    const { db } = postgresKysely(scratch.url, { max: 1, onError: () => undefined, preparedStatements: true });
    try {
      const marked = 'select $1::int + 1 as next -- prepared-statements.test';
      const answers = [];
      for (const value of [1, 2, 3]) {
        answers.push(
          (await db.executeQuery(prepared(CompiledQuery.raw(marked, [value]) as CompiledQuery<{ next: number }>))).rows[0]!.next,
        );
      }
      expect(answers).toEqual([2, 3, 4]);
      const built = await executePrepared(db, db.selectFrom('accounts').select('id').where('id', '=', 'nobody'));
      expect(built.rows).toEqual([]);
      const statements = await sessionStatements(db);
      // Each marked text once, however often it ran; the unmarked catalog query is not among them.
      expect(statements.filter((text) => text === marked)).toHaveLength(1);
      expect(statements.filter((text) => text.includes('from "accounts"'))).toHaveLength(1);
      expect(statements.some((text) => text.includes('pg_prepared_statements'))).toBe(false);
    } finally {
      await db.destroy();
    }
  });

  it("runs the usage batch prepared, as the batch writers' statements are", async () => {
    const { db } = postgresKysely(scratch.url, { max: 1, onError: () => undefined, preparedStatements: true });
    try {
      await sql`insert into accounts (id, name, budget_mode) values ('acct_prepared', 'prepared', 'consumption_usd')`.execute(db);
      const row = (requestId: string): UsageRecordRow => ({
        request_id: requestId,
        account_id: 'acct_prepared',
        api_key_id: null,
        end_user: null,
        requested_model: 'gpt-4o-mini',
        model_id: 'gpt-4o-mini',
        provider_id: 'openai',
        upstream_model: 'gpt-4o-mini',
        input_uncached_tokens: 16,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        input_audio_tokens: 0,
        output_text_tokens: 363,
        reasoning_tokens: 0,
        output_audio_tokens: 0,
        usage_estimated: false,
        usage_anomaly: null,
        price_version: null,
        breakdown: null,
        provider_cost: '0.0002202',
        markup: '0',
        charge: '0.0002202',
        debit: '0.0002202',
        debit_unit: 'usd',
        pricing_source: 'database',
        pricing_match: 'exact',
        latency_ms: 38,
        status: 'success',
        error_code: null,
        stream: false,
        created_at: new Date().toISOString(),
      });
      expect(await writeUsageRecords(db, [row('req_prepared_1'), row('req_prepared_2')])).toBe(2);
      expect(await writeUsageRecords(db, [row('req_prepared_3'), row('req_prepared_4')])).toBe(2);
      const statements = await sessionStatements(db);
      expect(statements.filter((text) => text.includes('insert into "usage_records"'))).toHaveLength(1);
    } finally {
      await db.destroy();
    }
  });

  it('runs the same statement unnamed when the pool is opened without them (TOLLGATE_PREPARED_STATEMENTS=off)', async () => {
    const { db } = postgresKysely(scratch.url, { max: 1, onError: () => undefined });
    try {
      const marked = 'select $1::int * 2 as doubled -- prepared-statements.test, off';
      expect(
        (await db.executeQuery(prepared(CompiledQuery.raw(marked, [21]) as CompiledQuery<{ doubled: number }>))).rows,
      ).toEqual([{ doubled: 42 }]);
      expect(await sessionStatements(db)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});
