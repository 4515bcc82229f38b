import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { quoteWorstCase } from './quote.js';
import type { ModelPrice, Resolution } from './types.js';

function resolution(price: ModelPrice): Resolution {
  return {
    requested: price.modelId,
    modelId: price.modelId,
    providerId: 'test',
    upstreamModel: price.modelId,
    source: 'database',
    match: 'exact',
    price,
    maxOutputTokens: undefined,
    contextWindow: undefined,
  };
}

const tiered: ModelPrice = {
  version: 1,
  modelId: 'gemini-2.5-pro',
  rates: { input: Decimal.parse('1.25e-6'), output: Decimal.parse('1e-5'), cacheRead: Decimal.parse('3.1e-7') },
  tiers: [{ aboveInputTokens: 200_000, rates: { input: Decimal.parse('2.5e-6'), output: Decimal.parse('1.5e-5') } }],
  effectiveFrom: undefined,
  effectiveUntil: undefined,
  source: 'test',
};
const markup = {
  scope: 'global' as const,
  target: '',
  percent: Decimal.parse('10'),
  fixedFee: Decimal.parse('0.001'),
  name: 'global:config',
};

describe('quoteWorstCase', () => {
  it('holds the prompt as uncached input and all output tokens, with markup', () => {
    const quote = quoteWorstCase({
      resolution: resolution(tiered),
      promptTokens: 1000,
      maxOutputTokens: 2000,
      markup,
      mode: 'consumption_usd',
      jobPrice: undefined,
    });
    // 1000 x 1.25e-6 + 2000 x 1e-5 = 0.02125; +10% + 0.001 = 0.024375
    expect(quote.breakdown.providerCost.toString()).toBe('0.02125');
    expect([quote.debit.amount.toString(), quote.debit.unit]).toEqual(['0.024375', 'usd']);
    expect(quote.usage.estimated).toBe(true);
  });

  it('prices at the tier the prompt lands in', () => {
    const quote = quoteWorstCase({
      resolution: resolution(tiered),
      promptTokens: 200_001,
      maxOutputTokens: 100,
      markup: undefined,
      mode: 'consumption_usd',
      jobPrice: undefined,
    });
    expect(quote.breakdown.tier).toBe(200_000);
    expect(quote.debit.amount.toString()).toBe('0.5015025'); // 200001 x 2.5e-6 + 100 x 1.5e-5
  });

  it('prices every output token at the reasoning rate when it is the higher one', () => {
    const reasoning = { ...tiered, tiers: [], rates: { ...tiered.rates, reasoning: Decimal.parse('4e-5') } };
    const quote = quoteWorstCase({
      resolution: resolution(reasoning),
      promptTokens: 0,
      maxOutputTokens: 1000,
      markup: undefined,
      mode: 'consumption_usd',
      jobPrice: undefined,
    });
    expect(quote.usage.output.reasoning).toBe(1000);
    expect(quote.debit.amount.toString()).toBe('0.04');
  });

  it('holds the prompt at the cache-write rate when writing the cache costs more than reading input', () => {
    // Anthropic: a 5-minute write is 1.25x input, a 1-hour write 2x; a prompt with cache_control may be written whole.
    const sonnet: ModelPrice = {
      ...tiered,
      modelId: 'claude-sonnet-4-5',
      tiers: [],
      rates: { input: Decimal.parse('3e-6'), output: Decimal.parse('1.5e-5'), cacheWrite: Decimal.parse('3.75e-6') },
    };
    /** 1,000 prompt tokens and at most 100 out, in USD, without markup. */
    const quoteOf = (price: typeof sonnet) =>
      quoteWorstCase({
        resolution: resolution(price),
        promptTokens: 1000,
        maxOutputTokens: 100,
        markup: undefined,
        mode: 'consumption_usd',
        jobPrice: undefined,
      });
    const fiveMinutes = quoteOf(sonnet);
    expect(fiveMinutes.usage.input).toMatchObject({ uncached: 0, cacheWrite: 1000 });
    expect(fiveMinutes.debit.amount.toString()).toBe('0.00525'); // 1000 x 3.75e-6 + 100 x 1.5e-5
    const oneHour = { ...sonnet, rates: { ...sonnet.rates, cacheWrite1h: Decimal.parse('6e-6') } };
    const held = quoteOf(oneHour);
    expect(held.usage.input.cacheWrite1h).toBe(1000);
    expect(held.debit.amount.toString()).toBe('0.0075');
    // A cache write cheaper than input (a discount some gateways list) is not the worst case: input is.
    const cheapWrite = { ...sonnet, rates: { ...sonnet.rates, cacheWrite: Decimal.parse('1e-6') } };
    const cheap = quoteOf(cheapWrite);
    expect(cheap.usage.input).toMatchObject({ uncached: 1000, cacheWrite: 0 });
    expect(cheap.debit.amount.toString()).toBe('0.0045'); // 1000 x 3e-6 + 100 x 1.5e-5
  });

  it('holds tokens or the job price in the other budget modes', () => {
    const input = { resolution: resolution(tiered), promptTokens: 1000, maxOutputTokens: 2000, markup };
    expect(quoteWorstCase({ ...input, mode: 'consumption_tokens', jobPrice: undefined }).debit).toEqual({
      amount: Decimal.of(3000),
      unit: 'tokens',
    });
    expect(quoteWorstCase({ ...input, mode: 'job_based', jobPrice: Decimal.parse('0.3') }).debit.amount.toString()).toBe('0.3');
  });

  it('refuses a negative or fractional token count', () => {
    const input = { resolution: resolution(tiered), markup: undefined, mode: 'consumption_usd' as const, jobPrice: undefined };
    expect(() => quoteWorstCase({ ...input, promptTokens: -1, maxOutputTokens: 10 })).toThrow(
      /promptTokens must be a whole number/,
    );
    expect(() => quoteWorstCase({ ...input, promptTokens: 1, maxOutputTokens: 1.5 })).toThrow(/maxOutputTokens/);
  });
});
