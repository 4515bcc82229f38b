import { openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/**
 * Nosana runs each model as its own deployment on the Nosana network, each with its own OpenAI-compatible
 * URL (a vLLM or Ollama server): there is no one public endpoint, so NOSANA_BASE_URL must be configured.
 */
export const createNosanaAdapter = openAICompatible({ id: 'nosana', defaultBaseUrl: undefined });
