import type { ChatCompletionRequest, ChatMessage, ContentPart, ToolCall } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import { checkModelName } from '../chat-request.js';
import { GatewayError } from '../errors.js';

/**
 * Anthropic's Messages request (docs.anthropic.com/en/api/messages), checked where the gateway relies on it,
 * and its translation to the chat form for upstreams other than Anthropic.
 */
export interface MessagesRequest {
  model: string;
  messages: Array<{ role: 'user' | 'assistant'; content: string | unknown[] }>;
  max_tokens: number;
  system?: string | unknown[];
  stream?: boolean;
  [field: string]: unknown;
}

/** @throws GatewayError invalid_request naming the first bad field (Anthropic requires max_tokens). */
export function parseMessagesRequest(body: unknown): MessagesRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  checkModelName(body.model);
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    invalid('messages', 'is required and must be a non-empty array');
  body.messages.forEach((message: unknown, index) => {
    if (!isRecord(message)) invalid(`messages.${index}`, 'must be an object with a role and content');
    if (message.role !== 'user' && message.role !== 'assistant')
      invalid(`messages.${index}.role`, 'must be "user" or "assistant"');
    if (typeof message.content !== 'string' && !Array.isArray(message.content)) {
      invalid(`messages.${index}.content`, 'must be a string or an array of content blocks');
    }
  });
  const max = body.max_tokens;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)
    invalid('max_tokens', 'is required and must be a whole number of at least 1');
  if (body.system !== undefined && typeof body.system !== 'string' && !Array.isArray(body.system)) {
    invalid('system', 'must be a string or an array of text blocks');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') invalid('stream', 'must be true or false');
  if (body.tools !== undefined && !Array.isArray(body.tools)) invalid('tools', 'must be an array');
  return body as MessagesRequest;
}

/**
 * The chat form of a Messages request: `system` as a system message, text and image blocks as content parts,
 * `tool_use` blocks as an assistant's tool calls, `tool_result` blocks as tool messages, tools and
 * tool_choice in OpenAI's shape, `stop_sequences` as `stop`. Thinking blocks (the model's own, sent back) are
 * left out, and so is `cache_control`, which only Anthropic reads. With `strict`, what chat cannot express is
 * refused with a 400 naming it; without, it is left out (the prompt estimate of a native call).
 * @throws GatewayError invalid_request (strict only).
 */
export function messagesToChat(request: MessagesRequest, strict: boolean): ChatCompletionRequest {
  const refuse = (param: string, what: string): void => {
    if (strict) {
      throw new GatewayError(
        'invalid_request',
        `invalid request: ${what} cannot be sent to this model's provider, which is reached through chat completions`,
        param,
      );
    }
  };
  const messages: ChatMessage[] = [];
  const system = typeof request.system === 'string' ? request.system : blocksText(request.system ?? []);
  if (system !== '') messages.push({ role: 'system', content: system });
  request.messages.forEach((message, index) => {
    if (typeof message.content === 'string') {
      messages.push({ role: message.role, content: message.content });
      return;
    }
    const parts: ContentPart[] = [];
    const toolCalls: ToolCall[] = [];
    const toolResults: ChatMessage[] = [];
    message.content.forEach((block: unknown, blockIndex) => {
      const path = `messages.${index}.content.${blockIndex}`;
      if (!isRecord(block)) return;
      if (block.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', text: block.text });
      else if (block.type === 'image' && isRecord(block.source)) parts.push(imagePart(block.source, path, refuse));
      else if (block.type === 'tool_use') {
        toolCalls.push({
          id: String(block.id ?? ''),
          type: 'function',
          function: { name: String(block.name ?? ''), arguments: JSON.stringify(block.input ?? {}) },
        });
      } else if (block.type === 'tool_result') {
        const content =
          typeof block.content === 'string' ? block.content : blocksText(Array.isArray(block.content) ? block.content : []);
        toolResults.push({ role: 'tool', tool_call_id: String(block.tool_use_id ?? ''), content });
      } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
        refuse(`${path}.type`, `a content block of type ${JSON.stringify(block.type)}`);
      }
    });
    // Tool results answer the previous assistant turn's calls, so they come first (chat's order).
    messages.push(...toolResults);
    const content =
      parts.length === 0
        ? null
        : parts.every((part) => part.type === 'text')
          ? parts.map((part) => (part as { text: string }).text).join('')
          : parts;
    if (content !== null || toolCalls.length > 0) {
      messages.push({
        role: message.role,
        content: content ?? (message.role === 'assistant' ? null : ''),
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      });
    }
  });
  const chat: ChatCompletionRequest = { model: request.model, messages, max_tokens: request.max_tokens };
  if (typeof request.temperature === 'number') chat.temperature = request.temperature;
  if (typeof request.top_p === 'number') chat.top_p = request.top_p;
  if (Array.isArray(request.stop_sequences)) chat.stop = request.stop_sequences as string[];
  if (isRecord(request.metadata) && typeof request.metadata.user_id === 'string') chat.user = request.metadata.user_id;
  if (Array.isArray(request.tools) && request.tools.length > 0)
    chat.tools = request.tools.map((tool, index) => chatTool(tool, index, refuse)).filter(Boolean);
  if (isRecord(request.tool_choice)) chat.tool_choice = chatToolChoice(request.tool_choice);
  return chat;
}

function blocksText(blocks: unknown[]): string {
  return blocks
    .map((block) => (isRecord(block) && typeof block.text === 'string' ? block.text : ''))
    .filter((text) => text !== '')
    .join('\n');
}

function imagePart(source: Record<string, unknown>, path: string, refuse: (param: string, what: string) => void): ContentPart {
  if (source.type === 'base64' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${String(source.media_type ?? 'image/png')};base64,${source.data}` } };
  }
  if (source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  refuse(`${path}.source`, `an image source of type ${JSON.stringify(source.type)}`);
  return { type: 'text', text: '' };
}

function chatTool(tool: unknown, index: number, refuse: (param: string, what: string) => void): unknown {
  if (isRecord(tool) && typeof tool.name === 'string' && (tool.type === undefined || tool.type === 'custom')) {
    const definition: Record<string, unknown> = {
      name: tool.name,
      parameters: tool.input_schema ?? { type: 'object', properties: {} },
    };
    if (typeof tool.description === 'string') definition.description = tool.description;
    return { type: 'function', function: definition };
  }
  refuse(`tools.${index}`, `a tool of type ${JSON.stringify(isRecord(tool) ? tool.type : tool)} (only custom tools translate)`);
  return undefined;
}

function chatToolChoice(choice: Record<string, unknown>): unknown {
  if (choice.type === 'any') return 'required';
  if (choice.type === 'none') return 'none';
  if (choice.type === 'tool' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  return 'auto';
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
