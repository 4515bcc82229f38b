import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { imageRateFor, priceUsage, ratesFor, UnpricedOtherModelsError, type OtherModelResolver } from './cost.js';
import { applyMarkup } from './markup.js';
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

/** The usage of the real body of `cassette` in genai-prices' usages.json (fixtures/genai-prices, see SOURCES.md). */
function genaiUsage(cassette: string): Record<string, unknown> {
  const cases = JSON.parse(
    readFileSync(new URL('../../fixtures/genai-prices/usages-priced.json', import.meta.url), 'utf8'),
  ) as Array<{ body: { file: string; usage?: Record<string, unknown> } }>;
  const found = cases.find((entry) => entry.body.file.endsWith(cassette));
  if (!found?.body.usage) throw new Error(`no body of ${cassette} in usages-priced.json`);
  return found.body.usage;
}

// genai-prices' data.json: claude-sonnet-5 at $3 / $15 per 1M from 2026-09-01; claude-opus-4-8 at $5 / $25.
const sonnet5 = {
  ...testPrice({ input: d('3e-6'), output: d('1.5e-5'), cacheRead: d('3e-7'), cacheWrite: d('3.75e-6') }),
  version: 11,
};
const opus48 = {
  ...testPrice({ input: d('5e-6'), output: d('2.5e-5'), cacheRead: d('5e-7'), cacheWrite: d('6.25e-6') }),
  version: 12,
  modelId: 'claude-opus-4-8',
};

/** Resolves other models from a table, as the catalog would: each name looked up is recorded. */
function resolverOf(table: Record<string, ModelPrice>, asked: string[] = []): OtherModelResolver {
  return (model) => {
    asked.push(model);
    const price = table[model];
    if (!price)
      return {
        modelId: undefined,
        providerId: undefined,
        source: 'default',
        match: 'default',
        price: testPrice({ input: d('1e-6'), output: d('2e-6') }),
      };
    return { modelId: price.modelId, providerId: 'anthropic', source: 'database', match: 'exact', price };
  };
}

describe("priceUsage: steps of another model within the call (Anthropic's advisor)", () => {
  it("prices the recorded advisor step at the advisor's own price, its lines apart and named, in the total", () => {
    // test_anthropic_advisor_tool: claude-sonnet-5 read 2,390 and wrote 121 (its two steps); it consulted
    // claude-opus-4-8, which read 2,518 and wrote 22, outside those counts.
    const usage = usageFromAnthropic(genaiUsage('test_anthropic/test_anthropic_advisor_tool.yaml'))!;
    const asked: string[] = [];
    const breakdown = priceUsage(usage, sonnet5, resolverOf({ 'claude-opus-4-8': opus48 }, asked));
    expect(asked).toEqual(['claude-opus-4-8']);
    expect(
      breakdown.lines.map((line) => `${rows({ ...breakdown, lines: [line] })[0]}${line.model ? ` @ ${line.model}` : ''}`),
    ).toEqual([
      'input 2390 x 0.000003 = 0.00717',
      'output 121 x 0.000015 = 0.001815',
      'input 2518 x 0.000005 = 0.01259 @ claude-opus-4-8',
      'output 22 x 0.000025 = 0.00055 @ claude-opus-4-8',
    ]);
    // 0.00717 + 0.001815 (the executor, all that was billed before) + 0.01259 + 0.00055 (the advisor).
    expect(breakdown.providerCost.toString()).toBe('0.022125');
    expect(breakdown.charge.toString()).toBe('0.022125');
    expect(breakdown.tier).toBeUndefined();
    expect(breakdown.otherModels).toEqual([
      {
        model: 'claude-opus-4-8',
        modelId: 'claude-opus-4-8',
        providerId: 'anthropic',
        source: 'database',
        match: 'exact',
        priceVersion: 12,
        tier: undefined,
        cost: d('0.01314'),
      },
    ]);
    // The markup is on the whole provider cost: 10% of 0.022125 plus a fee.
    const marked = applyMarkup(breakdown, {
      scope: 'global',
      target: '',
      percent: d('10'),
      fixedFee: d('0.001'),
      name: 'global:config',
    });
    expect([marked.markup!.amount.toString(), marked.charge.toString()]).toEqual(['0.0032125', '0.0253375']);
  });

  it("picks each model's context tier by its own steps, and prices its cache reads and writes at its own rates", () => {
    // The executor read 50,000 (no tier); the advisor's larger step read 201,000 (sonnet4's long-context tier),
    // its smaller 1,000: the whole advisor usage is at its tier, the executor's at its base rates.
    const usage = usageFromAnthropic({
      input_tokens: 50_000,
      output_tokens: 10,
      iterations: [
        {
          type: 'advisor_message',
          model: 'claude-sonnet-4',
          input_tokens: 1_000,
          cache_read_input_tokens: 200_000,
          output_tokens: 5,
        },
        {
          type: 'advisor_message',
          model: 'claude-sonnet-4',
          input_tokens: 1_000,
          cache_creation_input_tokens: 400,
          output_tokens: 5,
        },
      ],
    })!;
    const breakdown = priceUsage(usage, gpt4o, resolverOf({ 'claude-sonnet-4': sonnet4 }));
    expect(breakdown.tier).toBeUndefined();
    expect(breakdown.otherModels!.map((other) => [other.model, other.tier, other.priceVersion])).toEqual([
      ['claude-sonnet-4', 200_000, 7],
    ]);
    expect(rows(breakdown)).toEqual([
      'input 50000 x 0.0000025 = 0.125',
      'output 10 x 0.00001 = 0.0001',
      'input 2000 x 0.000006 = 0.012',
      'cache_read 200000 x 0.0000006 = 0.12',
      'cache_write 400 x 0.0000075 = 0.003',
      'output 10 x 0.0000225 = 0.000225',
    ]);
    expect(breakdown.lines.map((line) => line.model)).toEqual([undefined, undefined, ...Array(4).fill('claude-sonnet-4')]);
    expect(breakdown.providerCost.toString()).toBe('0.260325');
  });

  it('records a model the catalog does not price at the price and match the resolver gives (the default)', () => {
    const usage = usageFromAnthropic(genaiUsage('test_anthropic/test_anthropic_advisor_tool_redacted.yaml'))!;
    const breakdown = priceUsage(usage, sonnet5, resolverOf({}));
    expect(breakdown.otherModels!.map((other) => [other.model, other.modelId, other.source, other.match])).toEqual([
      ['claude-fable-5', undefined, 'default', 'default'],
    ]);
    // 2,564 in and 99 out at $1 / $2 per 1M: 0.002564 + 0.000198.
    expect(breakdown.otherModels![0]!.cost.toString()).toBe('0.002762');
  });

  it('refuses to price steps of other models with nothing to price them by, rather than bill them at nothing', () => {
    const usage = usageFromAnthropic(genaiUsage('test_anthropic/test_anthropic_advisor_tool.yaml'))!;
    expect(() => priceUsage(usage, sonnet5)).toThrow(UnpricedOtherModelsError);
    expect(() => priceUsage(usage, sonnet5)).toThrow(/claude-opus-4-8/);
    // A usage without them needs no resolver, and has no otherModels in its breakdown.
    const plain = priceUsage(usageFromAnthropic({ input_tokens: 10, output_tokens: 1 })!, sonnet5);
    expect(plain.otherModels).toBeUndefined();
  });
});
