import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Perplexity serves /chat/completions at the root, without a version path (docs.perplexity.ai). */
export const createPerplexityAdapter = openAICompatible({ id: 'perplexity', defaultBaseUrl: 'https://api.perplexity.ai' });
