import type { NormalizedUsage } from '../pricing/types.js';
import { estimatePromptTokens } from '../providers/token-estimate.js';
import type { ChatCompletionRequest, CompletionResult, StreamEvent } from '../providers/types.js';
import { isRecord } from '../util/is-record.js';
import {
  estimateTextUsage,
  openStreamCall,
  runJsonCall,
  sseFrame,
  unfinishedChat,
  type CallOptions,
  type JsonReply,
  type StreamCodec,
  type StreamReply,
} from './call-runner.js';
import { requestedMaxOutputTokens } from './chat-request.js';
import type { CallIntent, CallPipeline, Caller, PreparedCall } from './pipeline.js';
import { tokenWorstCase } from './output-limit.js';
import { answerWithUsage, serializeWithExactCost, usagePayload } from './usage-payload.js';

export type { CallOptions, JsonReply, StreamReply } from './call-runner.js';

/** The chat completions codec: OpenAI's chat shape is the adapters' own, so requests and answers pass as they are. */
export function chatIntent(request: ChatCompletionRequest, operation: CallIntent['operation'] = 'chat'): CallIntent {
  const promptTokens = estimatePromptTokens(request.messages);
  const param = request.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const requestedMaxOutput = requestedMaxOutputTokens(request);
  return {
    model: request.model,
    operation,
    promptTokens,
    endUser: request.user,
    ...(requestedMaxOutput !== undefined ? { requestedMaxOutput } : {}),
    worstCase: tokenWorstCase(promptTokens, { value: requestedMaxOutput, param }),
  };
}

/**
 * A non-streaming chat completion, billed exactly: `usage.cost` and the credits header are final.
 * @throws GatewayError for anything that stops the call (the hold is released first).
 */
export function completeChat(
  pipeline: CallPipeline,
  request: ChatCompletionRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<CompletionResult>(pipeline, chatIntent(request), caller, options, {
    async exchange(call, signal) {
      const result = await call.route.adapter.complete(upstreamChatRequest(call, request), call.route.target, signal);
      return { answer: result, usage: result.usage ?? estimateTextUsage(call, completionText(result.body)) };
    },
    render({ body, text }, report) {
      const upstreamUsage = isRecord(body.usage) ? body.usage : undefined;
      const usage = usagePayload(report, upstreamUsage);
      return {
        body: answerWithUsage({ json: body as unknown as Record<string, unknown>, text }, usage, report.breakdown.charge),
      };
    },
  });
}

/**
 * A streaming chat completion: OpenAI chunks, then a last chunk carrying usage with its cost (as with
 * `stream_options.include_usage`; left out when the client sets it to false), then `[DONE]`.
 * @throws GatewayError when the call cannot start (the hold is released first).
 */
export function openChatStream(
  pipeline: CallPipeline,
  request: ChatCompletionRequest,
  caller: Caller,
  options: CallOptions,
): Promise<StreamReply> {
  return openStreamCall<StreamEvent>(
    pipeline,
    chatIntent(request),
    caller,
    options,
    (call, signal) => call.route.adapter.stream(upstreamChatRequest(call, request), call.route.target, signal),
    // A client that says it wants no usage chunk (`include_usage: false`) gets none: OpenAI's clients that read
    // `choices[0]` of every chunk would trip on it. The call is billed the same.
    (call) => new ChatStreamCodec(call, request.stream_options?.include_usage !== false),
  );
}

/** The chat form of a request as the upstream gets it: its own model name. */
export function upstreamChatRequest(call: PreparedCall, request: ChatCompletionRequest): ChatCompletionRequest {
  return { ...request, model: call.route.target.upstreamModel };
}

/** Chat chunks pass through; the provider's usage event becomes the last chunk, with the charge. */
export class ChatStreamCodec implements StreamCodec<StreamEvent> {
  private usage: NormalizedUsage | undefined;
  private generated = '';
  private finished = false;
  private meta: { id: string; created: number; model: string };

  constructor(
    private readonly call: PreparedCall,
    /** Whether the stream ends with the usage chunk carrying the charge (unless the client set include_usage false). */
    private readonly usageChunk = true,
  ) {
    this.meta = { id: call.requestId, created: Math.floor(Date.now() / 1000), model: call.intent.model };
  }

  push(event: StreamEvent): string[] {
    if (event.type === 'usage') {
      this.usage = event.usage;
      return [];
    }
    const chunk = event.chunk;
    this.meta = {
      id: chunk.id ?? this.meta.id,
      created: chunk.created ?? this.meta.created,
      model: chunk.model ?? this.meta.model,
    };
    this.generated += chunkText(chunk);
    for (const choice of chunk.choices) if (choice.finish_reason) this.finished = true;
    return [sseFrame(event.json ?? JSON.stringify(chunk))];
  }

  unfinished(): Error | undefined {
    return unfinishedChat(this.finished, this.usage);
  }

  reportedUsage(): NormalizedUsage | undefined {
    return this.usage;
  }

  estimatedUsage(): NormalizedUsage {
    return estimateTextUsage(this.call, this.generated);
  }

  generatedAnything(): boolean {
    return this.generated !== '';
  }

  finish(report: Parameters<StreamCodec<StreamEvent>['finish']>[0]): string[] {
    if (!this.usageChunk) return ['data: [DONE]\n\n'];
    const final = { ...this.meta, object: 'chat.completion.chunk', choices: [], usage: usagePayload(report) };
    return [sseFrame(serializeWithExactCost(final, report.breakdown.charge)), 'data: [DONE]\n\n'];
  }

  failure(error: Parameters<StreamCodec<StreamEvent>['failure']>[0]): string[] {
    return [sseFrame(JSON.stringify(error.toBody()))];
  }
}

/** The text of a chunk's deltas: content, reasoning and tool-call arguments (what a local count bills). */
export function chunkText(chunk: unknown): string {
  let text = '';
  for (const choice of asArray(asRecord(chunk)?.choices)) {
    const delta = asRecord(asRecord(choice)?.delta);
    if (!delta) continue;
    if (typeof delta.content === 'string') text += delta.content;
    if (typeof delta.reasoning_content === 'string') text += delta.reasoning_content;
    for (const toolCall of asArray(delta.tool_calls)) {
      const argumentsText = asRecord(asRecord(toolCall)?.function)?.arguments;
      if (typeof argumentsText === 'string') text += argumentsText;
    }
  }
  return text;
}

/** The text of a chat completion's messages: content and tool-call arguments. */
export function completionText(body: unknown): string {
  let text = '';
  for (const choice of asArray(asRecord(body)?.choices)) {
    const message = asRecord(asRecord(choice)?.message);
    if (typeof message?.content === 'string') text += message.content;
    for (const toolCall of asArray(message?.tool_calls)) {
      const argumentsText = asRecord(asRecord(toolCall)?.function)?.arguments;
      if (typeof argumentsText === 'string') text += argumentsText;
    }
  }
  return text;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
