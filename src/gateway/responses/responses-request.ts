import type { ChatCompletionRequest, ChatMessage, ContentPart, ToolCall } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import { checkModelName } from '../chat-request.js';
import { GatewayError } from '../errors.js';

/**
 * OpenAI's Responses request (platform.openai.com/docs/api-reference/responses/create), checked where the
 * gateway relies on it, and its translation to the chat form for upstreams that do not serve it.
 */
export interface ResponsesRequest {
  model: string;
  input?: string | unknown[];
  instructions?: string;
  max_output_tokens?: number;
  stream?: boolean;
  [field: string]: unknown;
}

/** @throws GatewayError invalid_request naming the first bad field. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  checkModelName(body.model);
  if (body.input !== undefined && typeof body.input !== 'string' && !Array.isArray(body.input)) {
    invalid('input', 'must be a string or an array of input items');
  }
  if (Array.isArray(body.input)) {
    body.input.forEach((item, index) => {
      if (!isRecord(item)) invalid(`input[${index}]`, 'must be an object');
    });
  }
  if (body.instructions !== undefined && body.instructions !== null && typeof body.instructions !== 'string') {
    invalid('instructions', 'must be a string');
  }
  const max = body.max_output_tokens;
  if (max !== undefined && max !== null && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)) {
    invalid('max_output_tokens', 'must be a whole number of at least 1');
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    invalid('stream', 'must be true or false');
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) invalid('tools', 'must be an array');
  return body as ResponsesRequest;
}

/**
 * The chat form of a Responses request: `instructions` as a system message, input items as messages
 * (function calls as an assistant's tool calls, their outputs as tool messages), function tools, tool_choice,
 * `text.format` as response_format, `max_output_tokens` as max_tokens. With `strict`, what chat cannot
 * express is refused (a 400 naming it); without, it is left out (the prompt estimate of a call that passes
 * through as it is).
 * @throws GatewayError invalid_request (strict only).
 */
export function responsesToChat(request: ResponsesRequest, strict: boolean): ChatCompletionRequest {
  const refuse = (param: string, what: string): void => {
    if (strict) {
      throw new GatewayError(
        'invalid_request',
        `invalid request: ${what} cannot be sent to this model's provider, which is reached through chat completions`,
        param,
      );
    }
  };
  if (request.previous_response_id) refuse('previous_response_id', 'previous_response_id (responses stored by OpenAI)');
  const messages: ChatMessage[] = [];
  if (typeof request.instructions === 'string' && request.instructions !== '') {
    messages.push({ role: 'system', content: request.instructions });
  }
  if (typeof request.input === 'string') messages.push({ role: 'user', content: request.input });
  else
    for (const [index, item] of (request.input ?? []).entries())
      addItem(messages, item as Record<string, unknown>, `input[${index}]`, refuse);
  const chat: ChatCompletionRequest = { model: request.model, messages };
  if (typeof request.max_output_tokens === 'number') chat.max_tokens = request.max_output_tokens;
  for (const field of ['temperature', 'top_p', 'user', 'parallel_tool_calls']) {
    if (request[field] !== undefined && request[field] !== null) (chat as Record<string, unknown>)[field] = request[field];
  }
  const tools = functionTools(request.tools, refuse);
  if (tools.length > 0) chat.tools = tools;
  if (request.tool_choice !== undefined && request.tool_choice !== null) chat.tool_choice = toolChoice(request.tool_choice);
  const format = isRecord(request.text) && isRecord(request.text.format) ? request.text.format : undefined;
  if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (format?.type === 'json_schema') {
    const { type: _type, ...schema } = format;
    chat.response_format = { type: 'json_schema', json_schema: schema };
  }
  return chat;
}

function addItem(
  messages: ChatMessage[],
  item: Record<string, unknown>,
  path: string,
  refuse: (param: string, what: string) => void,
): void {
  const type = item.type ?? 'message';
  if (type === 'message') {
    const role = item.role === 'assistant' || item.role === 'system' || item.role === 'developer' ? item.role : 'user';
    messages.push({ role, content: contentOf(item.content, `${path}.content`, refuse) });
  } else if (type === 'function_call') {
    const call: ToolCall = {
      id: String(item.call_id ?? item.id ?? ''),
      type: 'function',
      function: { name: String(item.name ?? ''), arguments: typeof item.arguments === 'string' ? item.arguments : '{}' },
    };
    const previous = messages[messages.length - 1];
    // Parallel calls arrive as consecutive items; chat carries them in one assistant message.
    if (previous?.role === 'assistant' && previous.tool_calls) previous.tool_calls.push(call);
    else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
  } else if (type === 'function_call_output') {
    const output = typeof item.output === 'string' ? item.output : JSON.stringify(item.output ?? '');
    messages.push({ role: 'tool', tool_call_id: String(item.call_id ?? ''), content: output });
  } else if (type !== 'reasoning') {
    refuse(`${path}.type`, `an input item of type ${JSON.stringify(type)}`);
  }
}

function contentOf(content: unknown, path: string, refuse: (param: string, what: string) => void): string | ContentPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: ContentPart[] = [];
  content.forEach((part: unknown, index) => {
    if (!isRecord(part)) return;
    if ((part.type === 'input_text' || part.type === 'output_text' || part.type === 'text') && typeof part.text === 'string') {
      parts.push({ type: 'text', text: part.text });
    } else if (part.type === 'input_image' && typeof part.image_url === 'string') {
      parts.push({
        type: 'image_url',
        image_url: { url: part.image_url, ...(typeof part.detail === 'string' ? { detail: part.detail } : {}) },
      });
    } else {
      refuse(`${path}[${index}].type`, `a content part of type ${JSON.stringify(part.type)}`);
    }
  });
  return parts.every((part) => part.type === 'text') ? parts.map((part) => (part as { text: string }).text).join('') : parts;
}

function functionTools(tools: unknown, refuse: (param: string, what: string) => void): unknown[] {
  if (!Array.isArray(tools)) return [];
  const result: unknown[] = [];
  tools.forEach((tool: unknown, index) => {
    if (isRecord(tool) && tool.type === 'function' && typeof tool.name === 'string') {
      const definition: Record<string, unknown> = {
        name: tool.name,
        parameters: tool.parameters ?? { type: 'object', properties: {} },
      };
      if (typeof tool.description === 'string') definition.description = tool.description;
      if (typeof tool.strict === 'boolean') definition.strict = tool.strict;
      result.push({ type: 'function', function: definition });
    } else {
      refuse(
        `tools[${index}]`,
        `a tool of type ${JSON.stringify(isRecord(tool) ? tool.type : tool)} (only function tools translate)`,
      );
    }
  });
  return result;
}

function toolChoice(choice: unknown): unknown {
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    return { type: 'function', function: { name: choice.name } };
  }
  return choice;
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
