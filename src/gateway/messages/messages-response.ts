import type { ChatCompletion } from '../../providers/types.js';

/** OpenAI finish_reason → Anthropic stop_reason (docs.anthropic.com "Handling stop reasons"). */
export function stopReason(finishReason: string | null | undefined): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/**
 * A chat completion as Anthropic's Message: reasoning as a `thinking` block, text as a `text` block, tool calls
 * as `tool_use` blocks with their arguments parsed. `usage` is set by the caller, with the charge.
 */
export function messageFromChat(completion: ChatCompletion, model: string, id: string): Record<string, unknown> {
  const choice = completion.choices[0];
  const message = choice?.message;
  const content: Record<string, unknown>[] = [];
  if (typeof message?.reasoning_content === 'string' && message.reasoning_content !== '') {
    content.push({ type: 'thinking', thinking: message.reasoning_content, signature: '' });
  }
  if (typeof message?.content === 'string' && message.content !== '') content.push({ type: 'text', text: message.content });
  for (const call of message?.tool_calls ?? []) {
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
  }
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: completion.model || model,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
  };
}

/** Tool arguments as an object; a model's malformed JSON is kept as a string under `_raw` rather than lost. */
export function parseArguments(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { _raw: text };
  }
}
