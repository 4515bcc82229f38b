import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Cerebras Inference's OpenAI-compatible API (inference-docs.cerebras.ai). */
export const createCerebrasAdapter = openAICompatible({ id: 'cerebras', defaultBaseUrl: 'https://api.cerebras.ai/v1' });
