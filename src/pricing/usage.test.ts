import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedUsage } from './types.js';
import {
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
});

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
