import { Decimal } from '../../src/money/decimal.js';
import { emptyUsage } from '../../src/pricing/usage.js';
import type { CostBreakdown } from '../../src/pricing/types.js';
import type { PreparedCall } from '../../src/gateway/pipeline.js';
import type { ChargeReport } from '../../src/gateway/usage-payload.js';
import type { CallOutcome } from '../../src/gateway/usage-recorder.js';

/** Calls as the pipeline prepares them and their outcomes, for the usage recorder's suites. */

/** A failed call as the pipeline prepares it: only what a usage record reads is meaningful here. */
export function failedCall(requestId: string, accountId: string): PreparedCall {
  return {
    requestId,
    caller: { accountId, mode: 'consumption_usd', jobPrice: undefined, markup: undefined, keyId: 'key_test' },
    intent: { model: 'gpt-4o-mini', operation: 'chat', promptTokens: 8, worstCase: () => emptyUsage() },
    resolution: {
      requested: 'gpt-4o-mini',
      modelId: 'gpt-4o-mini',
      providerId: 'openai',
      upstreamModel: 'gpt-4o-mini',
      source: 'database',
      match: 'exact',
      price: { rates: {}, version: 3 },
      maxOutputTokens: undefined,
      contextWindow: undefined,
    },
    route: { providerId: 'openai', target: { upstreamModel: 'gpt-4o-mini' }, demo: false },
    markup: undefined,
    promptTokens: 8,
    held: Decimal.parse('0.01'),
    startedAt: 0,
    stream: false,
  } as unknown as PreparedCall;
}

/** What the provider reported, as it wrote it: nested, with a null and text a JSON encoder must escape. */
export const PROVIDER_USAGE = {
  prompt_tokens: 1525,
  completion_tokens: 581,
  prompt_tokens_details: { cached_tokens: 300, audio_tokens: 7 },
  completion_tokens_details: { reasoning_tokens: 128, audio_tokens: 3, accepted_prediction_tokens: null },
  service_note: 'ünïcode ✓ 🙂 "quoted" \\ \n',
};

/** A settled call with every column set: a priced breakdown with markup, cache and reasoning tokens, a stream. */
export function settledCall(requestId: string, accountId: string, requestedModel: string): [PreparedCall, CallOutcome] {
  const call = { ...failedCall(requestId, accountId), stream: true };
  call.intent = { ...call.intent, model: requestedModel, endUser: 'end-user-42' };
  const usage = emptyUsage();
  Object.assign(usage.input, { uncached: 1200, cacheRead: 300, cacheWrite: 20, cacheWrite1h: 5, audio: 7 });
  Object.assign(usage.output, { text: 450, reasoning: 128, audio: 3 });
  usage.raw = PROVIDER_USAGE;
  const d = Decimal.parse;
  const providerCost = d('0.000123456789012345678');
  const breakdown: CostBreakdown = {
    lines: [
      { component: 'input', units: 1200, rate: d('0.00000015'), amount: d('0.00018') },
      { component: 'reasoning', units: 128, rate: d('0.0000006'), amount: d('0.0000768'), fellBackTo: 'output' },
    ],
    tier: 200000,
    providerCost,
    markup: { percent: d('12.5'), fixedFee: d('0.001'), amount: d('0.001015432098626543210'), rule: 'account' },
    charge: d('0.001138888887638888888'),
  };
  const report: ChargeReport = {
    usage,
    breakdown,
    resolution: call.resolution,
    debit: { amount: breakdown.charge, unit: 'usd' },
    shortfall: Decimal.ZERO,
    creditsRemaining: d('9.5'),
    // Charged at the worst case held: the anomaly travels as a document inside the batch's JSON, as the breakdown does.
    anomaly: {
      reasons: ['reported 581 output tokens, past the 500 "max_tokens" allowed'],
      policy: 'cap',
      reported: { charge: d('0.002'), debit: d('0.002') },
    },
  };
  return [call, { status: 'success', report, latencyMs: 1234.5 }];
}
