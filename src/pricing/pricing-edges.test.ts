import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { debitFor, MissingJobPriceError } from './budget.js';
import { priceUsage, ratesFor } from './cost.js';
import { findMarkup, makeRule, markupRuleKey, type MarkupRuleSet } from './markup.js';
import { quoteWorstCase } from './quote.js';
import type { ModelPrice, Resolution } from './types.js';
import { emptyUsage, totalInputTokens, usageFromAnthropic, usageFromGemini, usageFromOpenAI, usageFromTotals } from './usage.js';

const d = Decimal.parse;

function price(rates: Record<string, string>, tiers: Array<{ above: number; rates: Record<string, string> }> = []): ModelPrice {
  const parse = (from: Record<string, string>) => Object.fromEntries(Object.entries(from).map(([key, value]) => [key, d(value)]));
  return {
    version: 1,
    modelId: 'm',
    rates: parse(rates),
    tiers: tiers.map((tier) => ({ aboveInputTokens: tier.above, rates: parse(tier.rates) })),
    effectiveFrom: undefined,
    effectiveUntil: undefined,
  } as unknown as ModelPrice;
}

/**
 * The pricing rules at their edges, each case a mutant of src/pricing that no other test noticed: which tier
 * wins when several apply, sums of many scales, which markup rule applies, the worst case of a model whose
 * reasoning is cheaper than its output, and what each provider's usage builder does with partial objects.
 */
describe('tiers and sums', () => {
  it('the highest tier the prompt exceeds wins, in whatever order the tiers are listed', () => {
    const tiered = price({ input: '1', output: '1' }, [
      { above: 200_000, rates: { input: '3' } },
      { above: 100_000, rates: { input: '2' } },
    ]);
    expect(ratesFor(tiered, 250_000)).toMatchObject({ tier: 200_000 });
    expect(ratesFor(tiered, 250_000).rates.input.toString()).toBe('3');
    expect(ratesFor(tiered, 150_000).rates.input.toString()).toBe('2');
    expect(ratesFor(tiered, 100_000)).toMatchObject({ tier: undefined });
    // Merged once and remembered: the same object each time, and another base gets its own merge.
    expect(ratesFor(tiered, 250_000).rates).toBe(ratesFor(tiered, 300_000).rates);
    expect(ratesFor(tiered, 250_000).rates.output.toString()).toBe('1');
    const other = { ...tiered, rates: { input: d('5'), output: d('7') } };
    const first = ratesFor(tiered, 250_000).rates;
    expect(ratesFor(other, 250_000).rates.output.toString()).toBe('7');
    // Each base keeps its own merge: the first base's is still the one remembered.
    expect(ratesFor(tiered, 250_000).rates).toBe(first);
    const ascending = price({ input: '1', output: '1' }, [
      { above: 100_000, rates: { input: '2' } },
      { above: 200_000, rates: { input: '3' } },
    ]);
    expect(ratesFor(ascending, 250_000).rates.input.toString()).toBe('3');
  });

  it('a tier rate left undefined keeps the base rate', () => {
    const tiered = price({ input: '1', output: '4' }, [{ above: 10, rates: { input: '2' } }]);
    tiered.tiers[0]!.rates.output = undefined;
    expect(ratesFor(tiered, 11).rates.output.toString()).toBe('4');
  });

  it('sums lines of very different scales exactly, including past 64 decimal places', () => {
    const usage = emptyUsage();
    usage.input.uncached = 3;
    usage.output.text = 7;
    const fine = price({ input: `1e-70`, output: '0.5' });
    expect(priceUsage(usage, fine).providerCost.toString()).toBe(`3.5${'0'.repeat(68)}3`);
    const mixed = price({ input: '0.001', output: '0.00002' });
    expect(priceUsage(usage, mixed).providerCost.toString()).toBe('0.00314');
    expect(priceUsage(emptyUsage(), mixed).providerCost.toString()).toBe('0');
    // A line of exactly 64 places beside one of a single place: the widest scale the fast sum handles.
    const widest = price({ input: '1e-64', output: '0.5' });
    expect(priceUsage(usage, widest).providerCost.toString()).toBe(`3.5${'0'.repeat(62)}3`);
    const one = emptyUsage();
    one.output.text = 3;
    expect(priceUsage(one, mixed).providerCost.toString()).toBe('0.00006');
  });
});

describe('findMarkup', () => {
  const rule = (scope: 'account' | 'model' | 'provider' | 'global', target: string, percent: string) =>
    makeRule(scope, target, percent, null, `${scope}:${target}`);
  const rules: MarkupRuleSet = {
    scoped: new Map([
      [markupRuleKey('account', 'acct'), rule('account', 'acct', '1')],
      [markupRuleKey('model', 'gpt-4o'), rule('model', 'gpt-4o', '2')],
      [markupRuleKey('provider', 'openai'), rule('provider', 'openai', '3')],
    ]),
    global: rule('global', '', '4'),
  };
  const nameFor = (query: Parameters<typeof findMarkup>[1]) => findMarkup(rules, query)?.name;

  it('most specific first: the account row, then account, model, provider and global rules', () => {
    const query = { accountId: 'acct', modelId: 'gpt-4o', providerId: 'openai' };
    expect(findMarkup(rules, { ...query, accountMarkup: { percent: d('9') } })).toEqual({
      scope: 'account',
      target: 'acct',
      percent: d('9'),
      fixedFee: Decimal.ZERO,
      name: 'account:acct',
    });
    expect(findMarkup(rules, { ...query, accountMarkup: { fixedFee: d('0.01') } })).toMatchObject({
      percent: Decimal.ZERO,
      fixedFee: d('0.01'),
    });
    expect(nameFor(query)).toBe('account:acct');
    expect(nameFor({ ...query, accountId: 'other', accountMarkup: { percent: undefined, fixedFee: undefined } })).toBe(
      'model:gpt-4o',
    );
    expect(nameFor({ ...query, accountId: 'other' })).toBe('model:gpt-4o');
    expect(nameFor({ accountId: 'other', modelId: 'o3', providerId: 'openai' })).toBe('provider:openai');
    expect(nameFor({ accountId: 'other', modelId: undefined, providerId: 'openai' })).toBe('provider:openai');
    expect(nameFor({ accountId: 'other', modelId: 'o3', providerId: 'anthropic' })).toBe('global:');
    expect(nameFor({ accountId: 'other', modelId: undefined, providerId: undefined })).toBe('global:');
    expect(
      findMarkup({ scoped: new Map(), global: undefined }, { accountId: 'a', modelId: 'm', providerId: 'p' }),
    ).toBeUndefined();
  });

  it('keys scoped rules so that one scope never answers for another', () => {
    expect(markupRuleKey('model', 'x')).not.toBe(markupRuleKey('provider', 'x'));
    expect(makeRule('model', 'x', null, '0.5', 'model:x')).toEqual({
      scope: 'model',
      target: 'x',
      percent: Decimal.ZERO,
      fixedFee: d('0.5'),
      name: 'model:x',
    });
  });
});

describe('worst case and debits', () => {
  const resolution = (rates: Record<string, string>) => ({ price: price(rates) }) as unknown as Resolution;

  it('a reasoning rate below the output rate: the worst case prices every output token at the output rate', () => {
    const quote = quoteWorstCase({
      resolution: resolution({ input: '0.000001', output: '0.00001', reasoning: '0.000002' }),
      promptTokens: 10,
      maxOutputTokens: 100,
      markup: undefined,
      mode: 'consumption_usd',
      jobPrice: undefined,
    });
    expect([quote.usage.output.text, quote.usage.output.reasoning]).toEqual([100, 0]);
    expect(quote.debit.amount.toString()).toBe('0.00101');
  });

  it('a job_based account without a job price says how to set one; an unknown mode is refused', () => {
    const input = {
      breakdown: priceUsage(emptyUsage(), price({ input: '1', output: '1' })),
      usage: emptyUsage(),
      jobPrice: undefined,
    };
    expect(() => debitFor('job_based', input)).toThrow(MissingJobPriceError);
    expect(() => debitFor('job_based', input)).toThrow(
      'the account uses the job_based budget mode but has no job price; set accounts.job_price ' +
        '(tollgate accounts update <account> --job-price <usd>) or switch the account to consumption_usd',
    );
    try {
      debitFor('job_based', input);
    } catch (error) {
      expect((error as Error).name).toBe('MissingJobPriceError');
    }
    expect(() => debitFor('per_call' as never, input)).toThrow('unknown budget mode "per_call"');
  });
});

describe('usage builders on partial and odd objects', () => {
  it('an empty usage is not estimated, and counts every input kind', () => {
    const usage = emptyUsage();
    expect(usage.estimated).toBe(false);
    usage.input.cacheWrite1h = 5;
    usage.input.audio = 7;
    expect(totalInputTokens(usage)).toBe(12);
  });

  it('usageFromTotals refuses more cached and cache-write tokens than input, but allows exactly as many', () => {
    expect(usageFromTotals({ input: 10, output: 0, cached: 6, cacheWrite: 4 }).input.uncached).toBe(0);
    expect(() => usageFromTotals({ input: 10, output: 0, cached: 6, cacheWrite: 5 })).toThrow(
      'cached (6) plus cache-write (5) tokens exceed the input tokens (10)',
    );
    expect(() => usageFromTotals({ input: 10, output: 2, reasoning: 3 })).toThrow(
      'reasoning tokens (3) exceed the output tokens (2)',
    );
  });

  it('OpenAI: no usage object or no counts is no usage; one count alone is usage; counts must be whole and not negative', () => {
    expect(usageFromOpenAI('12')).toBeUndefined();
    expect(usageFromOpenAI(null)).toBeUndefined();
    expect(usageFromOpenAI({ total_tokens: 5 })).toBeUndefined();
    expect(usageFromOpenAI({ prompt_tokens: 5 })?.input.uncached).toBe(5);
    expect(usageFromOpenAI({ completion_tokens: 5 })?.output.text).toBe(5);
    expect(usageFromOpenAI({ prompt_tokens: 5.5, completion_tokens: -1 })).toBeUndefined();
  });

  it('OpenAI: reasoning outside completion_tokens only when total_tokens says so; audio output is not text', () => {
    // xAI: 12 + 2 + 320 = 334.
    expect(
      usageFromOpenAI({
        prompt_tokens: 12,
        completion_tokens: 2,
        total_tokens: 334,
        completion_tokens_details: { reasoning_tokens: 320 },
      })?.output,
    ).toEqual({ text: 2, reasoning: 320, audio: 0 });
    // OpenAI: reasoning inside, 7 + 87 = 94.
    expect(
      usageFromOpenAI({
        prompt_tokens: 7,
        completion_tokens: 87,
        total_tokens: 94,
        completion_tokens_details: { reasoning_tokens: 64 },
      })?.output,
    ).toEqual({ text: 23, reasoning: 64, audio: 0 });
    // No total: reasoning is inside.
    expect(usageFromOpenAI({ completion_tokens: 10, completion_tokens_details: { reasoning_tokens: 4 } })?.output.text).toBe(6);
    // Only completion and reasoning, the total covering both outside: prompt counts as 0.
    expect(
      usageFromOpenAI({ completion_tokens: 3, total_tokens: 7, completion_tokens_details: { reasoning_tokens: 4 } })?.output.text,
    ).toBe(3);
    expect(
      usageFromOpenAI({ prompt_tokens: 5, total_tokens: 9, completion_tokens_details: { reasoning_tokens: 4 } })?.output,
    ).toEqual({
      text: 0,
      reasoning: 4,
      audio: 0,
    });
    expect(
      usageFromOpenAI({ prompt_tokens: 1, completion_tokens: 10, completion_tokens_details: { audio_tokens: 4 } })?.output,
    ).toEqual({ text: 6, reasoning: 0, audio: 4 });
  });

  it('Anthropic: no object or no counts is no usage; one count alone is usage', () => {
    expect(usageFromAnthropic(null)).toBeUndefined();
    expect(usageFromAnthropic({ cache_read_input_tokens: 3 })).toBeUndefined();
    expect(usageFromAnthropic({ input_tokens: 4 })?.input.uncached).toBe(4);
    expect(usageFromAnthropic({ output_tokens: 4 })?.output.text).toBe(4);
  });

  it('Gemini: no object or no counts is no usage; any count alone is usage; audio is counted by modality', () => {
    expect(usageFromGemini([])).toBeUndefined();
    expect(usageFromGemini(null)).toBeUndefined();
    expect(usageFromGemini({ cachedContentTokenCount: 3 })).toBeUndefined();
    expect(usageFromGemini({ promptTokenCount: 4 })?.input.uncached).toBe(4);
    expect(usageFromGemini({ candidatesTokenCount: 4 })?.output.text).toBe(4);
    expect(usageFromGemini({ totalTokenCount: 4 })).toBeDefined();
    const audio = usageFromGemini({
      promptTokenCount: 100,
      cachedContentTokenCount: 30,
      candidatesTokenCount: 50,
      promptTokensDetails: [
        { modality: 'TEXT', tokenCount: 60 },
        { modality: 'AUDIO', tokenCount: 40 },
      ],
      cacheTokensDetails: [{ modality: 'AUDIO', tokenCount: 10 }],
      candidatesTokensDetails: [
        { modality: 'AUDIO', tokenCount: 20 },
        { modality: 'TEXT', tokenCount: 30 },
      ],
    })!;
    expect(audio.input).toEqual({ uncached: 40, cacheRead: 30, cacheWrite: 0, cacheWrite1h: 0, audio: 30 });
    expect(audio.output).toEqual({ text: 30, reasoning: 0, audio: 20 });
    // A cache larger than the prompt (an inconsistent report) leaves nothing negative.
    expect(usageFromGemini({ promptTokenCount: 5, cachedContentTokenCount: 9 })?.input.uncached).toBe(0);
  });
});
