import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Hyperbolic's OpenAI-compatible API (docs.hyperbolic.xyz). */
export const createHyperbolicAdapter = openAICompatible({ id: 'hyperbolic', defaultBaseUrl: 'https://api.hyperbolic.xyz/v1' });
