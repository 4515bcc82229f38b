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
  created_at: string;
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
  price: { version: number; source: string; effective_from: string; rates: Partial<Record<RateName, Amount>>; tiered: boolean } | null;
}

/** A price version as GET /admin/pricing/models/<id> returns it: rates per unit, keyed by the domain's names. */
export interface PriceVersion {
  version: number;
  modelId: string;
  rates: Partial<Record<'input' | 'output' | 'cacheRead' | 'cacheWrite' | 'cacheWrite1h' | 'reasoning' | 'inputAudio' | 'outputAudio' | 'perRequest' | 'perImage', Amount>>;
  tiers: Array<{ aboveInputTokens: number; rates: Record<string, Amount> }>;
  effectiveFrom: string;
  effectiveUntil?: string;
  source: string;
}

export interface ModelDetail {
  model: { id: string; provider_id: string; upstream_model: string; active: boolean; modality: string; context_window: number | null; max_output_tokens: number | null };
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

export interface UsageFigures {
  calls: number;
  errors: number;
  input_uncached_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  input_audio_tokens: number;
  output_text_tokens: number;
  reasoning_tokens: number;
  output_audio_tokens: number;
  provider_cost: Amount;
  markup: Amount;
  charge: Amount;
}

export type UsageRow = UsageFigures & Partial<Record<UsageDimension, string | null>> & Record<string, unknown>;

export interface UsageSummary {
  group_by: UsageDimension[];
  from: string | null;
  to: string | null;
  rows: UsageRow[];
  totals: UsageFigures;
}

export interface BreakdownLine {
  component: string;
  units: number;
  rate: Amount;
  amount: Amount;
  fellBackTo?: string;
}

export interface CostBreakdown {
  lines: BreakdownLine[];
  tier?: number | null;
  providerCost: Amount;
  markup?: { percent: Amount; fixedFee: Amount; amount: Amount; rule: string } | null;
  charge: Amount;
}

/** One call as GET /admin/usage/records lists it. */
export interface UsageRecord {
  id: number;
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
  price_version: number | null;
  breakdown: CostBreakdown | null;
  provider_cost: Amount;
  charge: Amount;
  debit: Amount;
  debit_unit: 'usd' | 'tokens';
  pricing_source: string | null;
  pricing_match: string | null;
  latency_ms: number | null;
  status: 'success' | 'error' | 'aborted';
  error_code: string | null;
  stream: boolean;
  created_at: string;
  ledger_entry_id: number | null;
}
