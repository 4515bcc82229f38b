import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { imageRateFor, priceUsage, ratesFor } from './cost.js';
import type { CostBreakdown, ModelPrice, NormalizedUsage, PriceRates } from './types.js';
import { emptyUsage, usageFromAnthropic, usageFromOpenAI, usageFromTotals } from './usage.js';

const d = (text: string) => Decimal.parse(text);

function testPrice(rates: Partial<PriceRates>, tiers: ModelPrice['tiers'] = []): ModelPrice {
  return {
    version: 7,
    modelId: 'test-model',
    rates: { input: Decimal.ZERO, output: Decimal.ZERO, ...rates },
    tiers,
    effectiveFrom: undefined,
    effectiveUntil: undefined,
    source: 'test',
  };
}

/** The breakdown as plain text rows, to compare against known values. */
function rows(breakdown: CostBreakdown): string[] {
  return breakdown.lines.map(
    (line) => `${line.component} ${line.units} x ${line.rate} = ${line.amount}${line.fellBackTo ? ` (${line.fellBackTo})` : ''}`,
  );
}

// gpt-4o at $2.50 / $10 per 1M, cached input $1.25 per 1M (OpenAI pricing page, 2025).
const gpt4o = testPrice({ input: d('2.5e-6'), output: d('1e-5'), cacheRead: d('1.25e-6') });
// claude-sonnet-4 with its long-context tier above 200k prompt tokens (Anthropic pricing page, 2025).
const sonnet4 = testPrice(
  { input: d('3e-6'), output: d('1.5e-5'), cacheRead: d('3e-7'), cacheWrite: d('3.75e-6'), cacheWrite1h: d('6e-6') },
  [
    {
      aboveInputTokens: 200_000,
      rates: { input: d('6e-6'), output: d('2.25e-5'), cacheRead: d('6e-7'), cacheWrite: d('7.5e-6') },
    },
  ],
);

describe('priceUsage', () => {
  it('picks a context tier by the largest step of a call made of several, not by their sum', () => {
    // A compaction step read 150,000 tokens and the answer 60,000: 210,000 in all, each step under 200,000.
    const usage = usageFromAnthropic({
      input_tokens: 60_000,
      output_tokens: 100,
      iterations: [{ type: 'compaction', input_tokens: 150_000, output_tokens: 2_000 }],
    })!;
    const breakdown = priceUsage(usage, sonnet4);
    expect(breakdown.tier).toBeUndefined();
    expect(rows(breakdown)).toEqual(['input 210000 x 0.000003 = 0.63', 'output 2100 x 0.000015 = 0.0315']);
    // One step past 200,000 puts the call at the long-context rates.
    const large = usageFromAnthropic({
      input_tokens: 10_000,
      output_tokens: 100,
      iterations: [{ type: 'compaction', input_tokens: 200_001, output_tokens: 2_000 }],
    })!;
    expect(priceUsage(large, sonnet4).tier).toBe(200_000);
  });

  it('prices OpenAI usage with cached and reasoning tokens exactly, reasoning falling back to output', () => {
    const usage = usageFromOpenAI({
      prompt_tokens: 1000,
      completion_tokens: 500,
      prompt_tokens_details: { cached_tokens: 200 },
      completion_tokens_details: { reasoning_tokens: 100 },
    })!;
    const breakdown = priceUsage(usage, gpt4o);
    expect(rows(breakdown)).toEqual([
      'input 800 x 0.0000025 = 0.002',
      'cache_read 200 x 0.00000125 = 0.00025',
      'output 400 x 0.00001 = 0.004',
      'reasoning 100 x 0.00001 = 0.001 (output)',
    ]);
    expect(breakdown.providerCost.toString()).toBe('0.00725');
    expect(breakdown.charge.toString()).toBe('0.00725');
    expect(breakdown.markup).toBeUndefined();
    expect(breakdown.tier).toBeUndefined();
  });

  it('prices Anthropic cache writes of both lifetimes and reads, which input_tokens excludes', () => {
    const usage = usageFromAnthropic({
      input_tokens: 50,
      output_tokens: 10,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 300,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
    })!;
    expect(rows(priceUsage(usage, sonnet4))).toEqual([
      'input 50 x 0.000003 = 0.00015',
      'cache_read 1000 x 0.0000003 = 0.0003',
      'cache_write 100 x 0.00000375 = 0.000375',
      'cache_write_1h 200 x 0.000006 = 0.0012',
      'output 10 x 0.000015 = 0.00015',
    ]);
    expect(priceUsage(usage, sonnet4).providerCost.toString()).toBe('0.002175');
  });

  it('prices the whole request at the tier above 200k prompt tokens, cache tokens included in the count', () => {
    const atBoundary = usageFromTotals({ input: 200_000, output: 1000, cached: 150_000 });
    expect(priceUsage(atBoundary, sonnet4).tier).toBeUndefined();
    expect(priceUsage(atBoundary, sonnet4).providerCost.toString()).toBe('0.21');
    const above = usageFromTotals({ input: 200_001, output: 1000, cached: 150_000 });
    const breakdown = priceUsage(above, sonnet4);
    expect(breakdown.tier).toBe(200_000);
    expect(rows(breakdown)).toEqual([
      'input 50001 x 0.000006 = 0.300006',
      'cache_read 150000 x 0.0000006 = 0.09',
      'output 1000 x 0.0000225 = 0.0225',
    ]);
    // A rate the tier leaves out keeps its base value.
    expect(ratesFor(sonnet4, 300_000).rates.cacheWrite1h!.toString()).toBe('0.000006');
  });

  it('shows every fallback: cache to input, 1-hour write to write then input, audio to input and output', () => {
    const bare = testPrice({ input: d('1e-6'), output: d('2e-6') });
    const usage = emptyUsage();
    Object.assign(usage.input, { uncached: 1, cacheRead: 2, cacheWrite: 3, cacheWrite1h: 4, audio: 5 });
    Object.assign(usage.output, { text: 6, reasoning: 7, audio: 8 });
    expect(rows(priceUsage(usage, bare))).toEqual([
      'input 1 x 0.000001 = 0.000001',
      'cache_read 2 x 0.000001 = 0.000002 (input)',
      'cache_write 3 x 0.000001 = 0.000003 (input)',
      'cache_write_1h 4 x 0.000001 = 0.000004 (input)',
      'input_audio 5 x 0.000001 = 0.000005 (input)',
      'output 6 x 0.000002 = 0.000012',
      'reasoning 7 x 0.000002 = 0.000014 (output)',
      'output_audio 8 x 0.000002 = 0.000016 (output)',
    ]);
    const withWrite = testPrice({ input: d('1e-6'), output: d('2e-6'), cacheWrite: d('1.25e-6') });
    expect(rows(priceUsage(usage, withWrite))[3]).toBe('cache_write_1h 4 x 0.00000125 = 0.000005 (cacheWrite)');
  });

  it('charges the per-request fee per request and the per-image price per image', () => {
    const price = testPrice({ input: d('1e-6'), output: d('2e-6'), perRequest: d('0.005'), perImage: d('0.04') });
    const usage = emptyUsage();
    usage.requests = 3;
    usage.images = 2;
    expect(rows(priceUsage(usage, price))).toEqual(['request 3 x 0.005 = 0.015', 'image 2 x 0.04 = 0.08']);
    expect(priceUsage(usage, price).providerCost.toString()).toBe('0.095');
  });

  it('prices images at the rate of their size and quality, a size without quality for any, else the flat rate', () => {
    const price: ModelPrice = {
      ...testPrice({ perImage: d('0.05') }),
      imageRates: [
        { size: '1024x1024', quality: 'hd', rate: Decimal.parse('0.08') },
        { size: '1024x1024', quality: 'standard', rate: Decimal.parse('0.04') },
        { size: '256x256', rate: Decimal.parse('0.016') },
      ],
    };
    const images = (count: number, image: NormalizedUsage['image']) => ({
      ...emptyUsage(),
      images: count,
      ...(image ? { image } : {}),
    });
    expect(priceUsage(images(2, { size: '1024x1024', quality: 'hd' }), price).lines).toEqual([
      { component: 'image', units: 2, rate: Decimal.parse('0.08'), amount: Decimal.parse('0.16'), variant: '1024x1024 hd' },
    ]);
    expect(priceUsage(images(1, { size: '256x256', quality: 'hd' }), price).providerCost.toString()).toBe('0.016');
    expect(priceUsage(images(3, { size: '512x512' }), price).providerCost.toString()).toBe('0.15');
    expect(priceUsage(images(1, undefined), price).lines[0]).toMatchObject({ component: 'image', rate: Decimal.parse('0.05') });
  });

  it('picks an image rate by size, then quality, whatever order the rates are listed in', () => {
    const rates = [
      { size: '1024x1024', quality: 'standard', rate: d('0.04') },
      { size: '1024x1024', quality: 'hd', rate: d('0.08') },
      { size: '1024x1024', rate: d('0.05') },
    ];
    expect(imageRateFor({ imageRates: rates }, { size: '1024x1024', quality: 'hd' })).toEqual({
      rate: d('0.08'),
      variant: '1024x1024 hd',
    });
    // A quality the size has no rate for takes the size's rate for any quality, not the first listed.
    expect(imageRateFor({ imageRates: rates }, { size: '1024x1024', quality: 'low' })).toEqual({
      rate: d('0.05'),
      variant: '1024x1024 any',
    });
    expect(imageRateFor({ imageRates: rates }, { size: '1024x1024' })).toEqual({ rate: d('0.05'), variant: '1024x1024 any' });
    // No rates by size: nothing to pick (the flat per-image rate applies), with or without a size.
    expect(imageRateFor({}, { size: '1024x1024', quality: 'hd' })).toBeUndefined();
    expect(imageRateFor({ imageRates: [] }, { size: '1024x1024' })).toBeUndefined();
  });

  it('a usage that names an image size but made no image has no image line', () => {
    const price: ModelPrice = { ...testPrice({ input: d('0.000001') }), imageRates: [{ size: '1024x1024', rate: d('0.04') }] };
    const usage = { ...usageFromTotals({ input: 10, output: 0 }), image: { size: '1024x1024' } };
    expect(priceUsage(usage, price).lines.map((line) => line.component)).toEqual(['input']);
  });

  it('seconds of audio on a model priced by the token add no line (the tokens are billed)', () => {
    const price = testPrice({ input: d('0.000001') });
    const breakdown = priceUsage({ ...usageFromTotals({ input: 10, output: 0 }), audioSeconds: 30 }, price);
    expect(breakdown.lines.map((line) => line.component)).toEqual(['input']);
    expect(breakdown.providerCost.toString()).toBe('0.00001');
  });

  it('prices transcriptions per second of audio', () => {
    const price = testPrice({ audioSecond: d('0.0001') });
    const breakdown = priceUsage({ ...emptyUsage(), audioSeconds: 125 }, price);
    expect(breakdown.lines).toEqual([
      { component: 'audio_second', units: 125, rate: Decimal.parse('0.0001'), amount: Decimal.parse('0.0125') },
    ]);
    expect(breakdown.providerCost.toString()).toBe('0.0125'); // whisper-1: $0.006 a minute
  });

  it('never drifts like a float: a million tokens at $0.90 per 1M cost exactly $0.90', () => {
    const price = testPrice({ input: Decimal.parse('0.90').shift(-6), output: Decimal.ZERO });
    const usage = usageFromTotals({ input: 1_000_000, output: 0 });
    expect(priceUsage(usage, price).providerCost.toString()).toBe('0.9');
  });
});
