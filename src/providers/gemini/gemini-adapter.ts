import type { UpstreamHttpClient, UpstreamPost } from '../http-client.js';
import { parseJsonEvents } from '../sse.js';
import { fromGeminiEmbedResponse, toGeminiEmbedRequest } from './gemini-embeddings.js';
import {
  UpstreamError,
  type EmbeddingsResult,
  type NativeShape,
  type ChatCompletionRequest,
  type CompletionResult,
  type ProviderAdapter,
  type StreamEvent,
  type UpstreamTarget,
} from '../types.js';
import { toGeminiRequest } from './gemini-request.js';
import { GeminiStreamTranslator, fromGeminiResponse } from './gemini-response.js';

/** Google's Gemini API (generativelanguage.googleapis.com) behind OpenAI's chat completions shapes. */
export class GeminiAdapter implements ProviderAdapter {
  readonly id = 'gemini';
  readonly defaultBaseUrl = 'https://generativelanguage.googleapis.com/v1beta';
  readonly requiresApiKey = true;
  readonly nativeShapes: ReadonlySet<NativeShape> = new Set<NativeShape>();

  constructor(private readonly http: UpstreamHttpClient) {}

  async embed(request: Record<string, unknown>, target: UpstreamTarget, signal: AbortSignal): Promise<EmbeddingsResult> {
    const post = this.post(target, 'batchEmbedContents', toGeminiEmbedRequest(request, target.upstreamModel), signal);
    const answer = await this.http.postJson(post);
    return fromGeminiEmbedResponse(answer, target.upstreamModel, request.encoding_format === 'base64');
  }

  async complete(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): Promise<CompletionResult> {
    const post = this.post(target, 'generateContent', toGeminiRequest(request), signal);
    return fromGeminiResponse(await this.http.postJson(post), target.upstreamModel);
  }

  async *stream(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    // `alt=sse` makes streamGenerateContent answer as server-sent events instead of one JSON array.
    const post = this.post(target, 'streamGenerateContent?alt=sse', toGeminiRequest(request), signal);
    const bytes = await this.http.postStream(post);
    const translator = new GeminiStreamTranslator(target.upstreamModel);
    const invalid = (data: string): never => {
      throw new UpstreamError('invalid_response', `gemini sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    };
    for await (const { payload } of parseJsonEvents(bytes, invalid)) {
      for (const chunk of translator.translate(payload)) yield { type: 'chunk', chunk };
    }
    const usage = translator.usage();
    if (usage !== undefined) yield { type: 'usage', usage };
    // Cut off before its finishReason, a failed stream. Every event carries the running counts, so the last one
    // reported is what was generated up to the cut, and the call is billed for that (as an aborted call).
    if (!translator.finished) throw new UpstreamError('server_error', 'gemini ended the stream before its finishReason');
  }

  private post(target: UpstreamTarget, method: string, body: unknown, signal: AbortSignal): UpstreamPost {
    // The key goes in a header, never the URL, so it cannot leak into logs of URLs (ai.google.dev/api "API keys").
    const headers: Record<string, string> = {};
    if (target.apiKey !== undefined) headers['x-goog-api-key'] = target.apiKey;
    const model = target.upstreamModel.replace(/^models\//, '');
    return {
      providerId: this.id,
      url: `${target.baseUrl.replace(/\/+$/, '')}/models/${encodeURIComponent(model)}:${method}`,
      headers,
      body,
      signal,
      apiKey: target.apiKey,
    };
  }
}

export function createGeminiAdapter(http: UpstreamHttpClient): ProviderAdapter {
  return new GeminiAdapter(http);
}
