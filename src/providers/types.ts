import type { NormalizedUsage } from '../pricing/types.js';

/** The adapter interface every provider implements, in OpenAI's chat completions shapes. */

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: string } }
  | { type: string; [field: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  tools?: unknown[];
  tool_choice?: unknown;
  n?: number;
  user?: string;
  response_format?: unknown;
  seed?: number;
  [extra: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | null;

/** OpenAI's `chat.completion` object; providers' extra fields pass through untouched. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[]; [extra: string]: unknown };
    finish_reason: FinishReason | string;
    logprobs?: unknown;
  }>;
  usage?: unknown;
  [extra: string]: unknown;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** OpenAI's `chat.completion.chunk` object, as yielded by adapters: never carrying usage. */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ToolCallDelta[]; [extra: string]: unknown };
    finish_reason: FinishReason | string;
    logprobs?: unknown;
  }>;
  [extra: string]: unknown;
}

export interface UpstreamTarget {
  providerId: string;
  upstreamModel: string;
  baseUrl: string;
  apiKey: string | undefined;
}

export interface CompletionResult {
  /** In OpenAI's chat.completion shape. */
  body: ChatCompletion;
  usage: NormalizedUsage | undefined;
  /** The upstream's JSON text of `body`, when `body` is that text parsed and nothing else (an OpenAI-compatible answer). */
  text?: string;
}

/** Chunks in OpenAI's chunk shape without usage; one usage event when the provider reported usage. */
export type StreamEvent =
  | {
      type: 'chunk';
      chunk: ChatCompletionChunk;
      /** The chunk's JSON text as the upstream sent it, when that can be relayed unchanged (no re-serialising). */
      json?: string;
    }
  | { type: 'usage'; usage: NormalizedUsage };

/**
 * API shapes besides chat completions that an upstream may serve as they are: OpenAI's Responses, legacy
 * Completions, Embeddings, audio Transcriptions and image Generations, and Anthropic's Messages. A call in a
 * shape its upstream speaks passes through (only the model is renamed); Responses and Messages calls to any
 * other upstream go through the chat form (src/gateway/*-translation.ts).
 */
export type NativeShape = 'responses' | 'messages' | 'completions' | 'embeddings' | 'transcriptions' | 'images';

/** An uploaded file (the audio of a transcription), as the client sent it. */
export interface UploadedFile {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

/** A request body in a native shape: JSON, or a multipart form of fields and one file (transcriptions). */
export type NativeBody =
  | { kind: 'json'; json: Record<string, unknown>; forwardHeaders?: Record<string, string> }
  | { kind: 'form'; fields: Record<string, string | string[]>; file: UploadedFile };

/** One event of a native stream: its SSE event name (Anthropic names them) and its JSON payload. */
export interface NativeStreamEvent {
  event: string;
  payload: unknown;
  /** The payload's JSON text as the upstream sent it: relayed as it is when the event passes unchanged. */
  data?: string;
}

/**
 * A native answer: a JSON body (with the text it was parsed from, when the upstream's bytes are relayed), or plain
 * text (a transcription asked for `response_format: text`).
 */
export type NativeAnswer = { kind: 'json'; json: unknown; text?: string } | { kind: 'text'; text: string; contentType: string };

export interface ProviderAdapter {
  readonly id: string;
  /** The provider's public API URL, version path included; undefined when every deployment has its own. */
  readonly defaultBaseUrl: string | undefined;
  /** False for adapters that need no key (demo). */
  readonly requiresApiKey: boolean;
  /** The shapes `sendNative` and `streamNative` take for this upstream (empty when it speaks only chat). */
  readonly nativeShapes: ReadonlySet<NativeShape>;
  /**
   * @throws UpstreamError for every upstream failure; the signal's abort reason when the client went away.
   */
  complete(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): Promise<CompletionResult>;
  stream(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): AsyncIterable<StreamEvent>;
  /**
   * A call in a shape of `nativeShapes`, its body passed as is but for the model (`target.upstreamModel`).
   * @throws UpstreamError as `complete`; not_found for a shape the upstream does not serve.
   */
  sendNative?(shape: NativeShape, body: NativeBody, target: UpstreamTarget, signal: AbortSignal): Promise<NativeAnswer>;
  /** The streaming form of `sendNative` (responses, messages, completions): the upstream's events as they come. */
  streamNative?(
    shape: NativeShape,
    body: Extract<NativeBody, { kind: 'json' }>,
    target: UpstreamTarget,
    signal: AbortSignal,
  ): AsyncIterable<NativeStreamEvent>;
  /**
   * Embeddings from an upstream with an embeddings API of its own shape (Gemini's batchEmbedContents): OpenAI's
   * embeddings request in, OpenAI's embeddings response out, with the usage it reported.
   */
  embed?(request: Record<string, unknown>, target: UpstreamTarget, signal: AbortSignal): Promise<EmbeddingsResult>;
}

/** An embeddings answer in OpenAI's shape (`{object: "list", data: [{embedding, index}], model, usage}`). */
export interface EmbeddingsResult {
  body: Record<string, unknown>;
  usage: NormalizedUsage | undefined;
}

export type UpstreamErrorKind =
  | 'rate_limited'
  | 'timeout'
  | 'bad_request'
  | 'authentication'
  | 'not_found'
  | 'server_error'
  | 'network'
  | 'invalid_response'
  | 'not_configured';

const STATUS_BY_KIND: Record<UpstreamErrorKind, number> = {
  rate_limited: 429,
  timeout: 504,
  bad_request: 400,
  authentication: 502,
  not_found: 502,
  server_error: 502,
  network: 502,
  invalid_response: 502,
  not_configured: 502,
};

const RETRYABLE_KINDS = new Set<UpstreamErrorKind>(['rate_limited', 'timeout', 'server_error', 'network']);

/**
 * An upstream failure. `status` is what the gateway answers (a bad upstream key is the operator's problem,
 * not the client's, hence 502 rather than 401); `retryable` says whether the same call may succeed later.
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly status: number;
  readonly upstreamStatus?: number;
  readonly retryable: boolean;

  constructor(kind: UpstreamErrorKind, message: string, options: { upstreamStatus?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.kind = kind;
    this.status = STATUS_BY_KIND[kind];
    if (options.upstreamStatus !== undefined) this.upstreamStatus = options.upstreamStatus;
    this.retryable = RETRYABLE_KINDS.has(kind);
  }
}
