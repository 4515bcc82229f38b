import { GatewayError } from './errors.js';
import type { ChatCompletionRequest } from '../providers/types.js';
import { isRecord } from '../util/is-record.js';

/**
 * A minimal check of OpenAI's chat completion request: what the gateway relies on is checked, the rest
 * passes through to the upstream untouched (vercel/ai's "limited version of the schema"). Written out by
 * hand rather than as a zod schema: it runs on every call, and the schema's parse (which also copies the
 * body) cost more than everything else done with the request before the upstream call.
 */
const ROLES: ReadonlySet<unknown> = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/**
 * Validates a chat completion body and returns it as is. Fields are checked in the order of the request
 * (model, messages in order, then the numeric and streaming options) and the first problem is reported.
 * @throws GatewayError invalid_request naming the first bad field (e.g. `messages[0].role`).
 */
export function parseChatRequest(body: unknown): ChatCompletionRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  checkModelName(body.model);
  const messages = body.messages;
  if (!Array.isArray(messages)) invalid('messages', 'is required and must be an array of messages');
  if (messages.length === 0) invalid('messages', 'must contain at least one message');
  for (let index = 0; index < messages.length; index += 1) checkMessage(messages[index], `messages[${index}]`);
  checkPositiveInteger(body, 'max_tokens');
  checkPositiveInteger(body, 'max_completion_tokens');
  if (body.stream !== undefined && typeof body.stream !== 'boolean') invalid('stream', 'must be true or false');
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!isRecord(streamOptions)) invalid('stream_options', 'must be an object or null');
    if (streamOptions.include_usage !== undefined && typeof streamOptions.include_usage !== 'boolean') {
      invalid('stream_options.include_usage', 'must be true or false');
    }
  }
  if (body.n !== undefined && body.n !== 1) invalid('n', 'only n = 1 is supported (each choice would be billed separately)');
  checkRange(body, 'temperature', 2);
  checkRange(body, 'top_p', 1);
  return body as ChatCompletionRequest;
}

/** The longest model name accepted (catalog ids and provider names are far shorter; Bedrock ARNs about 100). */
export const MAX_MODEL_NAME_LENGTH = 256;
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * A model name is a string of 1 to 256 characters without control characters: it is priced, logged and
 * stored with every usage record (a NUL was served and charged, and its record lost; a number was billed as
 * the model "123"; a 1 MB name filled the log twice per call).
 * @throws GatewayError invalid_request with `param: "model"`.
 */
export function checkModelName(model: unknown): asserts model is string {
  if (typeof model !== 'string') invalid('model', 'is required and must be a string');
  if (model === '') invalid('model', 'must not be empty');
  if (model.length > MAX_MODEL_NAME_LENGTH)
    invalid('model', `must be at most ${MAX_MODEL_NAME_LENGTH} characters, got ${model.length}`);
  if (CONTROL_CHARACTERS.test(model)) invalid('model', 'must not contain control characters (such as NUL or a newline)');
}

/** The output limit the caller asked for, if any (max_completion_tokens supersedes max_tokens). */
export function requestedMaxOutputTokens(request: ChatCompletionRequest): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens;
}

function checkMessage(message: unknown, path: string): void {
  if (!isRecord(message)) invalid(path, 'must be an object with a role and content');
  if (!ROLES.has(message.role)) invalid(`${path}.role`, 'must be one of system, developer, user, assistant, tool');
  const content = message.content;
  if (content !== undefined && content !== null && typeof content !== 'string') {
    if (!Array.isArray(content) || !content.every((part) => isRecord(part) && typeof part.type === 'string')) {
      invalid(`${path}.content`, 'must be a string, null, or an array of content parts (objects with a string type)');
    }
  }
  if (message.name !== undefined && typeof message.name !== 'string') invalid(`${path}.name`, 'must be a string');
  if (message.tool_calls !== undefined && !Array.isArray(message.tool_calls)) invalid(`${path}.tool_calls`, 'must be an array');
  if (message.tool_call_id !== undefined && typeof message.tool_call_id !== 'string') {
    invalid(`${path}.tool_call_id`, 'must be a string');
  }
}

function checkPositiveInteger(body: Record<string, unknown>, field: string): void {
  const value = body[field];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) invalid(field, 'must be a whole number');
  if (value < 1) invalid(field, 'must be at least 1');
}

function checkRange(body: Record<string, unknown>, field: string, max: number): void {
  const value = body[field];
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    invalid(field, `must be a number from 0 to ${max}`);
  }
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
