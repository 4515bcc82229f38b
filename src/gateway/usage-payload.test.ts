import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { priceUsage } from '../pricing/cost.js';
import type { NormalizedUsage } from '../pricing/types.js';
import { testPrice, testResolution } from '../../test/support/priced-model.js';
import { emptyUsage } from '../pricing/usage.js';
import {
  chargeHeaders,
  chargePayload,
  messagesUsagePayload,
  pricingHeaders,
  responsesUsagePayload,
  serializeWithExactCost,
  usagePayload,
  type ChargeReport,
} from './usage-payload.js';

const d = (text: string) => Decimal.parse(text);

const PRICE = testPrice({ cacheRead: d('0.075e-6'), cacheWrite: d('0.3e-6'), cacheWrite1h: d('0.5e-6') });
const RESOLUTION = testResolution(PRICE);

/** Every kind of token, each count distinct, so a sum or a field taken for another shows. */
function richUsage(): NormalizedUsage {
  const usage = emptyUsage();
  usage.input = { uncached: 100, cacheRead: 20, cacheWrite: 7, cacheWrite1h: 3, audio: 11 };
  usage.output = { text: 50, reasoning: 13, audio: 5 };
  return usage;
}

function reportOf(usage: NormalizedUsage, more: Partial<ChargeReport> = {}): ChargeReport {
  const breakdown = priceUsage(usage, PRICE);
  return {
    usage,
    breakdown,
    resolution: RESOLUTION,
    debit: { amount: breakdown.charge, unit: 'usd' },
    shortfall: Decimal.ZERO,
    creditsRemaining: d('9.5'),
    ...more,
  };
}

describe('usage payloads', () => {
  it("chat: totals and details from every kind of token, the upstream's own fields kept where not replaced", () => {
    const report = reportOf(richUsage());
    const payload = usagePayload(report, {
      prompt_tokens: 1,
      service_tier: 'default',
      prompt_tokens_details: { cached_tokens: 0, extra: 'kept' },
      completion_tokens_details: { accepted_prediction_tokens: 2 },
    });
    expect(payload).toMatchObject({
      service_tier: 'default',
      prompt_tokens: 141,
      completion_tokens: 68,
      total_tokens: 209,
      prompt_tokens_details: { cached_tokens: 20, cache_write_tokens: 10, audio_tokens: 11, extra: 'kept' },
      completion_tokens_details: { reasoning_tokens: 13, audio_tokens: 5, accepted_prediction_tokens: 2 },
    });
    const plain = usagePayload(reportOf({ ...emptyUsage(), input: { ...emptyUsage().input, uncached: 4 } }));
    expect(plain.prompt_tokens_details).toEqual({ cached_tokens: 0 });
    expect(plain.completion_tokens_details).toEqual({ reasoning_tokens: 0 });
    // Cache writes of the one-hour lifetime alone are cache writes too.
    const hourOnly = usagePayload(reportOf({ ...emptyUsage(), input: { ...emptyUsage().input, uncached: 4, cacheWrite1h: 9 } }));
    expect(hourOnly.prompt_tokens_details).toEqual({ cached_tokens: 0, cache_write_tokens: 9 });
  });

  it('the charge block: provider cost, markup, currency, debit, credits left and how the price was found', () => {
    const report = reportOf(richUsage());
    const tollgate = usagePayload(report).tollgate as Record<string, unknown>;
    expect(tollgate).toEqual({
      charge: report.breakdown.charge.toString(),
      provider_cost: report.breakdown.providerCost.toString(),
      markup: '0',
      currency: 'USD',
      debit: report.breakdown.charge.toString(),
      debit_unit: 'usd',
      credits_remaining: '9.5',
      estimated: false,
      pricing: { model: 'gpt-4o-mini', source: 'database', match: 'exact', price_version: 42, tier: null },
    });
    const bare = chargePayload(
      reportOf({ ...emptyUsage(), audioSeconds: 12.5, images: 2 }, { creditsRemaining: undefined, shortfall: d('0.25') }),
    );
    expect(bare.tollgate).toMatchObject({ credits_remaining: null, shortfall: '0.25', audio_seconds: 12.5, images: 2 });
    expect(Object.keys(bare)).toEqual(['cost', 'tollgate']);
  });

  it('Responses: input and output totals with their details, cache writes only when there were some', () => {
    const payload = responsesUsagePayload(reportOf(richUsage()), {
      input_tokens_details: { extra: 'kept' },
      output_tokens_details: { other: 1 },
      kept: true,
    });
    expect(payload).toMatchObject({
      kept: true,
      input_tokens: 141,
      input_tokens_details: { cached_tokens: 20, cache_write_tokens: 10, extra: 'kept' },
      output_tokens: 68,
      output_tokens_details: { reasoning_tokens: 13, other: 1 },
      total_tokens: 209,
    });
    expect(responsesUsagePayload(reportOf(emptyUsage())).input_tokens_details).toEqual({ cached_tokens: 0 });
  });

  it('Messages: input without cache reads and writes, which have fields of their own, split by lifetime', () => {
    const payload = messagesUsagePayload(reportOf(richUsage()), { service_tier: 'standard' });
    expect(payload).toMatchObject({
      service_tier: 'standard',
      input_tokens: 111,
      cache_creation_input_tokens: 10,
      cache_read_input_tokens: 20,
      cache_creation: { ephemeral_5m_input_tokens: 7, ephemeral_1h_input_tokens: 3 },
      output_tokens: 68,
    });
  });

  it('writes the cost as the exact decimal literal, and leaves a body without the placeholder as it is', () => {
    const report = reportOf(richUsage());
    const text = serializeWithExactCost({ id: 'x', usage: usagePayload(report) }, d('0.000012345678901234567890'));
    expect(text).toContain('"cost":0.00001234567890123456789,');
    expect(serializeWithExactCost({ cost: 'literal' }, d('1'))).toBe('{"cost":"literal"}');
    // The placeholder at the very start of the text is still found (position 0).
    const placeholder = JSON.stringify(usagePayload(report).cost);
    expect(serializeWithExactCost(JSON.parse(placeholder), d('2.5'))).toBe('2.5');
  });
});

describe('charge and pricing headers', () => {
  it('name the charge, the debit with its unit, what is left, and flag shortfalls, estimates and anomalies', () => {
    const usage = { ...richUsage(), estimated: true };
    const report = reportOf(usage, {
      shortfall: d('0.5'),
      anomaly: { reasons: ['x'], policy: 'cap', reported: { charge: d('9'), debit: d('9') } },
    });
    expect(chargeHeaders(report)).toEqual({
      'x-tollgate-cost': report.breakdown.charge.toString(),
      'x-tollgate-provider-cost': report.breakdown.providerCost.toString(),
      'x-tollgate-debit': `${report.breakdown.charge.toString()} usd`,
      'x-tollgate-shortfall': '0.5 usd',
      'x-tollgate-usage-anomaly': 'capped',
      'x-tollgate-credits-remaining': '9.5',
      'x-tollgate-usage-estimated': 'true',
    });
    const charged = reportOf(richUsage(), { anomaly: { reasons: ['x'], policy: 'charge' }, creditsRemaining: undefined });
    expect(chargeHeaders(charged)['x-tollgate-usage-anomaly']).toBe('charged');
    // A capped policy that had nothing to cap (no reported charge) says charged.
    const nothingCapped = reportOf(richUsage(), { anomaly: { reasons: ['x'], policy: 'cap' } });
    expect(chargeHeaders(nothingCapped)['x-tollgate-usage-anomaly']).toBe('charged');
    expect(Object.keys(chargeHeaders(charged))).toEqual([
      'x-tollgate-cost',
      'x-tollgate-provider-cost',
      'x-tollgate-debit',
      'x-tollgate-usage-anomaly',
    ]);
  });

  it('pricing headers: source, match, model and price version when there are some', () => {
    expect(pricingHeaders(RESOLUTION)).toEqual({
      'x-tollgate-pricing-source': 'database',
      'x-tollgate-pricing-match': 'exact',
      'x-tollgate-model': 'gpt-4o-mini',
      'x-tollgate-price-version': '42',
    });
    const unversioned = { ...RESOLUTION, modelId: undefined, price: { ...PRICE, version: undefined } };
    expect(pricingHeaders(unversioned)).toEqual({ 'x-tollgate-pricing-source': 'database', 'x-tollgate-pricing-match': 'exact' });
  });
});
