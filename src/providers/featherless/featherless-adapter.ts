import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Featherless serves open models behind the OpenAI API (featherless.ai/docs). */
export const createFeatherlessAdapter = openAICompatible({ id: 'featherless', defaultBaseUrl: 'https://api.featherless.ai/v1' });
