import { z } from 'zod';
import { GatewayError } from '../http/errors.js';
import type { ChatCompletionRequest } from '../providers/types.js';

/**
 * A minimal schema of OpenAI's chat completion request: what the gateway relies on is checked, the
 * rest passes through to the upstream untouched (vercel/ai's "limited version of the schema").
 */
const contentPart = z.object({ type: z.string() }).passthrough();
const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], 'must be one of system, developer, user, assistant, tool'),
    content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
    name: z.string().optional(),
    tool_calls: z.array(z.unknown()).optional(),
    tool_call_id: z.string().optional(),
  })
  .passthrough();

const positiveInteger = z.number().int('must be a whole number').positive('must be at least 1');

export const chatRequestSchema = z
  .object({
    model: z.string('is required and must be a string').min(1, 'must not be empty'),
    messages: z.array(message, 'is required and must be an array of messages').min(1, 'must contain at least one message'),
    max_tokens: positiveInteger.optional(),
    max_completion_tokens: positiveInteger.optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
    n: z.literal(1, 'only n = 1 is supported (each choice would be billed separately)').optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
  })
  .passthrough();

/**
 * Validates a chat completion body.
 * @throws GatewayError invalid_request naming the first bad field (e.g. `messages[0].role`).
 */
export function parseChatRequest(body: unknown): ChatCompletionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  }
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = formatPath(issue.path);
    throw new GatewayError('invalid_request', `invalid request: ${field || 'body'} ${issue.message}`, field || undefined);
  }
  return parsed.data as ChatCompletionRequest;
}

/** The output limit the caller asked for, if any (max_completion_tokens supersedes max_tokens). */
export function requestedMaxOutputTokens(request: ChatCompletionRequest): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens;
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)),
    '',
  );
}
