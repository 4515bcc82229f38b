import { openAICompatible, usageWithCacheHitsAt } from '../openai-compatible/openai-compatible-adapter.js';

/**
 * Moonshot (Kimi) reports automatic context-cache hits as a top-level `usage.cached_tokens`, part of
 * prompt_tokens (platform.moonshot.ai docs, "Context caching").
 */
export const createMoonshotAdapter = openAICompatible({
  id: 'moonshot',
  defaultBaseUrl: 'https://api.moonshot.ai/v1',
  readUsage: usageWithCacheHitsAt('cached_tokens'),
});
