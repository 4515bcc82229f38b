import type { UpstreamHttpClient, UpstreamPost } from '../http-client.js';
import { parseJsonEvents } from '../sse.js';
import {
  UpstreamError,
  type NativeAnswer,
  type NativeBody,
  type NativeShape,
  type NativeStreamEvent,
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

/**
 * Request headers of the Messages API a client may send that change what the call does or costs, forwarded on
 * native calls: `anthropic-beta` turns on features such as the 1-hour cache (`extended-cache-ttl-2025-04-11`),
 * which Claude Code and the official SDK send.
 */
export const ANTHROPIC_FORWARDED_HEADERS = ['anthropic-beta'];

/** Anthropic's Messages API behind OpenAI's chat completions shapes, and as itself for /v1/messages calls. */
export class AnthropicAdapter implements ProviderAdapter {
  readonly id = 'anthropic';
  readonly defaultBaseUrl = 'https://api.anthropic.com/v1';
  readonly requiresApiKey = true;
  readonly nativeShapes: ReadonlySet<NativeShape> = new Set<NativeShape>(['messages']);

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
    // Cut off before message_stop, a failed stream (billed for what was generated): its usage is no final count.
    if (!translator.stopped) throw new UpstreamError('server_error', 'anthropic ended the stream before message_stop');
    const usage = translator.usage();
    if (usage !== undefined) yield { type: 'usage', usage };
  }

  async sendNative(shape: NativeShape, body: NativeBody, target: UpstreamTarget, signal: AbortSignal): Promise<NativeAnswer> {
    const json = this.nativeJson(shape, body, false);
    return {
      kind: 'json',
      ...(await this.http.postJsonText(this.post(target, { ...json, model: target.upstreamModel }, signal, body))),
    };
  }

  async *streamNative(
    shape: NativeShape,
    body: Extract<NativeBody, { kind: 'json' }>,
    target: UpstreamTarget,
    signal: AbortSignal,
  ): AsyncGenerator<NativeStreamEvent> {
    const json = { ...this.nativeJson(shape, body, true), model: target.upstreamModel };
    const bytes = await this.http.postStream(this.post(target, json, signal, body));
    const invalid = (data: string): never => {
      throw new UpstreamError('invalid_response', `anthropic sent a stream event that is not JSON: ${data.slice(0, 200)}`);
    };
    yield* parseJsonEvents(bytes, invalid);
  }

  private nativeJson(shape: NativeShape, body: NativeBody, stream: boolean): Record<string, unknown> {
    if (shape !== 'messages' || body.kind !== 'json') throw new UpstreamError('not_found', `anthropic does not serve ${shape}`);
    return { ...body.json, stream };
  }

  private post(target: UpstreamTarget, body: unknown, signal: AbortSignal, native?: NativeBody): UpstreamPost {
    const headers: Record<string, string> = {
      ...(native?.kind === 'json' ? native.forwardHeaders : undefined),
      'anthropic-version': ANTHROPIC_VERSION,
    };
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
