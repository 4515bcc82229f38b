import { sql, type RawBuilder } from 'kysely';

/**
 * The rollups of usage (migration 006): what each table counts and by what. The writer
 * (src/gateway/usage-writer.ts) adds every batch of records to all of them, through `tollgate_count_usage`
 * (migration 011: a rollup added or changed here needs a migration that replaces that function too); a summary reads, for each part
 * of its range, the coarsest bucket and then the smallest table that has every dimension it groups or
 * filters by (src/reports/summary-plan.ts).
 *
 * Reading a rollup costs about a microsecond a row (the exact NUMERIC sums), so what matters is how many rows
 * a question reads. Buckets: UTC hours, days and months (a month's question reads a row per group, not one per
 * group and day). Widths: the model totals (a row per model and provider) answer the dashboard's questions
 * over all accounts; the account rows (account, key, model, provider) the questions about accounts and keys;
 * the end-user rows, as many as the end users times their models, only the questions about end users. No
 * hourly end-user table: it would hold about a row per call (measured: 185,756 rows for 200,000 calls), so
 * it would cost a write per call and spare no reading; an end-user question's whole hours are read from the
 * records.
 */
export type Dimension = 'account' | 'key' | 'end_user' | 'model' | 'provider';
export type Bucket = 'hour' | 'day' | 'month';

export interface RollupTable {
  table:
    | 'usage_rollups_hourly_models'
    | 'usage_rollups_daily_models'
    | 'usage_rollups_monthly_models'
    | 'usage_rollups_hourly'
    | 'usage_rollups_daily'
    | 'usage_rollups_monthly'
    | 'usage_rollups_daily_end_user'
    | 'usage_rollups_monthly_end_user';
  bucket: Bucket;
  dimensions: readonly Dimension[];
}

const MODELS: readonly Dimension[] = ['model', 'provider'];
const ACCOUNTS: readonly Dimension[] = ['account', 'key', 'model', 'provider'];
const END_USERS: readonly Dimension[] = ['account', 'key', 'end_user', 'model', 'provider'];

/** Smallest first: the planner takes the first of a bucket that has what a question needs. */
export const ROLLUP_TABLES: readonly RollupTable[] = [
  { table: 'usage_rollups_hourly_models', bucket: 'hour', dimensions: MODELS },
  { table: 'usage_rollups_daily_models', bucket: 'day', dimensions: MODELS },
  { table: 'usage_rollups_monthly_models', bucket: 'month', dimensions: MODELS },
  { table: 'usage_rollups_hourly', bucket: 'hour', dimensions: ACCOUNTS },
  { table: 'usage_rollups_daily', bucket: 'day', dimensions: ACCOUNTS },
  { table: 'usage_rollups_monthly', bucket: 'month', dimensions: ACCOUNTS },
  { table: 'usage_rollups_daily_end_user', bucket: 'day', dimensions: END_USERS },
  { table: 'usage_rollups_monthly_end_user', bucket: 'month', dimensions: END_USERS },
];

/**
 * Each dimension's column in a rollup, and its value computed from a usage record. A dimension the record
 * lacks is '' (no key, no provider, no end user), never null, so it can be part of the primary key; the model
 * is the catalog model or, when none resolved, the requested name.
 */
export const DIMENSION_COLUMNS: Record<Dimension, { column: string; fromRecord: RawBuilder<string> }> = {
  account: { column: 'account_id', fromRecord: sql`account_id` },
  key: { column: 'api_key_id', fromRecord: sql`coalesce(api_key_id, '')` },
  end_user: { column: 'end_user', fromRecord: sql`coalesce(end_user, '')` },
  model: { column: 'model', fromRecord: sql`coalesce(model_id, requested_model)` },
  provider: { column: 'provider_id', fromRecord: sql`coalesce(provider_id, '')` },
};

/** Token counters, by kind, in the order reports list them. */
export const ROLLUP_TOKEN_COLUMNS = [
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
] as const;

/** Money counters, USD, exact NUMERIC sums. */
export const ROLLUP_MONEY_COLUMNS = ['provider_cost', 'markup', 'charge'] as const;

export type TokenCounter = (typeof ROLLUP_TOKEN_COLUMNS)[number];
export type MoneyCounter = (typeof ROLLUP_MONEY_COLUMNS)[number];
