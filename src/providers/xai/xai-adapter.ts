import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** xAI (Grok). Its completion_tokens exclude reasoning tokens (recorded xai-text.json: total = prompt + completion + reasoning); usageFromOpenAI detects that from total_tokens. */
export const createXaiAdapter = openAICompatible({
  id: 'xai',
  defaultBaseUrl: 'https://api.x.ai/v1',
  // xAI serves the Responses API (docs.x.ai/docs/guides/responses-api).
  responses: true,
});
