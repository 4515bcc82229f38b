import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/**
 * OpenRouter. The attribution headers are optional (openrouter.ai/docs/api-reference/overview, "Headers");
 * its usage follows OpenAI's shape with `prompt_tokens_details.cached_tokens` and adds `cost`, kept in raw.
 */
export const createOpenRouterAdapter = openAICompatible({
  id: 'openrouter',
  defaultBaseUrl: 'https://openrouter.ai/api/v1',
  extraHeaders: { 'x-title': 'tollgate' },
  // OpenRouter serves the Responses API (openrouter.ai/docs/api-reference/responses-api/overview).
  responses: true,
});
