import { sql, type Kysely } from 'kysely';

/**
 * Usage reports (issue 14): usage records partitioned by month, with the caller's end user and the markup,
 * and the rollups every summary reads instead of scanning records.
 *
 * - `usage_records` becomes a table partitioned by range of `created_at`, one partition per UTC month
 *   (`usage_records_y2026m11`), so an old month can be detached (to archive it with pg_dump) or dropped in
 *   one statement instead of a DELETE of millions of rows. The new table is made `LIKE` the old one, so the
 *   columns earlier migrations added are kept whatever they are; token counts become `bigint`. A partitioned
 *   table's unique keys must contain the partition key: the id and request id are unique together with
 *   `created_at`, which the recorder sets itself, so a retried write of a record still conflicts with the first.
 * - Eight rollup tables, written in the same statement as the records they count (src/gateway/usage-writer.ts):
 *   hourly, daily and monthly by model and provider, and by account, key, model and provider; daily and
 *   monthly with the end user too (src/reports/rollup-tables.ts says why these).
 *
 * Existing records are copied into their month's partition and counted into the rollups here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('usage_records').addColumn('end_user', 'text').execute();
  await db.schema
    .alterTable('usage_records')
    .addColumn('markup', 'numeric', (column) => column.notNull().defaultTo(0))
    .execute();
  // charge = provider cost + markup, exactly (src/pricing/markup.ts), for every record written so far.
  await sql`update usage_records set markup = charge - provider_cost`.execute(db);

  await sql`create table usage_records_partitioned (like usage_records including defaults including constraints)
    partition by range (created_at)`.execute(db);
  for (const column of TOKEN_COLUMNS) {
    await sql`alter table usage_records_partitioned alter column ${sql.ref(column)} type bigint`.execute(db);
  }
  const months = await sql<{ month: Date }>`
    select distinct date_trunc('month', created_at, 'UTC') as month from usage_records
    union select date_trunc('month', now(), 'UTC')
    union select date_trunc('month', now(), 'UTC') + interval '1 month'`.execute(db);
  for (const { month } of months.rows) await createMonthPartition(db, new Date(month));
  await sql`insert into usage_records_partitioned select * from usage_records`.execute(db);
  // The id sequence belongs to the old table's column: hand it over before the old table goes.
  await sql`alter sequence usage_records_id_seq owned by usage_records_partitioned.id`.execute(db);
  await db.schema.dropTable('usage_records').execute();
  await db.schema.alterTable('usage_records_partitioned').renameTo('usage_records').execute();
  await sql`alter table usage_records add constraint usage_records_pkey primary key (id, created_at)`.execute(db);
  await sql`alter table usage_records add constraint usage_records_account_fk foreign key (account_id) references accounts (id)`.execute(
    db,
  );
  await db.schema
    .createIndex('usage_records_request')
    .on('usage_records')
    .columns(['request_id', 'created_at'])
    .unique()
    .execute();
  // The request log reads newest first, by time then id (a keyset cursor), filtered or not by account.
  await db.schema.createIndex('usage_records_time').on('usage_records').columns(['created_at', 'id']).execute();
  await db.schema
    .createIndex('usage_records_account_time')
    .on('usage_records')
    .columns(['account_id', 'created_at', 'id'])
    .execute();
  await db.schema.createIndex('usage_records_model_time').on('usage_records').columns(['model_id', 'created_at']).execute();

  // A monthly statement reads one account's entries of one month (src/reports/account-statement.ts).
  await db.schema.createIndex('ledger_entries_account_time').on('ledger_entries').columns(['account_id', 'created_at']).execute();

  for (const rollup of ROLLUPS) {
    const keys = ['bucket', ...rollup.dimensions.map((dimension) => DIMENSIONS[dimension].column)];
    let table = db.schema.createTable(rollup.table).addColumn('bucket', 'timestamptz', (column) => column.notNull());
    for (const dimension of rollup.dimensions) {
      table = table.addColumn(DIMENSIONS[dimension].column, 'text', (column) => column.notNull());
    }
    table = table
      .addColumn('calls', 'bigint', (column) => column.notNull())
      .addColumn('errors', 'bigint', (column) => column.notNull());
    for (const column of TOKEN_COLUMNS) table = table.addColumn(column, 'bigint', (definition) => definition.notNull());
    for (const column of MONEY_COLUMNS) table = table.addColumn(column, 'numeric', (definition) => definition.notNull());
    await table.addPrimaryKeyConstraint(`${rollup.table}_pkey`, keys as never).execute();
    if (rollup.dimensions.includes('account')) {
      await db.schema.createIndex(`${rollup.table}_account`).on(rollup.table).columns(['account_id', 'bucket']).execute();
    }

    const values = rollup.dimensions.map((dimension) => DIMENSIONS[dimension].fromRecord);
    const positions = sql.join([sql.lit(1), ...values.map((_value, index) => sql.lit(index + 2))]);
    await sql`insert into ${sql.table(rollup.table)}
      select date_trunc(${sql.lit(rollup.bucket)}, created_at, 'UTC'), ${sql.join(values)},
        count(*), count(*) filter (where status = 'error'),
        ${sql.join(TOKEN_COLUMNS.map((column) => sql`coalesce(sum(${sql.ref(column)}), 0)`))},
        ${sql.join(MONEY_COLUMNS.map((column) => sql`coalesce(sum(${sql.ref(column)}), 0)`))}
      from usage_records
      group by ${positions}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const rollup of ROLLUPS) await db.schema.dropTable(rollup.table).ifExists().execute();
  await db.schema.dropIndex('ledger_entries_account_time').ifExists().execute();
  // The records stay partitioned: merging the partitions back into one table is not worth a down migration.
}

const TOKEN_COLUMNS = [
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
] as const;
const MONEY_COLUMNS = ['provider_cost', 'markup', 'charge'] as const;
// The rollups as this migration made them (src/reports/rollup-tables.ts describes them to the code that
// reads and writes them; a migration keeps its own copy, so it never changes once landed).
type Dimension = 'account' | 'key' | 'end_user' | 'model' | 'provider';
const DIMENSIONS: Record<Dimension, { column: string; fromRecord: ReturnType<typeof sql> }> = {
  account: { column: 'account_id', fromRecord: sql`account_id` },
  key: { column: 'api_key_id', fromRecord: sql`coalesce(api_key_id, '')` },
  end_user: { column: 'end_user', fromRecord: sql`coalesce(end_user, '')` },
  model: { column: 'model', fromRecord: sql`coalesce(model_id, requested_model)` },
  provider: { column: 'provider_id', fromRecord: sql`coalesce(provider_id, '')` },
};
const MODELS: Dimension[] = ['model', 'provider'];
const ACCOUNTS: Dimension[] = ['account', 'key', 'model', 'provider'];
const END_USERS: Dimension[] = ['account', 'key', 'end_user', 'model', 'provider'];
const ROLLUPS: Array<{ table: string; bucket: 'hour' | 'day' | 'month'; dimensions: Dimension[] }> = [
  { table: 'usage_rollups_hourly_models', bucket: 'hour', dimensions: MODELS },
  { table: 'usage_rollups_daily_models', bucket: 'day', dimensions: MODELS },
  { table: 'usage_rollups_monthly_models', bucket: 'month', dimensions: MODELS },
  { table: 'usage_rollups_hourly', bucket: 'hour', dimensions: ACCOUNTS },
  { table: 'usage_rollups_daily', bucket: 'day', dimensions: ACCOUNTS },
  { table: 'usage_rollups_monthly', bucket: 'month', dimensions: ACCOUNTS },
  { table: 'usage_rollups_daily_end_user', bucket: 'day', dimensions: END_USERS },
  { table: 'usage_rollups_monthly_end_user', bucket: 'month', dimensions: END_USERS },
];

/** The partition of one UTC month; the same name and bounds as src/db/usage-partitions.ts gives at run time. */
async function createMonthPartition(db: Kysely<unknown>, month: Date): Promise<void> {
  const year = month.getUTCFullYear();
  const index = month.getUTCMonth();
  const from = new Date(Date.UTC(year, index, 1)).toISOString();
  const to = new Date(Date.UTC(year, index + 1, 1)).toISOString();
  const name = `usage_records_y${year}m${String(index + 1).padStart(2, '0')}`;
  await sql`create table ${sql.table(name)} partition of usage_records_partitioned
    for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(db);
}
