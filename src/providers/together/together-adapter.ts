import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Together AI's OpenAI-compatible API (docs.together.ai/docs/openai-api-compatibility). */
export const createTogetherAdapter = openAICompatible({ id: 'together', defaultBaseUrl: 'https://api.together.xyz/v1' });
