import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { priceUsage, ratesFor } from './cost.js';
import type { ModelPrice, NormalizedUsage, PriceRates } from './types.js';
import { emptyUsage, totalInputTokens } from './usage.js';

// Rates as sources write them: a few significant digits at USD per 1M, converted to per token.
const rate = fc.integer({ min: 0, max: 100_000 }).map((hundredths) => Decimal.of(hundredths).shift(-8));
const optionalRate = fc.option(rate, { nil: undefined });

const rates: fc.Arbitrary<PriceRates> = fc.record({
  input: rate,
  output: rate,
  cacheRead: optionalRate,
  cacheWrite: optionalRate,
  cacheWrite1h: optionalRate,
  reasoning: optionalRate,
  inputAudio: optionalRate,
  outputAudio: optionalRate,
  perRequest: optionalRate,
  perImage: optionalRate,
});

const price: fc.Arbitrary<ModelPrice> = fc
  .tuple(rates, fc.integer({ min: 1, max: 500_000 }), rate, rate)
  .map(([base, threshold, tierInput, tierOutput]) => ({
    version: 1,
    modelId: 'property-model',
    rates: base,
    tiers: [{ aboveInputTokens: threshold, rates: { input: tierInput, output: tierOutput } }],
    effectiveFrom: undefined,
    effectiveUntil: undefined,
    source: 'property',
  }));

const count = fc.integer({ min: 0, max: 300_000 });
const usage: fc.Arbitrary<NormalizedUsage> = fc
  .record({
    uncached: count,
    cacheRead: count,
    cacheWrite: count,
    cacheWrite1h: count,
    audio: count,
    text: count,
    reasoning: count,
    outputAudio: count,
    requests: fc.integer({ min: 0, max: 5 }),
    images: fc.integer({ min: 0, max: 5 }),
  })
  .map((counts) => {
    const built = emptyUsage();
    Object.assign(built.input, {
      uncached: counts.uncached,
      cacheRead: counts.cacheRead,
      cacheWrite: counts.cacheWrite,
      cacheWrite1h: counts.cacheWrite1h,
      audio: counts.audio,
    });
    Object.assign(built.output, { text: counts.text, reasoning: counts.reasoning, audio: counts.outputAudio });
    built.requests = counts.requests;
    built.images = counts.images;
    return built;
  });

function sum(a: NormalizedUsage, b: NormalizedUsage): NormalizedUsage {
  const total = emptyUsage();
  for (const key of Object.keys(total.input) as Array<keyof NormalizedUsage['input']>)
    total.input[key] = a.input[key] + b.input[key];
  for (const key of Object.keys(total.output) as Array<keyof NormalizedUsage['output']>) {
    total.output[key] = a.output[key] + b.output[key];
  }
  total.requests = a.requests + b.requests;
  total.images = a.images + b.images;
  return total;
}

describe('cost properties', () => {
  it('is additive over usage when the parts and the whole land in the same tier', () => {
    fc.assert(
      fc.property(price, usage, usage, (model, a, b) => {
        const whole = sum(a, b);
        const tier = (u: NormalizedUsage) => ratesFor(model, totalInputTokens(u)).tier;
        fc.pre(tier(a) === tier(b) && tier(b) === tier(whole));
        const parts = priceUsage(a, model).providerCost.add(priceUsage(b, model).providerCost);
        expect(priceUsage(whole, model).providerCost.eq(parts)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('totals exactly the sum of its lines, each units x rate', () => {
    fc.assert(
      fc.property(price, usage, (model, u) => {
        const breakdown = priceUsage(u, model);
        for (const line of breakdown.lines) expect(line.amount.eq(line.rate.times(line.units))).toBe(true);
        expect(breakdown.providerCost.eq(Decimal.sum(breakdown.lines.map((line) => line.amount)))).toBe(true);
        expect(breakdown.charge.eq(breakdown.providerCost)).toBe(true);
      }),
    );
  });

  it('costs only the per-request fee for zero usage', () => {
    fc.assert(
      fc.property(price, fc.integer({ min: 0, max: 10 }), (model, requests) => {
        const empty = emptyUsage();
        empty.requests = requests;
        const expected = (model.rates.perRequest ?? Decimal.ZERO).times(requests);
        expect(priceUsage(empty, model).providerCost.eq(expected)).toBe(true);
      }),
    );
  });

  it('prices a prompt of exactly the threshold at the base rates and one token more at the tier', () => {
    fc.assert(
      fc.property(price, (model) => {
        const threshold = model.tiers[0]!.aboveInputTokens;
        const fee = model.rates.perRequest ?? Decimal.ZERO; // one request each
        const at = emptyUsage();
        at.input.uncached = threshold;
        const above = emptyUsage();
        above.input.uncached = threshold + 1;
        expect(priceUsage(at, model).tier).toBeUndefined();
        expect(priceUsage(at, model).providerCost.eq(model.rates.input.times(threshold).add(fee))).toBe(true);
        expect(priceUsage(above, model).tier).toBe(threshold);
        expect(priceUsage(above, model).providerCost.eq(model.tiers[0]!.rates.input!.times(threshold + 1).add(fee))).toBe(true);
      }),
    );
  });
});
