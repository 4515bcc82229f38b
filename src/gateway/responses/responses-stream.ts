import type { NormalizedUsage } from '../../pricing/types.js';
import { usageFromOpenAI } from '../../pricing/usage.js';
import { UpstreamError, type NativeStreamEvent, type StreamEvent } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import { estimateTextUsage, sseFrame, unfinishedChat, type StreamCodec } from '../call-runner.js';
import type { GatewayError } from '../errors.js';
import type { PreparedCall } from '../pipeline.js';
import { responsesUsagePayload, serializeWithExactCost, type ChargeReport } from '../usage-payload.js';
import type { ResponsesRequest } from './responses-request.js';
import { functionCallItem, messageItem, newItemId, reasoningItem, responseShell } from './responses-response.js';

/** Event types that end a Responses stream whole, carrying the final response and its usage. */
const TERMINAL = new Set(['response.completed', 'response.incomplete']);

/**
 * A Responses stream from an upstream that serves it: events pass through as they come, except the terminal
 * one (`response.completed`, with the usage), which is held until the call is settled and then sent with the
 * charge in its `usage` (`cost` and `tollgate`). A stream that fails (an `error` event, `response.failed`, or
 * an end before a terminal event) is billed for what was generated, as any failed stream: the usage
 * `response.failed` reports when it has one, else the prompt's estimate and the text generated. The client
 * gets the upstream's `error` or `response.failed` event as it was sent.
 */
export class NativeResponsesStream implements StreamCodec<NativeStreamEvent> {
  private usage: NormalizedUsage | undefined;
  private terminal: Record<string, unknown> | undefined;
  private generated = '';
  /** The upstream's own `error` frame, relayed as the stream's last. */
  private upstreamFailure: string | undefined;

  constructor(private readonly call: PreparedCall) {}

  push({ payload, data }: NativeStreamEvent): string[] {
    if (!isRecord(payload)) return [];
    const type = String(payload.type ?? '');
    if (TERMINAL.has(type)) {
      this.terminal = payload;
      const response = isRecord(payload.response) ? payload.response : {};
      this.usage = usageFromOpenAI(response.usage) ?? this.usage;
      return [];
    }
    if (type === 'error') {
      this.upstreamFailure = sseFrame(data ?? JSON.stringify(payload), 'error');
      throw new UpstreamError(
        'server_error',
        `the upstream failed mid-stream: ${String(payload.message ?? payload.code ?? 'error')}`,
      );
    }
    if (type === 'response.failed') {
      const response = isRecord(payload.response) ? payload.response : {};
      const error = isRecord(response.error) ? response.error : {};
      this.usage = usageFromOpenAI(response.usage) ?? this.usage;
      this.upstreamFailure = sseFrame(data ?? JSON.stringify(payload), type);
      throw new UpstreamError(
        'server_error',
        `the upstream failed the response: ${String(error.message ?? error.code ?? 'no reason given')}`,
      );
    }
    if (typeof payload.delta === 'string') this.generated += payload.delta;
    return [sseFrame(data ?? JSON.stringify(payload), type || undefined)];
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

  unfinished(): Error | undefined {
    return this.terminal ? undefined : new UpstreamError('server_error', 'the upstream ended the stream before its final event');
  }

  finish(report: ChargeReport): string[] {
    // Only a stream that reached its terminal event finishes (see `unfinished`).
    const terminal = this.terminal!;
    const response = isRecord(terminal.response) ? terminal.response : {};
    const upstreamUsage = isRecord(response.usage) ? response.usage : undefined;
    const event = { ...terminal, response: { ...response, usage: responsesUsagePayload(report, upstreamUsage) } };
    return [sseFrame(serializeWithExactCost(event, report.breakdown.charge), String(terminal.type))];
  }

  failure(error: GatewayError): string[] {
    return [this.upstreamFailure ?? responsesError(error, 0)];
  }
}

type OpenItem =
  | { kind: 'reasoning'; id: string; index: number; text: string }
  | { kind: 'message'; id: string; index: number; text: string }
  | { kind: 'function_call'; id: string; index: number; callId: string; name: string; text: string };

/**
 * A Responses stream made from a chat stream (an upstream reached through chat completions): the events
 * OpenAI sends, in its order (response.created, response.in_progress, then per output item
 * output_item.added, its deltas, its done events, output_item.done, and response.completed with the usage
 * and the charge). Reasoning becomes a reasoning item's summary, text a message, tool calls function_call items.
 */
export class ResponsesFromChatStream implements StreamCodec<StreamEvent> {
  private sequence = 0;
  private started = false;
  private usage: NormalizedUsage | undefined;
  private generated = '';
  private readonly items: OpenItem[] = [];
  private current: OpenItem | undefined;
  private readonly toolItems = new Map<number, OpenItem & { kind: 'function_call' }>();
  private finishReason: string | undefined;
  private readonly shell: Record<string, unknown>;

  constructor(
    private readonly call: PreparedCall,
    request: ResponsesRequest,
  ) {
    this.shell = responseShell(
      request,
      `resp_${call.requestId.replace(/^req_/, '')}`,
      Math.floor(Date.now() / 1000),
      request.model,
    );
  }

  push(event: StreamEvent): string[] {
    const frames = this.start();
    if (event.type === 'usage') {
      this.usage = event.usage;
      return frames;
    }
    for (const choice of event.chunk.choices) {
      const delta = choice.delta;
      if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') {
        frames.push(...this.open('reasoning'), ...this.textDelta(delta.reasoning_content));
      }
      if (typeof delta.content === 'string' && delta.content !== '') {
        frames.push(...this.open('message'), ...this.textDelta(delta.content));
      }
      for (const toolDelta of delta.tool_calls ?? []) frames.push(...this.toolDelta(toolDelta));
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
    const frames = [...this.start(), ...this.close()];
    const incomplete = this.finishReason === 'length';
    const response = {
      ...this.shell,
      status: incomplete ? 'incomplete' : 'completed',
      incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
      output: this.items.map((item) => doneItem(item)),
      usage: responsesUsagePayload(report),
    };
    const type = incomplete ? 'response.incomplete' : 'response.completed';
    frames.push(
      sseFrame(serializeWithExactCost({ type, sequence_number: this.sequence++, response }, report.breakdown.charge), type),
    );
    return frames;
  }

  failure(error: GatewayError): string[] {
    return [responsesError(error, this.sequence++)];
  }

  private start(): string[] {
    if (this.started) return [];
    this.started = true;
    return [
      this.event('response.created', { response: this.shell }),
      this.event('response.in_progress', { response: this.shell }),
    ];
  }

  private open(kind: 'reasoning' | 'message'): string[] {
    if (this.current?.kind === kind) return [];
    const frames = this.close();
    const item: OpenItem = { kind, id: newItemId(kind === 'message' ? 'msg' : 'rs'), index: this.items.length, text: '' };
    this.items.push(item);
    this.current = item;
    const added = kind === 'message' ? messageItem('', 'in_progress', item.id) : reasoningItem('', 'in_progress', item.id);
    frames.push(this.event('response.output_item.added', { output_index: item.index, item: added }));
    if (kind === 'message') {
      frames.push(this.event('response.content_part.added', { ...this.at(item), content_index: 0, part: outputText('') }));
    } else {
      frames.push(
        this.event('response.reasoning_summary_part.added', { ...this.at(item), summary_index: 0, part: summaryText('') }),
      );
    }
    return frames;
  }

  private textDelta(text: string): string[] {
    const item = this.current!;
    item.text += text;
    this.generated += text;
    if (item.kind === 'message') {
      return [this.event('response.output_text.delta', { ...this.at(item), content_index: 0, delta: text, logprobs: [] })];
    }
    return [this.event('response.reasoning_summary_text.delta', { ...this.at(item), summary_index: 0, delta: text })];
  }

  private toolDelta(delta: { index: number; id?: string; function?: { name?: string; arguments?: string } }): string[] {
    const frames: string[] = [];
    let item = this.toolItems.get(delta.index);
    if (!item) {
      frames.push(...this.close());
      item = {
        kind: 'function_call',
        id: newItemId('fc'),
        index: this.items.length,
        callId: delta.id ?? newItemId('call'),
        name: delta.function?.name ?? '',
        text: '',
      };
      this.items.push(item);
      this.toolItems.set(delta.index, item);
      this.current = item;
      frames.push(
        this.event('response.output_item.added', {
          output_index: item.index,
          item: functionCallItem(item.callId, item.name, '', 'in_progress', item.id),
        }),
      );
    }
    const argumentsText = delta.function?.arguments ?? '';
    if (argumentsText !== '') {
      item.text += argumentsText;
      this.generated += argumentsText;
      frames.push(this.event('response.function_call_arguments.delta', { ...this.at(item), delta: argumentsText }));
    }
    return frames;
  }

  /** Closes the open item with its done events. */
  private close(): string[] {
    const item = this.current;
    if (!item) return [];
    this.current = undefined;
    const frames: string[] = [];
    if (item.kind === 'message') {
      frames.push(this.event('response.output_text.done', { ...this.at(item), content_index: 0, text: item.text, logprobs: [] }));
      frames.push(this.event('response.content_part.done', { ...this.at(item), content_index: 0, part: outputText(item.text) }));
    } else if (item.kind === 'reasoning') {
      frames.push(this.event('response.reasoning_summary_text.done', { ...this.at(item), summary_index: 0, text: item.text }));
      frames.push(
        this.event('response.reasoning_summary_part.done', { ...this.at(item), summary_index: 0, part: summaryText(item.text) }),
      );
    } else {
      frames.push(this.event('response.function_call_arguments.done', { ...this.at(item), arguments: item.text }));
    }
    frames.push(this.event('response.output_item.done', { output_index: item.index, item: doneItem(item) }));
    return frames;
  }

  private at(item: OpenItem): { item_id: string; output_index: number } {
    return { item_id: item.id, output_index: item.index };
  }

  private event(type: string, fields: Record<string, unknown>): string {
    return sseFrame(JSON.stringify({ type, sequence_number: this.sequence++, ...fields }), type);
  }
}

function doneItem(item: OpenItem): Record<string, unknown> {
  if (item.kind === 'message') return messageItem(item.text, 'completed', item.id);
  if (item.kind === 'reasoning') return reasoningItem(item.text, 'completed', item.id);
  return functionCallItem(item.callId, item.name, item.text, 'completed', item.id);
}

function outputText(text: string): Record<string, unknown> {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

function summaryText(text: string): Record<string, unknown> {
  return { type: 'summary_text', text };
}

/** OpenAI's stream error event (`{"type": "error", "code", "message", "param"}`). */
function responsesError(error: GatewayError, sequence: number): string {
  const event = {
    type: 'error',
    sequence_number: sequence,
    code: error.code,
    message: error.message,
    param: error.param ?? null,
  };
  return sseFrame(JSON.stringify(event), 'error');
}
