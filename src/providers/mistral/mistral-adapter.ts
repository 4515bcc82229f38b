import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Mistral's chat completions follow OpenAI's shape, usage included in the last stream chunk (docs.mistral.ai). */
export const createMistralAdapter = openAICompatible({ id: 'mistral', defaultBaseUrl: 'https://api.mistral.ai/v1' });
