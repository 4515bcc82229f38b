import { totalInputTokens, totalOutputTokens, usageFromAnthropic } from '../../pricing/usage.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { isRecord } from '../openai-compatible/openai-compatible-adapter.js';
import { UpstreamError, type ChatCompletion, type ChatCompletionChunk, type ToolCall } from '../types.js';

/** Anthropic stop_reason → OpenAI finish_reason (docs.anthropic.com "Handling stop reasons"). */
export function finishReason(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** OpenAI's usage shape for the body (the gateway adds the cost); the normalised usage is the billing truth. */
export function openAIUsage(usage: NormalizedUsage | undefined): Record<string, unknown> | undefined {
  if (usage === undefined) return undefined;
  const prompt = totalInputTokens(usage);
  const completion = totalOutputTokens(usage);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: usage.input.cacheRead },
    completion_tokens_details: { reasoning_tokens: usage.output.reasoning },
  };
}

/**
 * A Messages response → chat.completion: text blocks joined, tool_use → tool_calls, thinking → reasoning_content.
 * @throws UpstreamError invalid_response when there is no content array.
 */
export function fromAnthropicResponse(raw: unknown): { body: ChatCompletion; usage: NormalizedUsage | undefined } {
  if (!isRecord(raw) || !Array.isArray(raw.content)) {
    throw new UpstreamError('invalid_response', 'anthropic answered without a content array');
  }
  let text = '';
  let reasoning = '';
  const toolCalls: ToolCall[] = [];
  for (const block of raw.content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: String(block.id),
        type: 'function',
        function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const usage = usageFromAnthropic(raw.usage);
  const message: ChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (reasoning !== '') message.reasoning_content = reasoning;
  const body: ChatCompletion = {
    id: String(raw.id ?? ''),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(raw.model ?? ''),
    choices: [{ index: 0, message, finish_reason: finishReason(raw.stop_reason), logprobs: null }],
  };
  const shaped = openAIUsage(usage);
  if (shaped) body.usage = shaped;
  return { body, usage };
}

/** Anthropic's `error` event after a 200 (rate_limit_error is rate_limited, anything else a server error). */
export function anthropicStreamError(event: Record<string, unknown>): UpstreamError {
  const error = isRecord(event.error) ? event.error : {};
  const kind = error.type === 'rate_limit_error' ? 'rate_limited' : 'server_error';
  return new UpstreamError(kind, `anthropic failed mid-stream: ${String(error.message ?? error.type ?? 'error')}`);
}

/**
 * Turns Messages stream events (message_start, content_block_start/delta/stop, message_delta, message_stop,
 * ping, error) into OpenAI chunks. Usage: message_start carries input and cache counts, message_delta the
 * final output count and, since 2025, final input and cache counts too (they cover every server-tool
 * iteration, recorded anthropic-prompt-cache.chunks.txt); later fields win.
 */
export class AnthropicStreamTranslator {
  private id = '';
  private model = '';
  private readonly created = Math.floor(Date.now() / 1000);
  private rawUsage: Record<string, unknown> | undefined;
  private stopEvent = false;
  private readonly toolIndexByBlock = new Map<number, number>();

  /** @throws UpstreamError for an `error` event (overloaded_error → server_error, rate_limit_error → rate_limited). */
  translate(event: unknown): ChatCompletionChunk | undefined {
    if (!isRecord(event)) throw new UpstreamError('invalid_response', 'anthropic sent a stream event that is not an object');
    switch (event.type) {
      case 'message_start': {
        const message = isRecord(event.message) ? event.message : {};
        this.id = String(message.id ?? '');
        this.model = String(message.model ?? '');
        this.mergeUsage(message.usage);
        return this.chunk({ role: 'assistant', content: '' }, null);
      }
      case 'content_block_start':
        return this.blockStart(Number(event.index), isRecord(event.content_block) ? event.content_block : {});
      case 'content_block_delta':
        return this.blockDelta(Number(event.index), isRecord(event.delta) ? event.delta : {});
      case 'message_delta': {
        this.mergeUsage(event.usage);
        const delta = isRecord(event.delta) ? event.delta : {};
        return delta.stop_reason ? this.chunk({}, finishReason(delta.stop_reason)) : undefined;
      }
      case 'message_stop':
        this.stopEvent = true;
        return undefined;
      case 'error':
        throw anthropicStreamError(event);
      default:
        return undefined;
    }
  }

  /** Whether message_stop came: before it, the usage is message_start's, whose output count is a placeholder. */
  get stopped(): boolean {
    return this.stopEvent;
  }

  usage(): NormalizedUsage | undefined {
    return usageFromAnthropic(this.rawUsage);
  }

  private blockStart(index: number, block: Record<string, unknown>): ChatCompletionChunk | undefined {
    if (block.type === 'tool_use') {
      const toolIndex = this.toolIndexByBlock.size;
      this.toolIndexByBlock.set(index, toolIndex);
      const call = {
        index: toolIndex,
        id: String(block.id),
        type: 'function' as const,
        function: { name: String(block.name), arguments: '' },
      };
      return this.chunk({ tool_calls: [call] }, null);
    }
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '')
      return this.chunk({ content: block.text }, null);
    return undefined;
  }

  private blockDelta(index: number, delta: Record<string, unknown>): ChatCompletionChunk | undefined {
    if (delta.type === 'text_delta' && typeof delta.text === 'string') return this.chunk({ content: delta.text }, null);
    if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string') {
      return this.chunk({ reasoning_content: delta.thinking }, null);
    }
    if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
      const toolIndex = this.toolIndexByBlock.get(index);
      if (toolIndex === undefined) return undefined;
      return this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] }, null);
    }
    return undefined;
  }

  private mergeUsage(usage: unknown): void {
    if (!isRecord(usage)) return;
    const merged: Record<string, unknown> = { ...this.rawUsage };
    for (const [key, value] of Object.entries(usage)) if (value !== null && value !== undefined) merged[key] = value;
    this.rawUsage = merged;
  }

  private chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null): ChatCompletionChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
  }
}
