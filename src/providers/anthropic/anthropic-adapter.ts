import type { UpstreamHttpClient, UpstreamPost } from '../http-client.js';
import { parseJsonEvents } from '../sse.js';
import {
  UpstreamError,
  type ChatCompletionRequest,
  type CompletionResult,
  type ProviderAdapter,
  type StreamEvent,
  type UpstreamTarget,
} from '../types.js';
import { toAnthropicRequest } from './anthropic-request.js';
import { AnthropicStreamTranslator, fromAnthropicResponse } from './anthropic-response.js';

/** The Messages API version this translation follows (docs.anthropic.com/en/api/versioning). */
const ANTHROPIC_VERSION = '2023-06-01';

/** Anthropic's Messages API behind OpenAI's chat completions shapes. */
export class AnthropicAdapter implements ProviderAdapter {
  readonly id = 'anthropic';
  readonly defaultBaseUrl = 'https://api.anthropic.com/v1';
  readonly requiresApiKey = true;

  constructor(private readonly http: UpstreamHttpClient) {}

  async complete(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): Promise<CompletionResult> {
    const body = toAnthropicRequest(request, target.upstreamModel, false);
    return fromAnthropicResponse(await this.http.postJson(this.post(target, body, signal)));
  }

  async *stream(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const body = toAnthropicRequest(request, target.upstreamModel, true);
    const bytes = await this.http.postStream(this.post(target, body, signal));
    const translator = new AnthropicStreamTranslator();
    const invalid = (data: string): never => {
      throw new UpstreamError('invalid_response', `anthropic sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    };
    for await (const { payload } of parseJsonEvents(bytes, invalid)) {
      const chunk = translator.translate(payload);
      if (chunk) yield { type: 'chunk', chunk };
    }
    const usage = translator.usage();
    if (usage !== undefined) yield { type: 'usage', usage };
  }

  private post(target: UpstreamTarget, body: unknown, signal: AbortSignal): UpstreamPost {
    const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    if (target.apiKey !== undefined) headers['x-api-key'] = target.apiKey;
    return {
      providerId: this.id,
      url: `${target.baseUrl.replace(/\/+$/, '')}/messages`,
      headers,
      body,
      signal,
      apiKey: target.apiKey,
    };
  }
}

export function createAnthropicAdapter(http: UpstreamHttpClient): ProviderAdapter {
  return new AnthropicAdapter(http);
}
