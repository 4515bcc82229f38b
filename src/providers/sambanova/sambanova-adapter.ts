import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** SambaNova Cloud's OpenAI-compatible API (docs.sambanova.ai). */
export const createSambaNovaAdapter = openAICompatible({ id: 'sambanova', defaultBaseUrl: 'https://api.sambanova.ai/v1' });
