import type { NormalizedUsage } from '../../pricing/types.js';
import { usageFromAnthropic } from '../../pricing/usage.js';
import { anthropicStreamError } from '../../providers/anthropic/anthropic-response.js';
import { UpstreamError, type NativeStreamEvent, type StreamEvent } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import { estimateTextUsage, sseFrame, unfinishedChat, type StreamCodec } from '../call-runner.js';
import type { GatewayError } from '../errors.js';
import type { PreparedCall } from '../pipeline.js';
import { messagesUsagePayload, serializeWithExactCost, type ChargeReport } from '../usage-payload.js';
import { anthropicErrorBody } from './messages-errors.js';
import { stopReason } from './messages-response.js';

/**
 * A Messages stream from Anthropic: events pass through with their names, except `message_delta` (the final
 * usage) and `message_stop`, held until the call is settled and then sent with the whole usage and the
 * charge. Usage is message_start's merged with message_delta's, later fields winning: since 2025 the delta
 * carries final input and cache counts too, covering every server-tool iteration (recorded
 * anthropic-prompt-cache.chunks.txt).
 *
 * A stream that fails (Anthropic's `error` event after the 200, such as `overloaded_error`; or an end before
 * `message_stop`) is billed for what was generated, as any failed stream: the input and cache counts
 * message_start reported, and the output counted locally, since message_start's output count is a
 * placeholder. The client gets Anthropic's error event as Anthropic sent it.
 */
export class NativeMessagesStream implements StreamCodec<NativeStreamEvent> {
  private rawUsage: Record<string, unknown> | undefined;
  private delta: Record<string, unknown> | undefined;
  private stopped: Record<string, unknown> | undefined;
  private generated = '';
  /** The upstream's own `error` frame, relayed as the stream's last. */
  private upstreamFailure: string | undefined;

  constructor(private readonly call: PreparedCall) {}

  push({ payload, data }: NativeStreamEvent): string[] {
    if (!isRecord(payload)) return [];
    const type = String(payload.type ?? '');
    if (type === 'message_start' && isRecord(payload.message)) this.merge(payload.message.usage);
    if (type === 'message_delta') {
      this.merge(payload.usage);
      this.delta = payload;
      return [];
    }
    if (type === 'message_stop') {
      this.stopped = payload;
      return [];
    }
    if (type === 'error') {
      this.upstreamFailure = sseFrame(data ?? JSON.stringify(payload), 'error');
      throw anthropicStreamError(payload);
    }
    if (type === 'content_block_delta' && isRecord(payload.delta)) {
      const delta = payload.delta;
      for (const field of ['text', 'thinking', 'partial_json'])
        if (typeof delta[field] === 'string') this.generated += delta[field];
    }
    return [sseFrame(data ?? JSON.stringify(payload), type || undefined)];
  }

  reportedUsage(): NormalizedUsage | undefined {
    const usage = usageFromAnthropic(this.rawUsage);
    if (!usage || this.delta) return usage;
    // Before message_delta the output count is message_start's placeholder (1): what was generated counts.
    const counted = this.estimatedUsage().output.text;
    if (counted > usage.output.text) {
      usage.output.text = counted;
      usage.estimated = true;
    }
    return usage;
  }

  estimatedUsage(): NormalizedUsage {
    return estimateTextUsage(this.call, this.generated);
  }

  generatedAnything(): boolean {
    return this.generated !== '';
  }

  unfinished(): Error | undefined {
    return this.stopped ? undefined : new UpstreamError('server_error', 'anthropic ended the stream before message_stop');
  }

  finish(report: ChargeReport): string[] {
    const frames: string[] = [];
    if (this.delta) {
      const event = { ...this.delta, usage: messagesUsagePayload(report, this.rawUsage) };
      frames.push(sseFrame(serializeWithExactCost(event, report.breakdown.charge), 'message_delta'));
    }
    // Only a stream that reached message_stop finishes (see `unfinished`).
    frames.push(sseFrame(JSON.stringify(this.stopped), 'message_stop'));
    return frames;
  }

  failure(error: GatewayError): string[] {
    return [this.upstreamFailure ?? sseFrame(JSON.stringify(anthropicErrorBody(error)), 'error')];
  }

  private merge(usage: unknown): void {
    if (!isRecord(usage)) return;
    const merged: Record<string, unknown> = { ...this.rawUsage };
    for (const [key, value] of Object.entries(usage)) if (value !== null && value !== undefined) merged[key] = value;
    this.rawUsage = merged;
  }
}

/**
 * A Messages stream made from a chat stream: message_start, then per content block content_block_start, its
 * deltas (text_delta, thinking_delta, input_json_delta) and content_block_stop, then message_delta with the
 * stop reason and the whole usage with the charge, and message_stop, as Anthropic sends them.
 */
export class MessagesFromChatStream implements StreamCodec<StreamEvent> {
  private started = false;
  private usage: NormalizedUsage | undefined;
  private generated = '';
  private blockCount = 0;
  private open: { kind: 'text' | 'thinking' | 'tool'; index: number; toolIndex?: number } | undefined;
  private finishReason: string | undefined;

  constructor(
    private readonly call: PreparedCall,
    private readonly model: string,
  ) {}

  push(event: StreamEvent): string[] {
    const frames = this.start();
    if (event.type === 'usage') {
      this.usage = event.usage;
      return frames;
    }
    for (const choice of event.chunk.choices) {
      const delta = choice.delta;
      if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') {
        frames.push(...this.openBlock('thinking', { type: 'thinking', thinking: '', signature: '' }));
        frames.push(this.blockDelta({ type: 'thinking_delta', thinking: delta.reasoning_content }, delta.reasoning_content));
      }
      if (typeof delta.content === 'string' && delta.content !== '') {
        frames.push(...this.openBlock('text', { type: 'text', text: '' }));
        frames.push(this.blockDelta({ type: 'text_delta', text: delta.content }, delta.content));
      }
      for (const tool of delta.tool_calls ?? []) {
        if (this.open?.kind !== 'tool' || this.open.toolIndex !== tool.index) {
          frames.push(
            ...this.openBlock(
              'tool',
              { type: 'tool_use', id: tool.id ?? '', name: tool.function?.name ?? '', input: {} },
              tool.index,
            ),
          );
        }
        const partial = tool.function?.arguments ?? '';
        if (partial !== '') frames.push(this.blockDelta({ type: 'input_json_delta', partial_json: partial }, partial));
      }
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    return frames;
  }

  unfinished(): Error | undefined {
    return unfinishedChat(this.finishReason !== undefined, this.usage);
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

  finish(report: ChargeReport): string[] {
    const frames = [...this.start(), ...this.closeBlock()];
    const delta = {
      type: 'message_delta',
      delta: { stop_reason: stopReason(this.finishReason), stop_sequence: null },
      usage: messagesUsagePayload(report),
    };
    frames.push(sseFrame(serializeWithExactCost(delta, report.breakdown.charge), 'message_delta'));
    frames.push(sseFrame(JSON.stringify({ type: 'message_stop' }), 'message_stop'));
    return frames;
  }

  failure(error: GatewayError): string[] {
    return [sseFrame(JSON.stringify(anthropicErrorBody(error)), 'error')];
  }

  private start(): string[] {
    if (this.started) return [];
    this.started = true;
    const message = {
      id: `msg_${this.call.requestId.replace(/^req_/, '')}`,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // The prompt as counted locally; message_delta carries the provider's counts at the end.
      usage: {
        input_tokens: this.call.promptTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 0,
      },
    };
    return [sseFrame(JSON.stringify({ type: 'message_start', message }), 'message_start')];
  }

  private openBlock(kind: 'text' | 'thinking' | 'tool', block: Record<string, unknown>, toolIndex?: number): string[] {
    if (this.open?.kind === kind && kind !== 'tool') return [];
    const frames = this.closeBlock();
    this.open = { kind, index: this.blockCount++, ...(toolIndex !== undefined ? { toolIndex } : {}) };
    frames.push(
      sseFrame(
        JSON.stringify({ type: 'content_block_start', index: this.open.index, content_block: block }),
        'content_block_start',
      ),
    );
    return frames;
  }

  private blockDelta(delta: Record<string, unknown>, text: string): string {
    this.generated += text;
    return sseFrame(JSON.stringify({ type: 'content_block_delta', index: this.open!.index, delta }), 'content_block_delta');
  }

  private closeBlock(): string[] {
    if (!this.open) return [];
    const index = this.open.index;
    this.open = undefined;
    return [sseFrame(JSON.stringify({ type: 'content_block_stop', index }), 'content_block_stop')];
  }
}
