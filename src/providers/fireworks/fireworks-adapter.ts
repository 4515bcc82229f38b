import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/** Fireworks AI's OpenAI-compatible API (docs.fireworks.ai, "OpenAI compatibility"). */
export const createFireworksAdapter = openAICompatible({
  id: 'fireworks',
  defaultBaseUrl: 'https://api.fireworks.ai/inference/v1',
});
