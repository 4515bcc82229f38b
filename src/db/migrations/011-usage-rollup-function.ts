import { sql, type Kysely } from 'kysely';

/**
 * The usage rollups are added to by one PL/pgSQL function, `tollgate_count_usage(batch json)`, which the usage
 * batch calls with its inserted records counted per UTC hour and dimension (src/gateway/usage-writer.ts).
 *
 * Why: the batch was one statement holding the insert and the eight rollup upserts, and PostgreSQL parsed and
 * planned all of it for every batch: about 5 ms, of which the eight upserts took 4 (EXPLAIN timed on this
 * schema), more than executing a batch of fifty records. A PL/pgSQL function's statements are planned when a
 * connection first runs them and their plans are kept. That is safe here because no plan can depend on how
 * big a table is: each statement reads only its JSON argument and reaches the rollup's row through its primary
 * key (ON CONFLICT). The insert and its duplicate probe, whose plans do depend on the tables' sizes, stay in
 * the batch's statement, planned for each batch.
 *
 * It runs inside the batch's statement, so a rollup still never counts a record that is not there, nor misses
 * one that is. A NULL batch (no record inserted) adds nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const statements = ROLLUPS.map((rollup) => {
    const keys = ['bucket', ...rollup.dimensions.map((dimension) => DIMENSIONS[dimension].column)];
    const values = [
      `date_trunc('${rollup.bucket}', c.created_at, 'UTC')`,
      ...rollup.dimensions.map((dimension) => DIMENSIONS[dimension].fromCounted),
    ];
    const positions = values.map((_value, index) => index + 1).join(', ');
    const counters = ['calls', 'errors', ...TOKEN_COLUMNS, ...MONEY_COLUMNS];
    return `insert into ${rollup.table} (${[...keys, ...counters].join(', ')})
    select ${values.join(', ')}, ${counters.map((column) => `sum(c.${column})`).join(', ')}
    from json_to_recordset(batch) as c(${COUNTED_COLUMNS})
    group by ${positions} order by ${positions}
    on conflict (${keys.join(', ')}) do update set
      ${counters.map((column) => `${column} = ${rollup.table}.${column} + excluded.${column}`).join(', ')};`;
  });
  // Every name in the text is one of this file's constants: nothing in it comes from input.
  await sql
    .raw(
      `create function tollgate_count_usage(batch json) returns void language plpgsql as $body$
begin
  ${statements.join('\n  ')}
end
$body$`,
    )
    .execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists tollgate_count_usage(json)`.execute(db);
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
/** What the batch passes for each group of records: the hour, the record columns the dimensions come from, the sums. */
const COUNTED_COLUMNS = [
  'created_at timestamptz',
  'account_id text',
  'api_key_id text',
  'end_user text',
  'model_id text',
  'requested_model text',
  'provider_id text',
  'calls bigint',
  'errors bigint',
  ...TOKEN_COLUMNS.map((column) => `${column} numeric`),
  ...MONEY_COLUMNS.map((column) => `${column} numeric`),
].join(', ');
// The rollups as migration 006 made them (a migration keeps its own copy, so it never changes once landed).
type Dimension = 'account' | 'key' | 'end_user' | 'model' | 'provider';
const DIMENSIONS: Record<Dimension, { column: string; fromCounted: string }> = {
  account: { column: 'account_id', fromCounted: 'c.account_id' },
  key: { column: 'api_key_id', fromCounted: `coalesce(c.api_key_id, '')` },
  end_user: { column: 'end_user', fromCounted: `coalesce(c.end_user, '')` },
  model: { column: 'model', fromCounted: 'coalesce(c.model_id, c.requested_model)' },
  provider: { column: 'provider_id', fromCounted: `coalesce(c.provider_id, '')` },
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
