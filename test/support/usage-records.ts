import type { Db } from '../../src/db/database.js';
import type { UsageRecordRow } from '../../src/gateway/usage-writer.js';

/** A successful chat call's usage record as the recorder writes it (gpt-4o-mini, 16 tokens in and 363 out). */
export function usageRecordRow(requestId: string, accountId: string, createdAt: string): UsageRecordRow {
  return {
    request_id: requestId,
    account_id: accountId,
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
    provider_usage: null,
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
    created_at: createdAt,
  };
}

/** The request ids of an account's usage records, in order. */
export async function recordedRequestIds(db: Db, accountId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('usage_records')
    .select('request_id')
    .where('account_id', '=', accountId)
    .orderBy('request_id')
    .execute();
  return rows.map((row) => row.request_id);
}
