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
});
