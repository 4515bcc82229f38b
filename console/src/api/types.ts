/**
 * The JSON the console reads, as the server sends it (see /docs/json). Every amount is an exact decimal
 * string: the console formats it for reading and never turns it into a float.
 */
export type Amount = string;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Account {
  id: string;
  name: string;
  mode: 'consumption_usd' | 'consumption_tokens' | 'job_based';
  unit: 'usd' | 'tokens';
  balance: Amount;
  available: Amount;
  job_price: Amount | null;
  markup_percent: Amount | null;
  markup_fixed_fee: Amount | null;
  status: 'active' | 'suspended';
  overdraft_limit: Amount;
  /** A team account's parent: its calls draw on the root of its chain's credits. */
  parent_id?: string | null;
  created_at: string;
}

/** GET/PUT /admin/limits/:target: a target's cap and rate limits, and the cap's standing in its period. */
export interface LimitsReport {
  target: { kind: 'account' | 'key' | 'end_user'; account_id: string; key_prefix: string | null; end_user: string | null };
  cap: Amount | null;
  period: 'day' | 'week' | 'month' | 'total' | null;
  timezone: string | null;
  soft: boolean;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
  usage: { period_start: string; resets_at: string | null; used: Amount; remaining: Amount; unit: 'usd' | 'tokens' } | null;
}

export interface AccountDetail {
  account: Account;
  open_holds: { count: number; total: Amount };
}

export type LedgerKind = 'grant' | 'hold' | 'capture' | 'release' | 'refund' | 'adjust';

export interface LedgerEntry {
  id: number;
  kind: LedgerKind;
  amount: Amount;
  unit: 'usd' | 'tokens';
  request_id: string;
  lease_id: string | null;
  idempotency_key: string | null;
  price_version: number | null;
  note: string | null;
  created_at: string;
}

export interface ApiKey {
  id: string;
  prefix: string;
  scope: 'user' | 'admin';
  name: string | null;
  account_id: string | null;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface CreatedKey {
  id: string;
  prefix: string;
  key: string;
}

export type RateName =
  | 'input'
  | 'output'
  | 'cache_read'
  | 'cache_write'
  | 'cache_write_1h'
  | 'reasoning'
  | 'input_audio'
  | 'output_audio'
  | 'per_request'
  | 'per_image';

export interface ListedModel {
  id: string;
  provider: string;
  upstream_model: string;
  active: boolean;
  modality: string;
  price: {
    version: number;
    source: string;
    effective_from: string;
    rates: Partial<Record<RateName, Amount>>;
    tiered: boolean;
  } | null;
}

/** A price version as GET /admin/pricing/models/<id> returns it: rates per unit, keyed by the domain's names. */
export interface PriceVersion {
  version: number;
  modelId: string;
  rates: Partial<
    Record<
      | 'input'
      | 'output'
      | 'cacheRead'
      | 'cacheWrite'
      | 'cacheWrite1h'
      | 'reasoning'
      | 'inputAudio'
      | 'outputAudio'
      | 'perRequest'
      | 'perImage',
      Amount
    >
  >;
  tiers: Array<{ aboveInputTokens: number; rates: Record<string, Amount> }>;
  effectiveFrom: string;
  effectiveUntil?: string;
  source: string;
}

export interface ModelDetail {
  model: {
    id: string;
    provider_id: string;
    upstream_model: string;
    active: boolean;
    modality: string;
    context_window: number | null;
    max_output_tokens: number | null;
  };
  aliases: string[];
  current: PriceVersion | null;
  history: PriceVersion[];
}

export interface Coverage {
  active: number;
  priced: number;
  percent: string;
  unpriced: string[];
}

export interface RateChange {
  rate: RateName;
  old: Amount | null;
  new: Amount | null;
  ratio: string | null;
}

export interface HeldBackDecision {
  action: 'approved' | 'rejected';
  decidedAt: string;
  note: string | null;
  version: number | null;
}

export interface HeldBackChange {
  modelId: string;
  feedId: string;
  reasons: string[];
  rates: RateChange[];
  proposed?: { rates: Partial<Record<RateName, Amount>>; replacesVersion: number | null };
  decision?: HeldBackDecision;
}

export interface PendingHeldBack {
  runId: number;
  index: number;
  source: string;
  runStartedAt: string;
  change: HeldBackChange;
  approvable: boolean;
}

export interface SyncSummary {
  entries: number;
  unchanged: number;
  changed: number;
  applied: number;
  heldBack: number;
  newModels: number;
  registered: number;
  gone: number;
  invalid: number;
  zeroPriced: number;
  otherSource: number;
}

export interface SyncRunListing {
  runId: number;
  source: string;
  url: string | null;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  summary: SyncSummary | null;
  undecided: number;
}

export interface SyncResult {
  runId: number;
  source: string;
  url: string;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  summary: SyncSummary | null;
  changes?: Array<{ modelId: string; feedId: string; firstPrice: boolean; rates: RateChange[]; applied: boolean }>;
  heldBack?: HeldBackChange[];
  newModels?: Array<{ modelId: string; providerId: string; upstreamModel: string; registered: boolean }>;
  gone?: string[];
  otherSource?: Array<{ modelId: string; rates: RateChange[]; currentSource: string }>;
}

export interface SyncStatus {
  cron: string | null;
  nextRun: string | null;
  running: boolean;
  sources: Array<{ source: string; url: string | null; scheduled: boolean; lastResult: SyncResult | null }>;
}

export interface Alert {
  id: number;
  kind: string;
  message: string;
  details: unknown;
  createdAt: string;
  deliveredAt: string | null;
}

/** The dimensions GET /admin/usage/summary groups by. */
export type UsageDimension = 'hour' | 'day' | 'month' | 'account' | 'key' | 'end_user' | 'model' | 'provider';

/** A count: a JSON number while exact (below 2^53), decimal text past that. */
export type Count = number | string;

export interface UsageFigures {
  calls: Count;
  errors: Count;
  input_uncached_tokens: Count;
  cache_read_tokens: Count;
  cache_write_tokens: Count;
  input_audio_tokens: Count;
  output_text_tokens: Count;
  reasoning_tokens: Count;
  output_audio_tokens: Count;
  provider_cost: Amount;
  markup: Amount;
  charge: Amount;
}

/** A summary row: its group keys (day as YYYY-MM-DD, hour as an ISO instant; account_name and key_prefix beside account and key), then its figures. */
export type UsageRow = UsageFigures & Partial<Record<UsageDimension | 'account_name' | 'key_prefix', string | null>>;

export interface UsageSummary {
  group_by: UsageDimension[];
  from: string;
  to: string;
  rows: UsageRow[];
  totals: UsageFigures;
}

export interface BreakdownLine {
  component: string;
  units: number;
  rate: Amount;
  amount: Amount;
  fellBackTo?: string;
  /** For steps another model ran within the call (Anthropic's advisor): that model; see `CostBreakdown.otherModels`. */
  model?: string;
}

/** How the steps of another model within the call were priced. */
export interface OtherModelCost {
  model: string;
  modelId?: string | null;
  source: string;
  match: string;
  rule?: string;
  priceVersion?: number | null;
  tier?: number | null;
  cost: Amount;
}

export interface CostBreakdown {
  lines: BreakdownLine[];
  tier?: number | null;
  otherModels?: OtherModelCost[];
  providerCost: Amount;
  markup?: { percent: Amount; fixedFee: Amount; amount: Amount; rule: string } | null;
  charge: Amount;
}

/** One call as GET /admin/usage/records lists it. */
export interface UsageRecord {
  id: number;
  request_id: string;
  created_at: string;
  account: string;
  account_name: string;
  key: string | null;
  key_prefix: string | null;
  end_user: string | null;
  requested_model: string;
  model: string | null;
  provider: string | null;
  upstream_model: string | null;
  status: 'success' | 'error' | 'aborted';
  error_code: string | null;
  stream: boolean;
  usage_estimated: boolean;
  latency_ms: number | null;
  input_uncached_tokens: Count;
  cache_read_tokens: Count;
  cache_write_tokens: Count;
  input_audio_tokens: Count;
  output_text_tokens: Count;
  reasoning_tokens: Count;
  output_audio_tokens: Count;
  provider_cost: Amount;
  markup: Amount;
  charge: Amount;
  debit: Amount;
  debit_unit: 'usd' | 'tokens';
  price_version: number | null;
  pricing_source: string | null;
  pricing_match: string | null;
  breakdown: CostBreakdown | null;
  ledger_entry_id: number | null;
  /** Usage the upstream reported beyond what the call could produce, and how it was charged (when the log carries it). */
  usage_anomaly?: { reasons?: string[]; policy?: 'cap' | 'charge' } | null;
  /** The provider's usage as it reported it, before normalisation; null when it reported none. */
  provider_usage: unknown;
}

/** An account's month from the ledger (GET /admin/accounts/<account>/statement, GET /account/statement). */
export interface Statement {
  account: { id: string; name: string; unit: 'usd' | 'tokens' };
  month: string;
  from: string;
  to: string;
  unit: 'usd' | 'tokens';
  opening_balance: Amount;
  grants: Amount;
  refunds: Amount;
  adjustments: Amount;
  entries: Array<{ id: number; kind: 'grant' | 'refund' | 'adjust'; amount: Amount; note: string | null; created_at: string }>;
  charges: { total: Amount; calls: number; by_model: Array<{ model: string; calls: number; amount: Amount }> };
  closing_balance: Amount;
}
