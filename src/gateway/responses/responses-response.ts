import { randomUUID } from 'node:crypto';
import type { ChatCompletion } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import type { ResponsesRequest } from './responses-request.js';

/**
 * A chat completion as OpenAI's Responses object (`object: "response"`): reasoning as a `reasoning` item with
 * its summary, text as a `message` item with one `output_text` part, tool calls as `function_call` items. The
 * request's settings are echoed as OpenAI does. `usage` is set by the caller, with the charge.
 */
export function responseFromChat(completion: ChatCompletion, request: ResponsesRequest, id: string): Record<string, unknown> {
  const choice = completion.choices[0];
  const message = choice?.message;
  const output: Record<string, unknown>[] = [];
  const reasoning = typeof message?.reasoning_content === 'string' ? message.reasoning_content : '';
  if (reasoning !== '') output.push(reasoningItem(reasoning, 'completed'));
  if (typeof message?.content === 'string' && message.content !== '') output.push(messageItem(message.content, 'completed'));
  for (const call of message?.tool_calls ?? [])
    output.push(functionCallItem(call.id, call.function.name, call.function.arguments, 'completed'));
  const incomplete = choice?.finish_reason === 'length';
  return {
    ...responseShell(request, id, completion.created || Math.floor(Date.now() / 1000), completion.model || request.model),
    status: incomplete ? 'incomplete' : 'completed',
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    output,
  };
}

/** The fields every Responses object has, before its output and usage. */
export function responseShell(request: ResponsesRequest, id: string, createdAt: number, model: string): Record<string, unknown> {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: isRecord(request.reasoning) ? request.reasoning : { effort: null, summary: null },
    store: false,
    temperature: request.temperature ?? 1,
    text: isRecord(request.text) ? request.text : { format: { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: Array.isArray(request.tools) ? request.tools : [],
    top_p: request.top_p ?? 1,
    truncation: 'disabled',
    usage: null,
    user: request.user ?? null,
    metadata: isRecord(request.metadata) ? request.metadata : {},
  };
}

export function messageItem(text: string, status: string, id = newItemId('msg')): Record<string, unknown> {
  return {
    type: 'message',
    id,
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

export function reasoningItem(text: string, status: string, id = newItemId('rs')): Record<string, unknown> {
  return { type: 'reasoning', id, summary: status === 'in_progress' ? [] : [{ type: 'summary_text', text }] };
}

export function functionCallItem(
  callId: string,
  name: string,
  argumentsText: string,
  status: string,
  id = newItemId('fc'),
): Record<string, unknown> {
  return { type: 'function_call', id, call_id: callId, name, arguments: argumentsText, status };
}

/** Ids in OpenAI's style: a type prefix and hex (`resp_...`, `msg_...`, `fc_...`). */
export function newItemId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
