import { describe, expect, it } from 'vitest';
import { usageWithCacheHitsAt } from './openai-compatible-adapter.js';

/**
 * Gateways that report cache hits outside `prompt_tokens_details`. No recordings exist for these (see
 * fixtures/provider-responses/SOURCES.md); the usage objects follow the field names of each provider's docs.
 */
describe('usageWithCacheHitsAt', () => {
  it('DeepSeek prompt_cache_hit_tokens become cache reads inside prompt_tokens', () => {
    const usage = usageWithCacheHitsAt('prompt_cache_hit_tokens')({
      prompt_tokens: 1000,
      completion_tokens: 50,
      total_tokens: 1050,
      prompt_cache_hit_tokens: 800,
      prompt_cache_miss_tokens: 200,
    });
    expect(usage?.input).toMatchObject({ uncached: 200, cacheRead: 800 });
    expect(usage?.output.text).toBe(50);
  });

  it('Moonshot top-level cached_tokens become cache reads; a usage with details keeps them', () => {
    const moonshot = usageWithCacheHitsAt('cached_tokens');
    expect(moonshot({ prompt_tokens: 300, completion_tokens: 5, total_tokens: 305, cached_tokens: 256 })?.input).toMatchObject({
      uncached: 44,
      cacheRead: 256,
    });
    const withDetails = moonshot({
      prompt_tokens: 300,
      completion_tokens: 5,
      prompt_tokens_details: { cached_tokens: 100 },
      cached_tokens: 256,
    });
    expect(withDetails?.input).toMatchObject({ uncached: 200, cacheRead: 100 });
  });

  it('moves hits when the details say 0 cached, never more than the uncached tokens, nothing for a count that is not a positive whole number', () => {
    const deepseek = usageWithCacheHitsAt('prompt_cache_hit_tokens');
    // `prompt_tokens_details.cached_tokens: 0` beside the top-level field: OpenAI's reader takes the 0.
    const usage = (hits: unknown, details: Record<string, unknown> = { cached_tokens: 0 }) =>
      deepseek({ prompt_tokens: 100, completion_tokens: 1, prompt_tokens_details: details, prompt_cache_hit_tokens: hits })
        ?.input;
    expect(usage(80)).toMatchObject({ uncached: 20, cacheRead: 80 });
    expect(usage(1)).toMatchObject({ uncached: 99, cacheRead: 1 });
    // Hits cannot take more than what is left uncached (the last: 100 prompt tokens of which 30 were cache writes).
    expect(usage(100)).toMatchObject({ uncached: 0, cacheRead: 100 });
    expect(usage(150)).toMatchObject({ uncached: 0, cacheRead: 100 });
    expect(usage(90, { cached_tokens: 0, cache_write_tokens: 30 })).toMatchObject({ uncached: 0, cacheRead: 70, cacheWrite: 30 });
    for (const hits of [0, -5, 2.5, '80', null, 2 ** 53]) expect(usage(hits)).toMatchObject({ uncached: 100, cacheRead: 0 });
    // No usage object, or no counts in it, is no usage.
    expect(deepseek(undefined)).toBeUndefined();
    expect(deepseek('usage')).toBeUndefined();
    expect(deepseek({ prompt_cache_hit_tokens: 5 })).toBeUndefined();
  });
});
