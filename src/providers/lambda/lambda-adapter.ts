import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Lambda Inference API, OpenAI-compatible (docs.lambda.ai; formerly api.lambdalabs.com). */
export const createLambdaAdapter = openAICompatible({ id: 'lambda', defaultBaseUrl: 'https://api.lambda.ai/v1' });
