import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Nscale serverless inference, OpenAI-compatible (docs.nscale.com/docs/inference/serverless). */
export const createNscaleAdapter = openAICompatible({ id: 'nscale', defaultBaseUrl: 'https://inference.api.nscale.com/v1' });
