import { usageFromGemini } from '../../pricing/usage.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { openAIUsage } from '../anthropic/anthropic-response.js';
import { isRecord } from '../openai-compatible/openai-compatible-adapter.js';
import { UpstreamError, type ChatCompletion, type ChatCompletionChunk, type ToolCall, type ToolCallDelta } from '../types.js';

/** Gemini finishReason → OpenAI finish_reason (ai.google.dev/api/generate-content#FinishReason). */
export function finishReason(reason: unknown, hasToolCalls: boolean): string | null {
  if (reason === undefined || reason === null || reason === 'FINISH_REASON_UNSPECIFIED') return null;
  if (reason === 'MAX_TOKENS') return 'length';
  if (['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY'].includes(String(reason))) {
    return 'content_filter';
  }
  return hasToolCalls ? 'tool_calls' : 'stop';
}

interface CandidateContent {
  text: string;
  reasoning: string;
  calls: Array<{ name: string; args: unknown }>;
  finishReason: unknown;
}

/** The first candidate's parts: `thought: true` parts are thought summaries, not the answer. */
function readCandidate(raw: Record<string, unknown>): CandidateContent {
  const result: CandidateContent = { text: '', reasoning: '', calls: [], finishReason: undefined };
  const candidate = Array.isArray(raw.candidates) && isRecord(raw.candidates[0]) ? raw.candidates[0] : undefined;
  if (candidate === undefined) {
    // A prompt blocked before generation has no candidates, only promptFeedback.blockReason.
    if (isRecord(raw.promptFeedback) && raw.promptFeedback.blockReason) result.finishReason = 'SAFETY';
    return result;
  }
  result.finishReason = candidate.finishReason;
  const parts = isRecord(candidate.content) && Array.isArray(candidate.content.parts) ? candidate.content.parts : [];
  for (const part of parts) {
    if (!isRecord(part)) continue;
    if (typeof part.text === 'string') {
      if (part.thought === true) result.reasoning += part.text;
      else result.text += part.text;
    } else if (isRecord(part.functionCall)) {
      result.calls.push({ name: String(part.functionCall.name), args: part.functionCall.args ?? {} });
    }
  }
  return result;
}

/**
 * A generateContent response → chat.completion. Gemini function calls carry no id; ours are `call_<n>`.
 * @throws UpstreamError invalid_response when the body is not an object.
 */
export function fromGeminiResponse(
  raw: unknown,
  requestedModel: string,
): { body: ChatCompletion; usage: NormalizedUsage | undefined } {
  if (!isRecord(raw)) throw new UpstreamError('invalid_response', 'gemini answered with a body that is not an object');
  const content = readCandidate(raw);
  const toolCalls: ToolCall[] = content.calls.map((call, index) => ({
    id: `call_${index}`,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.args) },
  }));
  const message: ChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content: content.text === '' && toolCalls.length > 0 ? null : content.text,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (content.reasoning !== '') message.reasoning_content = content.reasoning;
  const usage = usageFromGemini(raw.usageMetadata);
  const body: ChatCompletion = {
    id: String(raw.responseId ?? ''),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: String(raw.modelVersion ?? requestedModel),
    choices: [
      { index: 0, message, finish_reason: finishReason(content.finishReason, toolCalls.length > 0) ?? 'stop', logprobs: null },
    ],
  };
  const shaped = openAIUsage(usage);
  if (shaped) body.usage = shaped;
  return { body, usage };
}

/**
 * streamGenerateContent events → OpenAI chunks. Every event repeats the running usageMetadata (recorded
 * gemini-text.sse: candidatesTokenCount 31, 79, 80), so the last one is the total.
 */
export class GeminiStreamTranslator {
  private id = '';
  private model: string;
  private readonly created = Math.floor(Date.now() / 1000);
  private started = false;
  private toolCalls = 0;
  private lastUsage: unknown;
  private finishSeen = false;

  constructor(requestedModel: string) {
    this.model = requestedModel;
  }

  translate(event: unknown): ChatCompletionChunk[] {
    if (!isRecord(event)) throw new UpstreamError('invalid_response', 'gemini sent a stream event that is not an object');
    if (isRecord(event.error)) {
      throw new UpstreamError('server_error', `gemini failed mid-stream: ${String(event.error.message ?? event.error.status)}`);
    }
    if (typeof event.responseId === 'string') this.id = event.responseId;
    if (typeof event.modelVersion === 'string') this.model = event.modelVersion;
    if (event.usageMetadata !== undefined) this.lastUsage = event.usageMetadata;
    const content = readCandidate(event);
    const chunks: ChatCompletionChunk[] = [];
    const delta: ChatCompletionChunk['choices'][number]['delta'] = {};
    if (!this.started) {
      delta.role = 'assistant';
      this.started = true;
    }
    if (content.text !== '') delta.content = content.text;
    if (content.reasoning !== '') delta.reasoning_content = content.reasoning;
    if (content.calls.length > 0) {
      delta.tool_calls = content.calls.map((call): ToolCallDelta => {
        const index = this.toolCalls++;
        return {
          index,
          id: `call_${index}`,
          type: 'function',
          function: { name: call.name, arguments: JSON.stringify(call.args) },
        };
      });
    }
    if (Object.keys(delta).length > 0) chunks.push(this.chunk(delta, null));
    const finish = finishReason(content.finishReason, this.toolCalls > 0);
    if (finish !== null) {
      this.finishSeen = true;
      chunks.push(this.chunk({}, finish));
    }
    return chunks;
  }

  /**
   * Whether an event said why generation ended (a candidate's finishReason, or a blocked prompt's blockReason):
   * Gemini's last event does, so a stream that ended without one was cut off.
   */
  get finished(): boolean {
    return this.finishSeen;
  }

  usage(): NormalizedUsage | undefined {
    return usageFromGemini(this.lastUsage);
  }

  private chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null): ChatCompletionChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
  }
}
