import { isRecord } from '../openai-compatible/openai-compatible-adapter.js';
import { contentText } from '../token-estimate.js';
import { UpstreamError, type ChatCompletionRequest, type ContentPart } from '../types.js';

type Part = Record<string, unknown>;

/**
 * OpenAI chat request → Gemini `generateContent` request (ai.google.dev/api/generate-content).
 * @throws UpstreamError bad_request for what Gemini cannot express (a tool result for an unknown call, ...).
 */
export function toGeminiRequest(request: ChatCompletionRequest): Record<string, unknown> {
  const systemParts: Part[] = [];
  const contents: Array<{ role: 'user' | 'model'; parts: Part[] }> = [];
  // Gemini's functionResponse names the function; OpenAI's tool message only names the call id.
  const functionNameByCallId = new Map<string, string>();
  for (const message of request.messages) {
    if (message.role === 'system' || message.role === 'developer') {
      const text = contentText(message.content);
      if (text !== '') systemParts.push({ text });
      continue;
    }
    let role: 'user' | 'model' = 'user';
    let parts: Part[];
    if (message.role === 'assistant') {
      role = 'model';
      parts = contentParts(message.content);
      for (const call of message.tool_calls ?? []) {
        functionNameByCallId.set(call.id, call.function.name);
        parts.push({ functionCall: { name: call.function.name, args: parseArguments(call.function.arguments, call.id) } });
      }
    } else if (message.role === 'tool') {
      const name = functionNameByCallId.get(message.tool_call_id ?? '');
      if (name === undefined) {
        throw new UpstreamError(
          'bad_request',
          `tool message answers an unknown tool_call_id ${JSON.stringify(message.tool_call_id)}`,
        );
      }
      parts = [{ functionResponse: { name, response: { result: contentText(message.content) } } }];
    } else {
      parts = contentParts(message.content);
    }
    const previous = contents[contents.length - 1];
    if (previous && previous.role === role) previous.parts.push(...parts);
    else contents.push({ role, parts });
  }
  const body: Record<string, unknown> = { contents };
  if (systemParts.length > 0) body.systemInstruction = { parts: systemParts };
  const generationConfig = toGenerationConfig(request);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  if (request.tools !== undefined) body.tools = [{ functionDeclarations: request.tools.map(toFunctionDeclaration) }];
  if (request.tool_choice !== undefined)
    body.toolConfig = { functionCallingConfig: toFunctionCallingConfig(request.tool_choice) };
  return body;
}

function toGenerationConfig(request: ChatCompletionRequest): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens !== undefined) config.maxOutputTokens = maxTokens;
  if (request.temperature !== undefined) config.temperature = request.temperature;
  if (request.top_p !== undefined) config.topP = request.top_p;
  if (request.stop !== undefined) config.stopSequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (request.n !== undefined) config.candidateCount = request.n;
  if (request.seed !== undefined) config.seed = request.seed;
  const format = request.response_format;
  if (isRecord(format) && (format.type === 'json_object' || format.type === 'json_schema')) {
    config.responseMimeType = 'application/json';
    if (format.type === 'json_schema' && isRecord(format.json_schema) && format.json_schema.schema !== undefined) {
      config.responseJsonSchema = format.json_schema.schema;
    }
  }
  return config;
}

function contentParts(content: string | ContentPart[] | null): Part[] {
  if (content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return content.map((part): Part => {
    if (part.type === 'text' && typeof part.text === 'string') return { text: part.text };
    if (part.type === 'image_url' && isRecord(part.image_url) && typeof part.image_url.url === 'string') {
      const match = /^data:([^;,]+);base64,(.*)$/s.exec(part.image_url.url);
      if (match) return { inlineData: { mimeType: match[1], data: match[2] } };
      return { fileData: { fileUri: part.image_url.url } };
    }
    throw new UpstreamError('bad_request', `gemini cannot take a content part of type ${JSON.stringify(part.type)}`);
  });
}

function parseArguments(text: string, callId: string): unknown {
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new UpstreamError('bad_request', `tool call ${callId} has arguments that are not JSON`);
  }
}

function toFunctionDeclaration(tool: unknown): Part {
  if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function) || typeof tool.function.name !== 'string') {
    throw new UpstreamError('bad_request', 'gemini takes only tools of type "function" with a name');
  }
  const declaration: Part = { name: tool.function.name };
  if (typeof tool.function.description === 'string') declaration.description = tool.function.description;
  if (tool.function.parameters !== undefined) declaration.parametersJsonSchema = tool.function.parameters;
  return declaration;
}

function toFunctionCallingConfig(choice: unknown): Part {
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'required') return { mode: 'ANY' };
  if (choice === 'none') return { mode: 'NONE' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
  }
  throw new UpstreamError('bad_request', `gemini cannot express tool_choice ${JSON.stringify(choice)}`);
}
