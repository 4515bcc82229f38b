import { isRecord } from '../openai-compatible/openai-compatible-adapter.js';
import { UpstreamError, type ChatCompletionRequest, type ChatMessage, type ContentPart } from '../types.js';

/**
 * Anthropic requires `max_tokens`. When the client sets none, 4096: the largest value every Claude model
 * accepts (Claude 3 Haiku's output limit; docs.anthropic.com "Models overview").
 */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

/**
 * OpenAI chat request → Anthropic Messages request (docs.anthropic.com/en/api/messages).
 * @throws UpstreamError bad_request for what Anthropic cannot express (n > 1, tool arguments not JSON).
 */
export function toAnthropicRequest(
  request: ChatCompletionRequest,
  upstreamModel: string,
  stream: boolean,
): Record<string, unknown> {
  if (request.n !== undefined && request.n !== 1) {
    throw new UpstreamError('bad_request', 'anthropic does not support n other than 1');
  }
  const system: Block[] = [];
  const messages: AnthropicMessage[] = [];
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') {
      system.push(...textBlocks(message.content));
      continue;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks = messageBlocks(message);
    const previous = messages[messages.length - 1];
    // Tool results must sit in one user turn right after the assistant's tool_use blocks: merge same-role turns.
    if (previous && previous.role === role) previous.content.push(...blocks);
    else messages.push({ role, content: blocks });
  }
  const body: Record<string, unknown> = {
    model: upstreamModel,
    messages,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
  };
  if (system.length > 0) body.system = system;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.stop !== undefined) body.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.user !== undefined) body.metadata = { user_id: request.user };
  if (request.tools !== undefined) body.tools = request.tools.map(toAnthropicTool);
  if (request.tool_choice !== undefined) body.tool_choice = toAnthropicToolChoice(request.tool_choice);
  if (stream) body.stream = true;
  return body;
}

function messageBlocks(message: ChatMessage): Block[] {
  if (message.role === 'tool') {
    return [{ type: 'tool_result', tool_use_id: message.tool_call_id ?? '', content: textBlocks(message.content) }];
  }
  const blocks = contentBlocks(message.content);
  for (const call of message.tool_calls ?? []) {
    let input: unknown;
    try {
      input = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
    } catch {
      throw new UpstreamError('bad_request', `tool call ${call.id} has arguments that are not JSON`);
    }
    blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input });
  }
  return blocks;
}

function textBlocks(content: string | ContentPart[] | null): Block[] {
  return contentBlocks(content).filter((block) => block.type === 'text');
}

function contentBlocks(content: string | ContentPart[] | null): Block[] {
  if (content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const blocks: Block[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') {
      // `cache_control` on a part is Anthropic's prompt caching marker; clients pass it through OpenAI's shape.
      const cacheControl = (part as Record<string, unknown>).cache_control;
      blocks.push(
        cacheControl ? { type: 'text', text: part.text, cache_control: cacheControl } : { type: 'text', text: part.text },
      );
    } else if (part.type === 'image_url' && isRecord(part.image_url) && typeof part.image_url.url === 'string') {
      blocks.push({ type: 'image', source: imageSource(part.image_url.url) });
    } else {
      throw new UpstreamError('bad_request', `anthropic cannot take a content part of type ${JSON.stringify(part.type)}`);
    }
  }
  return blocks;
}

/** Data URLs become base64 sources, other URLs url sources (docs.anthropic.com "Vision"). */
function imageSource(url: string): Block {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (match) return { type: 'base64', media_type: match[1], data: match[2] };
  return { type: 'url', url };
}

function toAnthropicTool(tool: unknown): Block {
  if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function) || typeof tool.function.name !== 'string') {
    throw new UpstreamError('bad_request', 'anthropic takes only tools of type "function" with a name');
  }
  const definition: Block = {
    name: tool.function.name,
    input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
  };
  if (typeof tool.function.description === 'string') definition.description = tool.function.description;
  return definition;
}

function toAnthropicToolChoice(choice: unknown): Block {
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'required') return { type: 'any' };
  if (choice === 'none') return { type: 'none' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { type: 'tool', name: choice.function.name };
  }
  throw new UpstreamError('bad_request', `anthropic cannot express tool_choice ${JSON.stringify(choice)}`);
}
