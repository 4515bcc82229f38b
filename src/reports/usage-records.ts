import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { GatewayError } from '../gateway/errors.js';
import { fromNumeric } from '../ledger/accounts.js';
import { filterConditions } from './report-filters.js';
import type { SummaryFilters } from './summary-plan.js';
import { jsonInteger } from './usage-counters.js';

export const RECORD_STATUSES = ['success', 'error', 'aborted'] as const;
export type RecordStatus = (typeof RECORD_STATUSES)[number];

export interface RecordsQuery {
  filters: SummaryFilters;
  status?: RecordStatus | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
  limit: number;
  /** The `next_cursor` of the previous page. */
  cursor?: string | undefined;
}

export const MAX_RECORDS_PAGE = 1000;

/**
 * The request log, newest first, a page at a time. Keyset pagination on (created_at, id): a page costs the
 * same on the millionth record as on the first (an OFFSET would read and skip everything before it), and
 * records arriving meanwhile do not shift the pages. The cursor carries the last record's time to the
 * microsecond, as the database keeps it. Each record comes with its cost breakdown, price version, pricing
 * source and match, the provider's usage as it reported it, and the id of the capture entry it produced in the
 * ledger (null for a call not charged).
 *
 * @throws GatewayError invalid_request for a cursor this function did not make.
 */
export async function listUsageRecords(
  db: Db,
  query: RecordsQuery,
): Promise<{ data: UsageRecordJson[]; next_cursor: string | null }> {
  const qualified = filterConditions(query.filters, { rollup: false, alias: 'record' });
  if (query.status !== undefined) qualified.push(sql`record.status = ${query.status}`);
  if (query.from !== undefined) qualified.push(sql`record.created_at >= ${query.from.toISOString()}`);
  if (query.to !== undefined) qualified.push(sql`record.created_at < ${query.to.toISOString()}`);
  if (query.cursor !== undefined) {
    const { time, id } = decodeCursor(query.cursor);
    // The first condition alone lets the planner skip whole later months; the pair is the exact keyset.
    qualified.push(sql`record.created_at <= ${time}`, sql`(record.created_at, record.id) < (${time}::timestamptz, ${id})`);
  }
  const result = await sql<RecordRow>`
    select record.*, to_char(record.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_time, account.name as account_name, api_key.prefix as key_prefix,
      capture.id as ledger_entry_id, coalesce(record.provider_usage, (capture.usage -> 'raw')::json) as reported_usage
    from usage_records as record
    join accounts as account on account.id = record.account_id
    left join api_keys as api_key on api_key.id = record.api_key_id
    left join ledger_entries as capture on capture.request_id = record.request_id and capture.kind = 'capture'
    ${qualified.length > 0 ? sql`where ${sql.join(qualified, sql` and `)}` : sql``}
    order by record.created_at desc, record.id desc
    limit ${query.limit + 1}`.execute(db);
  const rows = result.rows.slice(0, query.limit);
  const last = rows.at(-1);
  return {
    data: rows.map(recordJson),
    next_cursor: result.rows.length > query.limit && last ? encodeCursor(last.cursor_time, last.id) : null,
  };
}

interface RecordRow {
  id: number;
  request_id: string;
  created_at: Date;
  cursor_time: string;
  account_id: string;
  account_name: string;
  api_key_id: string | null;
  key_prefix: string | null;
  end_user: string | null;
  requested_model: string;
  model_id: string | null;
  provider_id: string | null;
  upstream_model: string | null;
  status: string;
  error_code: string | null;
  stream: boolean;
  usage_estimated: boolean;
  latency_ms: number | null;
  input_uncached_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  input_audio_tokens: number;
  output_text_tokens: number;
  reasoning_tokens: number;
  output_audio_tokens: number;
  provider_cost: string;
  markup: string;
  charge: string;
  debit: string;
  debit_unit: string;
  price_version: number | null;
  pricing_source: string | null;
  pricing_match: string | null;
  breakdown: unknown;
  usage_anomaly: unknown;
  ledger_entry_id: number | null;
  /** The record's provider usage; for a call recorded before records kept it, what its capture entry kept. */
  reported_usage: unknown;
}

export type UsageRecordJson = ReturnType<typeof recordJson>;

function recordJson(row: RecordRow) {
  return {
    id: row.id,
    request_id: row.request_id,
    created_at: new Date(row.created_at).toISOString(),
    account: row.account_id,
    account_name: row.account_name,
    key: row.api_key_id,
    key_prefix: row.key_prefix,
    end_user: row.end_user,
    requested_model: row.requested_model,
    model: row.model_id,
    provider: row.provider_id,
    upstream_model: row.upstream_model,
    status: row.status,
    error_code: row.error_code,
    stream: row.stream,
    usage_estimated: row.usage_estimated,
    latency_ms: row.latency_ms,
    input_uncached_tokens: jsonInteger(BigInt(row.input_uncached_tokens)),
    cache_read_tokens: jsonInteger(BigInt(row.cache_read_tokens)),
    cache_write_tokens: jsonInteger(BigInt(row.cache_write_tokens)),
    input_audio_tokens: jsonInteger(BigInt(row.input_audio_tokens)),
    output_text_tokens: jsonInteger(BigInt(row.output_text_tokens)),
    reasoning_tokens: jsonInteger(BigInt(row.reasoning_tokens)),
    output_audio_tokens: jsonInteger(BigInt(row.output_audio_tokens)),
    provider_cost: fromNumeric(row.provider_cost).toString(),
    markup: fromNumeric(row.markup).toString(),
    charge: fromNumeric(row.charge).toString(),
    debit: fromNumeric(row.debit).toString(),
    debit_unit: row.debit_unit,
    price_version: row.price_version,
    pricing_source: row.pricing_source,
    pricing_match: row.pricing_match,
    breakdown: row.breakdown ?? null,
    /** Usage the upstream reported beyond what the call could produce, and how it was charged; null when none. */
    usage_anomaly: row.usage_anomaly ?? null,
    /** The provider's usage as it reported it, before normalisation; null when it reported none (usage estimated, a failed call). */
    provider_usage: row.reported_usage ?? null,
    ledger_entry_id: row.ledger_entry_id,
  };
}

function encodeCursor(time: string, id: number): string {
  return Buffer.from(JSON.stringify([time, id])).toString('base64url');
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function decodeCursor(cursor: string): { time: string; id: number } {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof time === 'string' && CURSOR_TIME.test(time) && Number.isSafeInteger(id)) {
      return { time, id: id as number };
    }
  } catch {
    // Not ours: said below.
  }
  throw new GatewayError(
    'invalid_request',
    'cursor is not one this API gave out; pass next_cursor from the previous page',
    'cursor',
  );
}
