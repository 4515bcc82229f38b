import { openAICompatible, usageWithCacheHitsAt } from '../openai-compatible/openai-compatible-adapter.js';

/**
 * DeepSeek reports context-cache hits as `usage.prompt_cache_hit_tokens` (part of prompt_tokens) rather than
 * OpenAI's `prompt_tokens_details.cached_tokens` (api-docs.deepseek.com/guides/kv_cache).
 */
export const createDeepSeekAdapter = openAICompatible({
  id: 'deepseek',
  defaultBaseUrl: 'https://api.deepseek.com/v1',
  readUsage: usageWithCacheHitsAt('prompt_cache_hit_tokens'),
});
