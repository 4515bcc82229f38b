import type { Db } from '../db/database.js';
import type { Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import type { PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';

export interface CallOutcome {
  status: 'success' | 'error' | 'aborted';
  report?: ChargeReport;
  errorCode?: string;
  latencyMs: number;
}

/**
 * Writes one usage record per call (who, what, which price version, the breakdown, the charge) after the
 * response has gone out: bookkeeping stays off the hot path (STYLE habit 12). The ledger entry written at
 * capture is the financial record; this is the analytical one. `flush()` waits for pending writes
 * (shutdown, tests).
 */
export class UsageRecorder {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  record(call: PreparedCall, outcome: CallOutcome): void {
    const write = this.write(call, outcome).catch((error: unknown) => {
      this.logger.error({ err: error, requestId: call.requestId }, 'could not write usage record');
    });
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async write(call: PreparedCall, outcome: CallOutcome): Promise<void> {
    const report = outcome.report;
    const usage = report?.usage;
    const unit = report?.debit.unit ?? (call.caller.mode === 'consumption_tokens' ? 'tokens' : 'usd');
    await this.db
      .insertInto('usage_records')
      .values({
        request_id: call.requestId,
        account_id: call.caller.accountId,
        api_key_id: call.caller.keyId,
        requested_model: call.request.model,
        model_id: call.resolution.modelId ?? null,
        provider_id: call.route.providerId,
        upstream_model: call.route.target.upstreamModel,
        input_uncached_tokens: usage?.input.uncached ?? 0,
        cache_read_tokens: usage?.input.cacheRead ?? 0,
        cache_write_tokens: (usage?.input.cacheWrite ?? 0) + (usage?.input.cacheWrite1h ?? 0),
        input_audio_tokens: usage?.input.audio ?? 0,
        output_text_tokens: usage?.output.text ?? 0,
        reasoning_tokens: usage?.output.reasoning ?? 0,
        output_audio_tokens: usage?.output.audio ?? 0,
        usage_estimated: usage?.estimated ?? false,
        price_version: call.resolution.price.version ?? null,
        breakdown: report ? JSON.stringify(report.breakdown) : null,
        provider_cost: (report?.breakdown.providerCost ?? Decimal.ZERO).toString(),
        charge: (report?.breakdown.charge ?? Decimal.ZERO).toString(),
        debit: (report?.debit.amount ?? Decimal.ZERO).toString(),
        debit_unit: unit,
        pricing_source: call.resolution.source,
        pricing_match: call.resolution.match,
        latency_ms: Math.round(outcome.latencyMs),
        status: outcome.status,
        error_code: outcome.errorCode ?? null,
        stream: call.stream,
      })
      .onConflict((conflict) => conflict.column('request_id').doNothing())
      .execute();
  }
}
