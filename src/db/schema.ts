import type { MatchRule } from '../pricing/types.js';
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * The database as Kysely sees it. NUMERIC columns travel as exact decimal text (string) both ways and are
 * turned into `Decimal` at the service edge; nothing here is ever a float.
 */
export interface Schema {
  providers: ProvidersTable;
  models: ModelsTable;
  model_aliases: ModelAliasesTable;
  model_prices: ModelPricesTable;
  markup_rules: MarkupRulesTable;
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  ledger_entries: LedgerEntriesTable;
  idempotency_keys: IdempotencyKeysTable;
  usage_records: UsageRecordsTable;
  usage_rollups_hourly_models: UsageModelRollupsTable;
  usage_rollups_daily_models: UsageModelRollupsTable;
  usage_rollups_monthly_models: UsageModelRollupsTable;
  usage_rollups_hourly: UsageRollupsTable;
  usage_rollups_daily: UsageRollupsTable;
  usage_rollups_monthly: UsageRollupsTable;
  usage_rollups_daily_end_user: UsageEndUserRollupsTable;
  usage_rollups_monthly_end_user: UsageEndUserRollupsTable;
  sync_runs: SyncRunsTable;
  alerts: AlertsTable;
  gateway_instances: GatewayInstancesTable;
  console_sessions: ConsoleSessionsTable;
  limits: LimitsTable;
  limit_usage: LimitUsageTable;
  limit_alerts: LimitAlertsTable;
}

type Numeric = string;
type NullableNumeric = string | null;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface ProvidersTable {
  id: string; // 'openai', 'anthropic', 'nosana', ...
  name: string;
  created_at: CreatedAt;
}

export interface ModelsTable {
  /** Canonical catalog id, e.g. `nosana/meta-llama/Llama-3.3-70B-Instruct` or `gpt-4o`. */
  id: string;
  provider_id: string;
  /** The name the upstream API expects. */
  upstream_model: string;
  active: boolean;
  modality: string; // text, image, audio, embedding, ...
  context_window: number | null;
  max_output_tokens: number | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ModelAliasesTable {
  alias: string;
  model_id: string;
  created_at: CreatedAt;
}

/**
 * One version of a model's price. Rates are USD per single unit. A change closes the current version
 * (sets `effective_until`) and inserts a new one; rates are never updated in place.
 */
export interface ModelPricesTable {
  id: Generated<number>;
  model_id: string;
  effective_from: ColumnType<Date, Date | string, never>;
  effective_until: ColumnType<Date | null, Date | string | null | undefined, Date | string>;
  input: NullableNumeric;
  output: NullableNumeric;
  cache_read: NullableNumeric;
  cache_write: NullableNumeric;
  cache_write_1h: NullableNumeric;
  reasoning: NullableNumeric;
  input_audio: NullableNumeric;
  output_audio: NullableNumeric;
  per_request: NullableNumeric;
  per_image: NullableNumeric;
  /** USD per second of input audio (transcription models priced by duration). */
  audio_second: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON list of `{ above_input_tokens: number, rates: { input?: "text", output?: "text", ... } }`. */
  tiers: Json<StoredPriceTier[]>;
  /** JSON list of `{ size: "1024x1024", quality?: "hd", rate: "0.08" }`: USD per image by size and quality. */
  image_rates: ColumnType<StoredImageRate[], string | undefined, string>;
  /** The name rule the source declares (`{"or": [{"equals": "o1-preview"}, ...]}`), or null. */
  match_rule: ColumnType<MatchRule | null, string | null | undefined, string | null>;
  /** JSON list of UTC time-of-day windows with their own rates and tiers (see migration 007). */
  windows: ColumnType<StoredPriceWindow[], string | undefined, string>;
  source: string;
  created_at: CreatedAt;
}

export interface StoredPriceTier {
  above_input_tokens: number;
  rates: Partial<Record<RateName, string>>;
}

export interface StoredPriceWindow {
  /** `HH:MM:SS` UTC, from (inclusive) and until (exclusive); an end before the start runs past midnight. */
  start_time: string;
  end_time: string;
  rates: Partial<Record<RateName, string>>;
  tiers: StoredPriceTier[];
}

export interface StoredImageRate {
  size: string;
  quality?: string;
  rate: string;
}

export const RATE_NAMES = [
  'input',
  'output',
  'cache_read',
  'cache_write',
  'cache_write_1h',
  'reasoning',
  'input_audio',
  'output_audio',
  'per_request',
  'per_image',
  'audio_second',
] as const;
export type RateName = (typeof RATE_NAMES)[number];

export interface MarkupRulesTable {
  id: Generated<number>;
  scope: 'global' | 'provider' | 'model' | 'account';
  /** The provider id, model id or account id; '' for global. */
  target: string;
  percent: NullableNumeric;
  fixed_fee: NullableNumeric;
  created_at: CreatedAt;
}

export type BudgetMode = 'consumption_usd' | 'consumption_tokens' | 'job_based';
export type AccountStatus = 'active' | 'suspended';

export interface AccountsTable {
  id: string;
  name: string;
  budget_mode: BudgetMode;
  /** Projection of Σ ledger entries, in the account's unit (USD, or tokens). */
  balance: Numeric;
  /** balance − open holds. */
  available: Numeric;
  job_price: NullableNumeric;
  markup_percent: NullableNumeric;
  markup_fixed_fee: NullableNumeric;
  status: AccountStatus;
  /** How far below zero a capture may take the balance; 0 = never. */
  overdraft_limit: Numeric;
  /** A team's parent: the account draws on the root of its chain's balance, within its own caps. */
  parent_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** Below this available balance the wallet raises a low-balance alert (once per crossing). */
  low_balance_alert: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  account_id: string | null; // null for admin keys not tied to an account
  /** The first characters of the key, shown in listings and used to revoke. */
  prefix: string;
  /** sha256 of the whole key, hex. */
  hash: string;
  scope: 'user' | 'admin';
  name: string | null;
  created_at: CreatedAt;
  revoked_at: Date | null;
  last_used_at: Date | null;
  /** JSON list of model names or `*` patterns the key may call; null: every model. */
  allowed_models: ColumnType<string | null, string | null | undefined, string | null>;
  expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type LedgerKind = 'grant' | 'hold' | 'capture' | 'release' | 'refund' | 'adjust';

export interface LedgerEntriesTable {
  id: Generated<number>;
  account_id: string;
  kind: LedgerKind;
  /** Signed effect on the balance for grant/capture/refund/adjust; the held amount for hold/release. */
  amount: Numeric;
  unit: 'usd' | 'tokens';
  request_id: string;
  idempotency_key: string | null;
  price_version: number | null;
  usage: Json<unknown> | null;
  breakdown: Json<unknown> | null;
  note: string | null;
  /** On a capture settled against a credit lease: the lease's request id (its hold entry). */
  lease_id: ColumnType<string | null, string | null | undefined, never>;
  /** On a hold (a call's or a credit lease): the gateway instance that placed it, released when it dies. */
  owner_id: ColumnType<string | null, string | null | undefined, never>;
  created_at: CreatedAt;
}

export interface IdempotencyKeysTable {
  account_id: string;
  key: string;
  /** sha256 of the request that first used the key; the same key with another request is refused. */
  request_hash: string;
  request_id: string;
  status: 'in_progress' | 'completed' | 'failed';
  /** The gateway instance running the claimed request: a dead owner's claim is taken over. */
  owner_id: ColumnType<string | null, string | null | undefined, string | null>;
  status_code: number | null;
  /** The first answer as JSON text, replayed as it was. */
  response: string | null;
  created_at: CreatedAt;
  completed_at: Date | null;
}

export interface UsageRecordsTable {
  id: Generated<number>;
  request_id: string;
  account_id: string;
  api_key_id: string | null;
  requested_model: string;
  model_id: string | null;
  provider_id: string | null;
  upstream_model: string | null;
  input_uncached_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  input_audio_tokens: number;
  output_text_tokens: number;
  reasoning_tokens: number;
  output_audio_tokens: number;
  usage_estimated: boolean;
  /** Usage the upstream reported beyond what the call could produce: what was wrong and how it was charged. */
  usage_anomaly: ColumnType<unknown | null, string | null | undefined, string | null>;
  price_version: number | null;
  breakdown: Json<unknown> | null;
  /** The provider's usage as it reported it (its answer's `usage`, before normalisation); null when it reported none. */
  provider_usage: ColumnType<unknown | null, string | null | undefined, string | null>;
  provider_cost: Numeric;
  /** charge − provider_cost, kept apart for reports. */
  markup: ColumnType<Numeric, Numeric | undefined, Numeric>;
  charge: Numeric;
  debit: Numeric;
  debit_unit: 'usd' | 'tokens';
  pricing_source: string | null;
  pricing_match: string | null;
  latency_ms: number | null;
  status: 'success' | 'error' | 'aborted';
  error_code: string | null;
  stream: boolean;
  /** The caller's end user: the OpenAI `user` field of the request, when it sent one. */
  end_user: ColumnType<string | null, string | null | undefined, string | null>;
  /** Set by the recorder (the partition key, and part of the keys that make a retried write a no-op). */
  created_at: CreatedAt;
}

/**
 * Calls counted per hour or per day (UTC), written in the same statement as the usage records they count
 * (src/gateway/usage-writer.ts; src/reports/rollup-tables.ts lists the tables and their dimensions). A
 * dimension the record lacks is '' (no key, no provider), never null, so it can be part of the primary key.
 * `model` is the catalog model, or the requested name when none resolved.
 */
export interface UsageModelRollupsTable {
  bucket: Date;
  model: string;
  provider_id: string;
  calls: number;
  errors: number;
  input_uncached_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  input_audio_tokens: number;
  output_text_tokens: number;
  reasoning_tokens: number;
  output_audio_tokens: number;
  provider_cost: Numeric;
  markup: Numeric;
  charge: Numeric;
}

export interface UsageRollupsTable extends UsageModelRollupsTable {
  account_id: string;
  api_key_id: string;
}

export interface UsageEndUserRollupsTable extends UsageRollupsTable {
  end_user: string;
}

export interface SyncRunsTable {
  id: Generated<number>;
  source: string;
  url: string | null;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  started_at: CreatedAt;
  finished_at: Date | null;
  result: Json<unknown> | null;
  error: string | null;
}

export interface AlertsTable {
  id: Generated<number>;
  kind: string; // missing_price, held_back_change, sync_failed, ...
  message: string;
  details: Json<unknown> | null;
  created_at: CreatedAt;
  delivered_at: Date | null;
}

export type LimitPeriod = 'day' | 'week' | 'month' | 'total';
export type LimitTargetKind = 'account' | 'key' | 'end_user';

/** The caps and rate limits of one target: an account (any level of a team), a key, or an end user of an account. */
export interface LimitsTable {
  id: string;
  target_kind: LimitTargetKind;
  account_id: string;
  key_id: string | null;
  end_user: string | null;
  /** `account:<id>`, `key:<id>` or `end_user:<account id>:<end user>`. */
  target: string;
  /** The spend cap per period, in the wallet's unit; null: no cap. */
  cap: ColumnType<string | null, string | null | undefined, string | null>;
  period: ColumnType<LimitPeriod, LimitPeriod | undefined, LimitPeriod>;
  /** The IANA time zone the period's calendar boundaries are in. */
  timezone: ColumnType<string, string | undefined, string>;
  /** A soft cap only alerts; a hard cap refuses the call that could pass it. */
  soft: ColumnType<boolean, boolean | undefined, boolean>;
  rpm: ColumnType<number | null, number | null | undefined, number | null>;
  tpm: ColumnType<number | null, number | null | undefined, number | null>;
  concurrency: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** What one cap has used in one period: settled spend plus what open reservations still hold. */
export interface LimitUsageTable {
  limit_id: string;
  period_start: ColumnType<Date, Date | string, never>;
  used: ColumnType<string, string | undefined, string>;
}

export interface LimitAlertsTable {
  limit_id: string;
  period_start: ColumnType<Date, Date | string, never>;
  threshold: number;
  created_at: CreatedAt;
}

/** A gateway process: its heartbeat (the database's clock) tells the others whether its holds are still in use. */
export interface GatewayInstancesTable {
  id: string;
  host: string;
  pid: number;
  started_at: CreatedAt;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
  stopped_at: Date | null;
}

/** A console sign-in (src/http/console-sessions.ts), keyed by the SHA-256 of its cookie's token. */
export interface ConsoleSessionsTable {
  token_hash: string;
  role: 'admin' | 'customer';
  key_id: string | null;
  key_prefix: string | null;
  account_id: string | null;
  csrf_token: string;
  created_at: ColumnType<Date, Date, never>;
  idle_expires_at: ColumnType<Date, Date, Date>;
  expires_at: ColumnType<Date, Date, never>;
}

export type ModelRow = Selectable<ModelsTable>;
export type ModelPriceRow = Selectable<ModelPricesTable>;
export type NewModelPrice = Insertable<ModelPricesTable>;
export type AccountRow = Selectable<AccountsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type LimitRow = Selectable<LimitsTable>;
export type LedgerEntryRow = Selectable<LedgerEntriesTable>;
export type UsageRecordRow = Selectable<UsageRecordsTable>;
