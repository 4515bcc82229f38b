import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { usageFromTotals } from '../../pricing/usage.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { contentText, estimatePromptTokens, truncateToTokens } from '../token-estimate.js';
import {
  UpstreamError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type CompletionResult,
  type NativeAnswer,
  type NativeBody,
  type NativeShape,
  type NativeStreamEvent,
  type ProviderAdapter,
  type StreamEvent,
  type UpstreamTarget,
} from '../types.js';
import { demoEmbeddings, demoImages, demoTranscription } from './demo-media.js';

/**
 * A local model so a new user can make a priced call with no upstream key. Its answer depends only on the
 * request, and its usage is counted with gpt-tokenizer over exactly what it received and wrote: the truth
 * for this provider, so not marked estimated.
 */
export class DemoAdapter implements ProviderAdapter {
  readonly id = 'demo';
  readonly defaultBaseUrl = undefined;
  readonly requiresApiKey = false;
  /** Responses and Messages calls reach the demo through the chat form, as they would any chat-only upstream. */
  readonly nativeShapes: ReadonlySet<NativeShape> = new Set<NativeShape>([
    'completions',
    'embeddings',
    'transcriptions',
    'images',
  ]);

  async sendNative(shape: NativeShape, body: NativeBody, target: UpstreamTarget, signal: AbortSignal): Promise<NativeAnswer> {
    signal.throwIfAborted();
    if (shape === 'transcriptions') return demoTranscription(body);
    if (body.kind !== 'json') throw new UpstreamError('bad_request', `${shape} takes a JSON body`);
    switch (shape) {
      case 'embeddings':
        return demoEmbeddings(body.json, target.upstreamModel);
      case 'images':
        return demoImages(body.json);
      case 'completions': {
        const answer = demoAnswer(legacyAsChat(body.json));
        return {
          kind: 'json',
          json: {
            id: answer.id.replace('chatcmpl-', 'cmpl-'),
            object: 'text_completion',
            created: Math.floor(Date.now() / 1000),
            model: target.upstreamModel,
            choices: [{ text: answer.text, index: 0, logprobs: null, finish_reason: answer.finishReason }],
            usage: usageOf(answer),
          },
        };
      }
      default:
        throw new UpstreamError('not_found', `the demo provider does not serve ${shape}`);
    }
  }

  /** Legacy completions streamed: text chunks, then a usage-only last chunk as OpenAI sends with include_usage. */
  async *streamNative(
    shape: NativeShape,
    body: Extract<NativeBody, { kind: 'json' }>,
    target: UpstreamTarget,
    signal: AbortSignal,
  ): AsyncGenerator<NativeStreamEvent> {
    if (shape !== 'completions') throw new UpstreamError('not_found', `the demo provider does not stream ${shape}`);
    const answer = demoAnswer(legacyAsChat(body.json));
    const base = {
      id: answer.id.replace('chatcmpl-', 'cmpl-'),
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: target.upstreamModel,
    };
    for (const piece of answer.text.match(/\S+\s*|\s+/g) ?? []) {
      await nextTurn();
      signal.throwIfAborted();
      yield { event: 'message', payload: { ...base, choices: [{ text: piece, index: 0, logprobs: null, finish_reason: null }] } };
    }
    yield {
      event: 'message',
      payload: { ...base, choices: [{ text: '', index: 0, logprobs: null, finish_reason: answer.finishReason }] },
    };
    yield { event: 'message', payload: { ...base, choices: [], usage: usageOf(answer) } };
  }

  async complete(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): Promise<CompletionResult> {
    signal.throwIfAborted();
    const answer = demoAnswer(request);
    const body: ChatCompletion = {
      id: answer.id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: target.upstreamModel,
      choices: [
        { index: 0, message: { role: 'assistant', content: answer.text }, finish_reason: answer.finishReason, logprobs: null },
      ],
      usage: {
        prompt_tokens: answer.promptTokens,
        completion_tokens: answer.completionTokens,
        total_tokens: answer.promptTokens + answer.completionTokens,
      },
    };
    return { body, usage: answer.usage };
  }

  async *stream(request: ChatCompletionRequest, target: UpstreamTarget, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const answer = demoAnswer(request);
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null): StreamEvent => ({
      type: 'chunk',
      chunk: {
        id: answer.id,
        object: 'chat.completion.chunk',
        created,
        model: target.upstreamModel,
        choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      },
    });
    yield chunk({ role: 'assistant', content: '' }, null);
    for (const piece of answer.text.match(/\S+\s*|\s+/g) ?? []) {
      // Yield to the event loop between pieces so a client that disconnects stops the stream here.
      await nextTurn();
      signal.throwIfAborted();
      yield chunk({ content: piece }, null);
    }
    yield chunk({}, answer.finishReason);
    yield { type: 'usage', usage: answer.usage };
  }
}

interface DemoAnswer {
  id: string;
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  usage: NormalizedUsage;
}

/**
 * The answer: a fixed sentence describing the last user message (its words and characters, and its first
 * words), cut to max_tokens. Same request, same answer.
 */
export function demoAnswer(request: ChatCompletionRequest): DemoAnswer {
  const lastUser = [...request.messages].reverse().find((message) => message.role === 'user');
  const said = lastUser ? contentText(lastUser.content).trim() : '';
  const words = said === '' ? [] : said.split(/\s+/);
  const opening = words.slice(0, 8).join(' ') + (words.length > 8 ? ' ...' : '');
  const full =
    words.length === 0
      ? 'This is the tollgate demo model. Send a user message and it will be described back to you, priced to the token.'
      : `This is the tollgate demo model. Your message had ${words.length} ${words.length === 1 ? 'word' : 'words'} ` +
        `and ${said.length} characters, beginning "${opening}". Every token of this answer was counted and priced.`;
  const limit = request.max_completion_tokens ?? request.max_tokens;
  const { text, tokens } = limit === undefined ? truncateToTokens(full, Number.MAX_SAFE_INTEGER) : truncateToTokens(full, limit);
  const promptTokens = estimatePromptTokens(request.messages);
  const id = 'chatcmpl-demo-' + createHash('sha256').update(JSON.stringify(request.messages)).digest('hex').slice(0, 24);
  return {
    id,
    text,
    finishReason: text === full ? 'stop' : 'length',
    promptTokens,
    completionTokens: tokens,
    usage: usageFromTotals({ input: promptTokens, output: tokens }),
  };
}

/** A legacy completion's prompt as one user message; its `max_tokens` defaults to 16, as OpenAI's does. */
function legacyAsChat(json: Record<string, unknown>): ChatCompletionRequest {
  const prompt = Array.isArray(json.prompt) ? json.prompt.map(String).join('\n') : String(json.prompt ?? '');
  const maxTokens = typeof json.max_tokens === 'number' ? json.max_tokens : 16;
  return { model: String(json.model ?? ''), messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens };
}

function usageOf(answer: DemoAnswer): Record<string, number> {
  return {
    prompt_tokens: answer.promptTokens,
    completion_tokens: answer.completionTokens,
    total_tokens: answer.promptTokens + answer.completionTokens,
  };
}

export function createDemoAdapter(): ProviderAdapter {
  return new DemoAdapter();
}
