import type { UpstreamHttpClient } from '../http-client.js';
import { OpenAICompatibleAdapter } from '../openai-compatible/openai-compatible-adapter.js';
import type { ProviderAdapter } from '../types.js';

/**
 * OpenAI itself: the shared base, with the Responses API served natively. Reasoning models refuse `max_tokens` ("Use 'max_completion_tokens'
 * instead", recorded 400): the request passes through untouched, so that error reaches the client as a 400
 * naming the parameter rather than being silently rewritten.
 */
export function createOpenAIAdapter(http: UpstreamHttpClient): ProviderAdapter {
  return new OpenAICompatibleAdapter(http, { id: 'openai', defaultBaseUrl: 'https://api.openai.com/v1', responses: true });
}
