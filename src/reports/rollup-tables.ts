/**
 * The rollups of usage (migration 006): what each table counts and by what. The writer
 * (src/gateway/usage-writer.ts) adds every batch of records to all four; a summary reads the smallest one
 * that can answer it (src/reports/summary-plan.ts).
 */
export interface RollupTable {
  table: 'usage_rollups_hourly' | 'usage_rollups_daily' | 'usage_rollups_hourly_end_user' | 'usage_rollups_daily_end_user';
  /** The bucket's length: a UTC hour or a UTC day. */
  bucket: 'hour' | 'day';
  /** Whether the end user is one of its dimensions (the others: account, key, model, provider). */
  endUser: boolean;
}

export const ROLLUP_TABLES: readonly RollupTable[] = [
  { table: 'usage_rollups_hourly', bucket: 'hour', endUser: false },
  { table: 'usage_rollups_daily', bucket: 'day', endUser: false },
  { table: 'usage_rollups_hourly_end_user', bucket: 'hour', endUser: true },
  { table: 'usage_rollups_daily_end_user', bucket: 'day', endUser: true },
];

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
