import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** DeepInfra's OpenAI-compatible endpoint (deepinfra.com/docs/openai_api). */
export const createDeepInfraAdapter = openAICompatible({
  id: 'deepinfra',
  defaultBaseUrl: 'https://api.deepinfra.com/v1/openai',
});
