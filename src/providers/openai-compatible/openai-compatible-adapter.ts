import { usageFromOpenAI } from '../../pricing/usage.js';
import { isRecord } from '../../util/is-record.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import type { UpstreamHttpClient, UpstreamPost } from '../http-client.js';
import { encodeMultipart } from '../multipart.js';
import { parseJsonEvents } from '../sse.js';
import {
  UpstreamError,
  type NativeAnswer,
  type NativeBody,
  type NativeShape,
  type NativeStreamEvent,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type CompletionResult,
  type ProviderAdapter,
  type StreamEvent,
  type UpstreamTarget,
} from '../types.js';

/** What differs between OpenAI-compatible upstreams; everything else is the shared base below. */
export interface OpenAICompatibleOptions {
  id: string;
  /** Public API URL up to the version path; `/chat/completions` is appended. */
  defaultBaseUrl: string | undefined;
  /** Headers besides `Authorization: Bearer <key>` (OpenRouter's attribution headers, for instance). */
  extraHeaders?: Record<string, string>;
  /** Where a chunk carries usage, when not at `usage` (Groq's older `x_groq.usage`). */
  chunkUsage?: (chunk: Record<string, unknown>) => unknown;
  /** Normalises the upstream's usage object; OpenAI's builder unless the gateway reports cache hits elsewhere. */
  readUsage?: (raw: unknown) => NormalizedUsage | undefined;
  /** True for upstreams that serve OpenAI's Responses API (`/responses`); the others get Responses calls as chat. */
  responses?: boolean;
}

/**
 * The OpenAI endpoints every OpenAI-compatible server is expected to have besides chat (vLLM, the inference
 * gateways): a model of a kind the server does not serve gets the server's own 404, mapped to model_not_found.
 */
const COMMON_SHAPES: NativeShape[] = ['completions', 'embeddings', 'transcriptions', 'images'];

/** Where each native shape is posted, under the base URL (platform.openai.com/docs/api-reference). */
const PATHS: Partial<Record<NativeShape, string>> = {
  responses: '/responses',
  completions: '/completions',
  embeddings: '/embeddings',
  transcriptions: '/audio/transcriptions',
  images: '/images/generations',
};

/**
 * The shared base for OpenAI chat completions and every gateway speaking its wire format: the request
 * passes through with the catalog's upstream model name; streams ask for usage
 * (`stream_options.include_usage`, OpenAI API reference "Create chat completion") and the usage-only final
 * chunk is turned into one usage event.
 */
export class OpenAICompatibleAdapter implements ProviderAdapter {
  readonly id: string;
  readonly defaultBaseUrl: string | undefined;
  readonly requiresApiKey = true;
  readonly nativeShapes: ReadonlySet<NativeShape>;
  private readonly readUsage: (raw: unknown) => NormalizedUsage | undefined;

  constructor(
    private readonly http: UpstreamHttpClient,
    private readonly options: OpenAICompatibleOptions,
  ) {
    this.id = options.id;
    this.defaultBaseUrl = options.defaultBaseUrl;
    this.readUsage = options.readUsage ?? usageFromOpenAI;
    this.nativeShapes = new Set(options.responses ? [...COMMON_SHAPES, 'responses'] : COMMON_SHAPES);
  }

  async sendNative(shape: NativeShape, body: NativeBody, target: UpstreamTarget, signal: AbortSignal): Promise<NativeAnswer> {
    const path = this.pathOf(shape);
    if (body.kind === 'form') {
      const encoded = await encodeMultipart({ ...body.fields, model: target.upstreamModel }, body.file);
      return this.http.postForAnswer({ ...this.post(target, undefined, signal, path), encoded });
    }
    const json: Record<string, unknown> = { ...body.json, model: target.upstreamModel };
    if (shape === 'responses' || shape === 'completions') json.stream = false;
    delete json.stream_options;
    return { kind: 'json', ...(await this.http.postJsonText(this.post(target, json, signal, path))) };
  }

  async *streamNative(
    shape: NativeShape,
    body: Extract<NativeBody, { kind: 'json' }>,
    target: UpstreamTarget,
    signal: AbortSignal,
  ): AsyncGenerator<NativeStreamEvent> {
    const json: Record<string, unknown> = { ...body.json, model: target.upstreamModel, stream: true };
    // Legacy completions report usage in a last chunk only when asked, as chat does; Responses always do.
    if (shape === 'completions') json.stream_options = { ...(body.json.stream_options as object), include_usage: true };
    const bytes = await this.http.postStream(this.post(target, json, signal, this.pathOf(shape)));
    for await (const { event, payload, data } of parseJsonEvents(bytes, (text) => this.invalid(text))) {
      if (isRecord(payload) && isRecord(payload.error) && payload.type === undefined) {
        const message = typeof payload.error.message === 'string' ? payload.error.message : 'stream failed';
        throw new UpstreamError('server_error', `${this.id} failed mid-stream: ${message}`);
      }
      yield { event, payload, data };
    }
  }

  private pathOf(shape: NativeShape): string {
    const path = PATHS[shape];
    if (!path || !this.nativeShapes.has(shape)) throw new UpstreamError('not_found', `${this.id} does not serve ${shape}`);
    return path;
  }

  async complete(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): Promise<CompletionResult> {
    const { stream_options: _ignored, ...rest } = request;
    const body = { ...rest, model: target.upstreamModel, stream: false };
    const { json: answer, text } = await this.http.postJsonText(this.post(target, body, signal));
    if (!isRecord(answer) || !Array.isArray(answer.choices)) {
      throw new UpstreamError('invalid_response', `${this.id} answered without a choices array`);
    }
    return { body: answer as unknown as ChatCompletion, usage: this.readUsage(answer.usage), text };
  }

  async *stream(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const body = {
      ...request,
      model: target.upstreamModel,
      stream: true,
      stream_options: { ...request.stream_options, include_usage: true },
    };
    const bytes = await this.http.postStream(this.post(target, body, signal));
    let usage: NormalizedUsage | undefined;
    for await (const { payload, data } of parseJsonEvents(bytes, (text) => this.invalid(text))) {
      if (!isRecord(payload)) this.invalid(JSON.stringify(payload));
      if (isRecord(payload.error)) {
        // OpenAI reports failures after the 200 as a data event carrying `error` (openai-python `_streaming.py`).
        const message = typeof payload.error.message === 'string' ? payload.error.message : 'stream failed';
        throw new UpstreamError('server_error', `${this.id} failed mid-stream: ${message}`);
      }
      const rawUsage = this.options.chunkUsage?.(payload) ?? payload.usage;
      // Some upstreams repeat a running usage on every chunk (Perplexity); the last one is the total.
      const chunkUsage = this.readUsage(rawUsage);
      if (chunkUsage !== undefined) usage = chunkUsage;
      const { usage: _usage, ...chunk } = payload;
      if (!Array.isArray(chunk.choices)) this.invalid(JSON.stringify(payload));
      if (chunk.choices.length === 0) continue;
      const json = relayableChunk(data, payload);
      yield { type: 'chunk', chunk: chunk as unknown as ChatCompletionChunk, ...(json !== undefined ? { json } : {}) };
    }
    if (usage !== undefined) yield { type: 'usage', usage };
  }

  private post(target: UpstreamTarget, body: unknown, signal: AbortSignal, path = '/chat/completions'): UpstreamPost {
    const headers: Record<string, string> = { ...this.options.extraHeaders };
    if (target.apiKey !== undefined) headers.authorization = `Bearer ${target.apiKey}`;
    return {
      providerId: this.id,
      url: `${target.baseUrl.replace(/\/+$/, '')}${path}`,
      headers,
      body,
      signal,
      apiKey: target.apiKey,
    };
  }

  private invalid(data: string): never {
    throw new UpstreamError('invalid_response', `${this.id} sent a stream event that is not a chunk: ${data.slice(0, 200)}`);
  }
}

export { isRecord };

/** A gateway that needs nothing but its id and URL. */
export function openAICompatible(options: OpenAICompatibleOptions): (http: UpstreamHttpClient) => ProviderAdapter {
  return (http) => new OpenAICompatibleAdapter(http, options);
}

/**
 * For gateways that report cache hits in a top-level usage field instead of
 * `prompt_tokens_details.cached_tokens` (DeepSeek `prompt_cache_hit_tokens`, Moonshot `cached_tokens`):
 * those tokens are part of `prompt_tokens`, so they move from uncached to cache read.
 */
export function usageWithCacheHitsAt(field: string): (raw: unknown) => NormalizedUsage | undefined {
  return (raw) => {
    const usage = usageFromOpenAI(raw);
    if (usage === undefined || !isRecord(raw) || usage.input.cacheRead > 0) return usage;
    const hits = raw[field];
    if (typeof hits !== 'number' || !Number.isSafeInteger(hits) || hits <= 0) return usage;
    const moved = Math.min(hits, usage.input.uncached);
    usage.input.uncached -= moved;
    usage.input.cacheRead += moved;
    return usage;
  };
}

/** `"usage": null` as a key (a JSON string cannot hold an unescaped quote, so this never matches inside one). */
const USAGE_KEY = /"usage"\s*:/g;
const NULL_USAGE = /(,\s*"usage"\s*:\s*null)|("usage"\s*:\s*null\s*,)/;

/**
 * The text of a chunk to relay as the upstream sent it: the chunk minus its `usage` (the gateway asks every
 * stream for usage and reports it, with the cost, in a last chunk of its own). A chunk without `usage`
 * passes as it is; OpenAI's `"usage": null` (sent on every chunk once usage is asked for) is cut out of the
 * text when it is the only `usage` key; anything else (a running usage on each chunk, as Perplexity sends)
 * is re-serialised from the parsed chunk instead (undefined).
 */
export function relayableChunk(data: string, payload: Record<string, unknown>): string | undefined {
  if (!('usage' in payload)) return data;
  if (payload.usage !== null) return undefined;
  const keys = data.match(USAGE_KEY);
  if (keys?.length !== 1) return undefined;
  const cut = data.replace(NULL_USAGE, '');
  return cut.length < data.length ? cut : undefined;
}
