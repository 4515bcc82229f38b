import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { toPerUnit } from '../money/units.js';
import { priceUsage } from './cost.js';
import type { ModelPrice, NormalizedUsage, PriceRates } from './types.js';
import {
  otherModelTokens,
  totalInputTokens,
  totalOutputTokens,
  usageFromAnthropic,
  usageFromGemini,
  usageFromOpenAI,
  usageFromTotals,
} from './usage.js';

/** The usage object of a recorded real response (fixtures/provider-responses, see its SOURCES.md). */
function recorded(file: string): unknown {
  const body = JSON.parse(readFileSync(new URL(`../../fixtures/provider-responses/${file}`, import.meta.url), 'utf8'));
  return body.usage ?? body.usageMetadata;
}

let genaiCases: Array<{ body: { file: string; usage?: Record<string, unknown> } }> | undefined;

/**
 * The usage object of a real response in genai-prices' usages.json (fixtures/genai-prices, see its SOURCES.md):
 * the one recorded in `cassette` with `promptTokens` prompt tokens.
 */
function genaiRecorded(cassette: string, promptTokens: number): Record<string, unknown> {
  genaiCases ??= JSON.parse(readFileSync(new URL('../../fixtures/genai-prices/usages-priced.json', import.meta.url), 'utf8'));
  const found = genaiCases!.find(
    (entry) => entry.body.file.endsWith(cassette) && entry.body.usage?.prompt_tokens === promptTokens,
  );
  if (!found?.body.usage) throw new Error(`no body of ${cassette} with ${promptTokens} prompt tokens in usages-priced.json`);
  return found.body.usage;
}

/** A price from USD-per-1M rates, as pricing pages and genai-prices' data.json quote them. */
function perMillion(rates: { input: string; output: string; cacheRead?: string }): ModelPrice {
  const perToken = (value: string) => toPerUnit(Decimal.parse(value), 'usd-per-1m');
  const converted: PriceRates = { input: perToken(rates.input), output: perToken(rates.output) };
  if (rates.cacheRead) converted.cacheRead = perToken(rates.cacheRead);
  return {
    version: undefined,
    modelId: 'test-model',
    rates: converted,
    tiers: [],
    effectiveFrom: undefined,
    effectiveUntil: undefined,
    source: 'test',
  };
}

/** The exact cost of a usage at a price, as text. */
function costOf(usage: NormalizedUsage | undefined, price: ModelPrice): string {
  expect(usage).toBeDefined();
  return priceUsage(usage!, price).providerCost.toString();
}

/** The disjoint counts, without the raw object, to compare with known values. */
function counts(usage: NormalizedUsage | undefined) {
  expect(usage).toBeDefined();
  return { input: usage!.input, output: usage!.output };
}

const input = (values: Partial<NormalizedUsage['input']>) => ({
  uncached: 0,
  cacheRead: 0,
  cacheWrite: 0,
  cacheWrite1h: 0,
  audio: 0,
  ...values,
});
const output = (values: Partial<NormalizedUsage['output']>) => ({ text: 0, reasoning: 0, audio: 0, ...values });

describe('usageFromOpenAI: prompt_tokens include cached_tokens; completion_tokens include reasoning_tokens', () => {
  it('splits a prompt-cache hit out of prompt_tokens (openai-chat-prompt-cache-hit)', () => {
    const usage = usageFromOpenAI(recorded('openai/openai-chat-prompt-cache-hit.json'));
    expect(counts(usage)).toEqual({ input: input({ uncached: 8, cacheRead: 4012 }), output: output({ text: 4 }) });
    expect(totalInputTokens(usage!)).toBe(4020); // prompt_tokens: nothing counted twice
  });

  it('splits a cache write out of prompt_tokens (openai-chat-prompt-cache-write)', () => {
    const usage = usageFromOpenAI(recorded('openai/openai-chat-prompt-cache-write.json'));
    expect(counts(usage)).toEqual({ input: input({ uncached: 8, cacheWrite: 4012 }), output: output({ text: 4 }) });
  });

  it('keeps reasoning tokens inside completion_tokens (openai-chat-reasoning: 7 + 87 = 94 total)', () => {
    const usage = usageFromOpenAI(recorded('openai/openai-chat-reasoning.json'));
    expect(counts(usage)).toEqual({ input: input({ uncached: 7 }), output: output({ text: 23, reasoning: 64 }) });
    expect(totalOutputTokens(usage!)).toBe(87);
  });

  it('reads the Responses API names (input_tokens, output_tokens_details)', () => {
    const usage = usageFromOpenAI({
      input_tokens: 4020,
      input_tokens_details: { cached_tokens: 4012 },
      output_tokens: 50,
      output_tokens_details: { reasoning_tokens: 30 },
    });
    expect(counts(usage)).toEqual({
      input: input({ uncached: 8, cacheRead: 4012 }),
      output: output({ text: 20, reasoning: 30 }),
    });
  });

  it('has no usage when the body has none or its counts are not whole numbers', () => {
    expect(usageFromOpenAI(undefined)).toBeUndefined();
    expect(usageFromOpenAI({ total_tokens: 5 })).toBeUndefined();
    expect(usageFromOpenAI({ prompt_tokens: -3, completion_tokens: 1.5 })).toBeUndefined();
  });

  it('trusts no usage with a total that is not a count (a wrong zero would under-bill); null is not reported', () => {
    for (const bad of [-50, '363', 12.5, 2 ** 53, true, {}]) {
      expect(usageFromOpenAI({ prompt_tokens: 16, completion_tokens: bad }), String(bad)).toBeUndefined();
      expect(usageFromOpenAI({ prompt_tokens: bad, completion_tokens: 5 }), String(bad)).toBeUndefined();
      expect(usageFromOpenAI({ input_tokens: 16, output_tokens: bad }), String(bad)).toBeUndefined();
      expect(usageFromOpenAI({ prompt_tokens: 16, completion_tokens: 5, total_tokens: bad }), String(bad)).toBeUndefined();
      expect(usageFromAnthropic({ input_tokens: 16, output_tokens: bad }), String(bad)).toBeUndefined();
      expect(
        usageFromAnthropic({ input_tokens: 16, output_tokens: 5, cache_read_input_tokens: bad }),
        String(bad),
      ).toBeUndefined();
      expect(
        usageFromAnthropic({ input_tokens: 16, output_tokens: 5, cache_creation_input_tokens: bad }),
        String(bad),
      ).toBeUndefined();
      expect(usageFromGemini({ promptTokenCount: 16, candidatesTokenCount: bad }), String(bad)).toBeUndefined();
      expect(
        usageFromGemini({ promptTokenCount: 16, candidatesTokenCount: 5, thoughtsTokenCount: bad }),
        String(bad),
      ).toBeUndefined();
      expect(usageFromGemini({ promptTokenCount: 16, toolUsePromptTokenCount: bad }), String(bad)).toBeUndefined();
      expect(usageFromGemini({ totalTokenCount: bad, candidatesTokenCount: 1 }), String(bad)).toBeUndefined();
      // A malformed part of a total is ignored: the whole is billed at its own rate.
      expect(
        counts(usageFromOpenAI({ prompt_tokens: 16, completion_tokens: 5, prompt_tokens_details: { cached_tokens: bad } })!),
      ).toEqual({
        input: input({ uncached: 16 }),
        output: output({ text: 5 }),
      });
      expect(usageFromGemini({ promptTokenCount: 16, cachedContentTokenCount: bad })?.input.uncached).toBe(16);
    }
    // JSON null: not reported (Anthropic's message_delta and some servers send nulls for counts they leave out).
    expect(counts(usageFromOpenAI({ prompt_tokens: 16, completion_tokens: null })!)).toEqual({
      input: input({ uncached: 16 }),
      output: output({}),
    });
    expect(usageFromAnthropic({ input_tokens: null, output_tokens: 7, cache_read_input_tokens: null })?.output.text).toBe(7);
  });

  it('bills parts larger than their whole as reported, and says which do not add up (the anomaly check names it)', () => {
    const usage = usageFromOpenAI({
      prompt_tokens: 100,
      completion_tokens: 10,
      prompt_tokens_details: { cached_tokens: 90, cache_write_tokens: 8, audio_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: 7, audio_tokens: 4 },
    })!;
    expect(counts(usage)).toEqual({
      input: input({ uncached: 0, cacheRead: 90, cacheWrite: 8, audio: 3 }),
      output: output({ text: 0, reasoning: 7, audio: 4 }),
    });
    expect(usage.mismatch).toEqual([
      'cached (90), cache-write (8) and audio (3) tokens exceed the 100 prompt tokens they are part of',
      'reasoning (7) and audio (4) tokens exceed the 10 completion tokens they are part of',
    ]);
    // DeepSeek's hits beyond the prompt; parts that fill their whole exactly add up.
    expect(usageFromOpenAI({ prompt_tokens: 100, completion_tokens: 5, prompt_cache_hit_tokens: 150 })!.mismatch).toEqual([
      'cached (150), cache-write (0) and audio (0) tokens exceed the 100 prompt tokens they are part of',
    ]);
    const exact = usageFromOpenAI({
      prompt_tokens: 101,
      completion_tokens: 11,
      prompt_tokens_details: { cached_tokens: 90, cache_write_tokens: 8, audio_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: 7, audio_tokens: 4 },
    })!;
    expect(exact).not.toHaveProperty('mismatch');
    expect(counts(exact)).toEqual({
      input: input({ uncached: 0, cacheRead: 90, cacheWrite: 8, audio: 3 }),
      output: output({ text: 0, reasoning: 7, audio: 4 }),
    });
    // xAI's reasoning outside completion_tokens (total = prompt + completion + reasoning) is no mismatch, and a
    // count the provider left out is no whole to exceed.
    expect(
      usageFromOpenAI({
        prompt_tokens: 12,
        completion_tokens: 2,
        total_tokens: 334,
        completion_tokens_details: { reasoning_tokens: 320 },
      }),
    ).not.toHaveProperty('mismatch');
    expect(usageFromOpenAI({ completion_tokens: 2, prompt_tokens_details: { cached_tokens: 5 } })).not.toHaveProperty('mismatch');
    expect(usageFromOpenAI({ prompt_tokens: 2, completion_tokens_details: { reasoning_tokens: 5 } })).not.toHaveProperty(
      'mismatch',
    );
  });
});

describe("usageFromOpenAI: OpenAI-compatible providers' own cache-read fields, all inside prompt_tokens", () => {
  // deepseek-v4-flash in genai-prices' data.json: $0.14 input, $0.0028 cache hit, $0.28 output per 1M.
  const deepseekV4Flash = perMillion({ input: '0.14', cacheRead: '0.0028', output: '0.28' });
  const deepseekBody = () => genaiRecorded('test_deepseek_deferred_capability_with_thinking.yaml', 563);

  it('DeepSeek: prompt_cache_hit_tokens, counted once beside prompt_tokens_details, or alone', () => {
    const recorded = deepseekBody();
    expect(recorded).toMatchObject({
      prompt_cache_hit_tokens: 512,
      prompt_cache_miss_tokens: 51,
      prompt_tokens_details: { cached_tokens: 512 },
    });
    // DeepSeek's API reference lists prompt_cache_hit/miss_tokens and no prompt_tokens_details.
    const { prompt_tokens_details: _details, ...documented } = recorded;
    for (const raw of [recorded, documented]) {
      const usage = usageFromOpenAI(raw);
      expect(counts(usage)).toEqual({
        input: input({ uncached: 51, cacheRead: 512 }),
        output: output({ text: 56, reasoning: 60 }),
      });
      // genai-prices' own result for the recorded body: input 0.0000085736 + output 0.00003248.
      expect(costOf(usage, deepseekV4Flash)).toBe('0.0000410536');
    }
  });

  it('Mistral: num_cached_tokens, priced at the cache rate (mistral-medium-latest, 32 of 273 prompt tokens)', () => {
    const raw = genaiRecorded('test_multimodal_tool_return_matrix[direct-url-image-mistral].yaml', 273);
    expect(raw).toEqual({ completion_tokens: 104, num_cached_tokens: 32, prompt_tokens: 273, total_tokens: 377 });
    const usage = usageFromOpenAI(raw);
    expect(counts(usage)).toEqual({ input: input({ uncached: 241, cacheRead: 32 }), output: output({ text: 104 }) });
    // mistral-medium-3.1: $0.40 input, $2 output per 1M, cached prompt tokens at 10% of input (Mistral's
    // prompt-caching page; genai-prices lists $0.04): 241 x 0.4 + 32 x 0.04 + 104 x 2, per 1M.
    expect(costOf(usage, perMillion({ input: '0.4', cacheRead: '0.04', output: '2' }))).toBe('0.00030568');
    // Without a cache rate the hits cost the input rate: genai-prices' 0.0001092 + 0.000208 for mistral-medium-3.
    expect(costOf(usage, perMillion({ input: '0.4', output: '2' }))).toBe('0.0003172');
  });

  it('Together: a top-level cached_tokens (deepseek-ai/DeepSeek-R1 through Hugging Face)', () => {
    const raw = genaiRecorded('test_huggingface/test_simple_completion.yaml', 4);
    expect(raw).toEqual({ cached_tokens: 0, completion_tokens: 197, prompt_tokens: 4, total_tokens: 201 });
    // DeepSeek-R1 on Together in genai-prices' data.json: $3 input, $7 output per 1M; its result 0.000012 + 0.001379.
    const together = perMillion({ input: '3', output: '7' });
    expect(costOf(usageFromOpenAI(raw), together)).toBe('0.001391');
    // Every recorded count is 0; the same body with 2 of its 4 prompt tokens from the cache, at a $0.30 cache rate.
    const hit = usageFromOpenAI({ ...raw, cached_tokens: 2 });
    expect(counts(hit)).toEqual({ input: input({ uncached: 2, cacheRead: 2 }), output: output({ text: 197 }) });
    expect(costOf(hit, perMillion({ input: '3', cacheRead: '0.3', output: '7' }))).toBe('0.0013856');
  });
});

describe('usageFromAnthropic: input_tokens exclude cache reads and cache creation', () => {
  it('adds cache reads and writes beside input_tokens (anthropic-cache-read-write)', () => {
    const usage = usageFromAnthropic(recorded('anthropic/anthropic-cache-read-write.json'));
    expect(counts(usage)).toEqual({
      input: input({ uncached: 3, cacheRead: 1111, cacheWrite: 418 }),
      output: output({ text: 33 }),
    });
    expect(totalInputTokens(usage!)).toBe(3 + 1111 + 418);
  });

  it('splits 1-hour cache writes from 5-minute ones (cache_creation.ephemeral_1h_input_tokens)', () => {
    const usage = usageFromAnthropic({
      input_tokens: 10,
      output_tokens: 5,
      cache_creation_input_tokens: 300,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 200 },
    });
    expect(counts(usage)).toEqual({
      input: input({ uncached: 10, cacheWrite: 100, cacheWrite1h: 200 }),
      output: output({ text: 5 }),
    });
  });

  it('counts thinking inside output_tokens (anthropic-thinking)', () => {
    expect(counts(usageFromAnthropic(recorded('anthropic/anthropic-thinking.json')))).toEqual({
      input: input({ uncached: 69 }),
      output: output({ text: 33 }),
    });
  });

  it('adds a compaction step, which the top-level counts leave out, and says what one step read and wrote', () => {
    // A real body (genai-prices' usages.json, test_anthropic_compaction_usage_with_cache): the summary step read 100
    // tokens and wrote 55,096 to the cache, writing 82; the answer's step read 180 and wrote 8 (the top level).
    const raw = genaiCompaction('test_anthropic_compaction_usage_with_cache.yaml');
    expect(raw).toMatchObject({ input_tokens: 180, output_tokens: 8, cache_creation_input_tokens: 0 });
    const usage = usageFromAnthropic(raw)!;
    expect(counts(usage)).toEqual({
      input: input({ uncached: 280, cacheWrite: 55_096 }),
      output: output({ text: 90 }),
    });
    expect(usage.steps).toEqual({ largestInput: 100 + 55_096, answerOutput: 8 });
    expect(usage.raw).toBe(raw);
  });

  it("leaves message steps to the top-level counts and keeps the advisor step apart, as its own model's", () => {
    // test_anthropic_advisor_tool: the top level is the two message steps' sums (1,128 + 1,262 read, 110 + 11
    // written); the advisor's step (claude-opus-4-8: 2,518 read, 22 written) is in none of them, billed too.
    const advisor = genaiCompaction('test_anthropic_advisor_tool.yaml');
    const usage = usageFromAnthropic(advisor)!;
    expect(counts(usage)).toEqual({ input: input({ uncached: 2390 }), output: output({ text: 121 }) });
    expect(usage.steps).toBeUndefined();
    expect(usage.otherModels).toHaveLength(1);
    expect(usage.otherModels![0]!.model).toBe('claude-opus-4-8');
    expect(counts(usage.otherModels![0]!.usage)).toEqual({ input: input({ uncached: 2518 }), output: output({ text: 22 }) });
    expect(usage.otherModels![0]!.usage.steps).toBeUndefined();
    expect(usage.raw).toBe(advisor);
    expect(
      usageFromAnthropic({ input_tokens: 5, output_tokens: 1, iterations: [{ type: 'message', input_tokens: 5 }] })!.steps,
    ).toBeUndefined();
    // A compaction step with 1-hour cache writes and reads, and entries that are not steps.
    const split = usageFromAnthropic({
      input_tokens: 10,
      output_tokens: 2,
      iterations: [
        null,
        {
          type: 'compaction',
          input_tokens: 4,
          cache_read_input_tokens: 6,
          cache_creation_input_tokens: 30,
          cache_creation: { ephemeral_1h_input_tokens: 20 },
          output_tokens: 3,
        },
      ],
    })!;
    expect(counts(split)).toEqual({
      input: input({ uncached: 14, cacheRead: 6, cacheWrite: 10, cacheWrite1h: 20 }),
      output: output({ text: 5 }),
    });
    expect(split.steps).toEqual({ largestInput: 40, answerOutput: 2 });
    // Two compaction steps: the larger one's input (a summary of 50 after one of 30, beside an answer of 10).
    const twice = usageFromAnthropic({
      input_tokens: 10,
      output_tokens: 1,
      iterations: [
        { type: 'compaction', input_tokens: 30, output_tokens: 0 },
        { type: 'compaction', input_tokens: 50 },
        { type: 'message', input_tokens: 10, output_tokens: 1 },
      ],
    })!;
    expect(counts(twice)).toEqual({ input: input({ uncached: 90 }), output: output({ text: 1 }) });
    expect(twice.steps).toEqual({ largestInput: 50, answerOutput: 1 });
    expect(twice.otherModels).toBeUndefined();
  });

  it('sums the advisor steps of one model, cache reads and writes apart, and keeps two models apart in order', () => {
    const usage = usageFromAnthropic({
      input_tokens: 30,
      output_tokens: 4,
      iterations: [
        { type: 'message', input_tokens: 10, output_tokens: 1 },
        {
          type: 'advisor_message',
          model: 'claude-opus-4-8',
          input_tokens: 100,
          cache_read_input_tokens: 900,
          cache_creation_input_tokens: 50,
          cache_creation: { ephemeral_1h_input_tokens: 20 },
          output_tokens: 7,
        },
        { type: 'message', input_tokens: 20, output_tokens: 3 },
        { type: 'advisor_message', model: 'claude-fable-5', input_tokens: 40, output_tokens: 2 },
        { type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 1_200, output_tokens: 5 },
        // A step without its model's name is priced as an unknown model's, never dropped.
        { type: 'advisor_message', input_tokens: 3, output_tokens: 1 },
      ],
    })!;
    expect(counts(usage)).toEqual({ input: input({ uncached: 30 }), output: output({ text: 4 }) });
    expect(usage.otherModels!.map((other) => other.model)).toEqual(['claude-opus-4-8', 'claude-fable-5', 'unknown']);
    const [opus, fable, unknown] = usage.otherModels!.map((other) => other.usage);
    expect(counts(opus)).toEqual({
      input: input({ uncached: 1_300, cacheRead: 900, cacheWrite: 30, cacheWrite1h: 20 }),
      output: output({ text: 12 }),
    });
    // Two steps: the larger one's input picks the advisor's context tier (100 + 900 + 50 before 1,200).
    expect(opus!.steps).toEqual({ largestInput: 1_200, answerOutput: 7 });
    expect(counts(fable)).toEqual({ input: input({ uncached: 40 }), output: output({ text: 2 }) });
    expect(fable!.steps).toBeUndefined();
    expect(counts(unknown)).toEqual({ input: input({ uncached: 3 }), output: output({ text: 1 }) });
    expect(otherModelTokens(usage)).toBe(2_262 + 42 + 4);
    expect(otherModelTokens(usageFromAnthropic({ input_tokens: 5, output_tokens: 1 })!)).toBe(0);
  });
});

/** The usage of the first real Anthropic body of `cassette` in genai-prices' usages.json whose usage has iterations. */
function genaiCompaction(cassette: string): Record<string, unknown> {
  genaiCases ??= JSON.parse(readFileSync(new URL('../../fixtures/genai-prices/usages-priced.json', import.meta.url), 'utf8'));
  const found = genaiCases!.find((entry) => entry.body.file.endsWith(cassette) && Array.isArray(entry.body.usage?.iterations));
  if (!found?.body.usage) throw new Error(`no body of ${cassette} with iterations in usages-priced.json`);
  return found.body.usage;
}

describe('usageFromGemini: promptTokenCount includes cached content; candidates exclude thoughts', () => {
  it('splits explicit cache and thoughts (gemini-explicit-cache: 3520 + 2 + 42 = 3564 total)', () => {
    const usage = usageFromGemini(recorded('google/gemini-explicit-cache.json'));
    expect(counts(usage)).toEqual({ input: input({ uncached: 8, cacheRead: 3512 }), output: output({ text: 2, reasoning: 42 }) });
    expect(totalInputTokens(usage!) + totalOutputTokens(usage!)).toBe(3564);
  });

  it('splits an implicit cache hit (gemini-implicit-cache)', () => {
    expect(counts(usageFromGemini(recorded('google/gemini-implicit-cache.json')))).toEqual({
      input: input({ uncached: 115, cacheRead: 230 }),
      output: output({ text: 37 }),
    });
  });

  it('prices thoughts as reasoning output (google-tool-call: 29 + 15 + 893 = 937 total)', () => {
    const usage = usageFromGemini(recorded('google/google-tool-call.json'));
    expect(counts(usage)).toEqual({ input: input({ uncached: 29 }), output: output({ text: 15, reasoning: 893 }) });
  });
});

describe('usageFromTotals (the tollgate cost flags)', () => {
  it('takes OpenAI-style totals and refuses parts larger than the whole', () => {
    expect(counts(usageFromTotals({ input: 100, output: 50, cached: 30, cacheWrite: 20, reasoning: 10 }))).toEqual({
      input: input({ uncached: 50, cacheRead: 30, cacheWrite: 20 }),
      output: output({ text: 40, reasoning: 10 }),
    });
    expect(() => usageFromTotals({ input: 10, output: 0, cached: 11 })).toThrow(RangeError);
    expect(() => usageFromTotals({ input: 10, output: 1, reasoning: 2 })).toThrow(RangeError);
  });
});
