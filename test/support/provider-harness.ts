import { loadConfig, PROVIDER_ENVIRONMENT_PREFIXES } from '../../src/config/config.js';
import type { NormalizedUsage } from '../../src/pricing/types.js';
import { createProviderRegistry, type ProviderRegistry } from '../../src/providers/registry.js';
import type { ChatCompletionChunk, ChatCompletionRequest, StreamEvent } from '../../src/providers/types.js';

/**
 * A registry whose every upstream points at the mock (`/v1` for OpenAI-format and Anthropic, `/v1beta` for
 * Gemini). Its timeouts are guards against a hang unless a test sets `timeoutMs` to test them: a busy machine
 * must not turn a slow answer into a timeout.
 */
export function registryFor(upstreamUrl: string, upstream: { timeoutMs?: number; maxRetries?: number } = {}): ProviderRegistry {
  const environment: Record<string, string> = {
    TOLLGATE_UPSTREAM_TIMEOUT_MS: String(upstream.timeoutMs ?? 60_000),
    TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS: '60000',
    TOLLGATE_UPSTREAM_MAX_RETRIES: String(upstream.maxRetries ?? 2),
  };
  for (const [id, prefix] of Object.entries(PROVIDER_ENVIRONMENT_PREFIXES)) {
    environment[`${prefix}_BASE_URL`] = `${upstreamUrl}${id === 'gemini' ? '/v1beta' : '/v1'}`;
    environment[`${prefix}_API_KEY`] = `test-key-${id}-0123456789`;
  }
  return createProviderRegistry(loadConfig(environment));
}

export function chatRequest(model: string, extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model, messages: [{ role: 'user', content: 'Invent a new holiday and describe its traditions.' }], ...extra };
}

export interface CollectedStream {
  chunks: ChatCompletionChunk[];
  usage: NormalizedUsage | undefined;
  usageEvents: number;
  text: string;
  reasoning: string;
  finishReasons: string[];
  toolArguments: string;
  toolNames: string[];
}

export async function collect(events: AsyncIterable<StreamEvent>): Promise<CollectedStream> {
  const collected: CollectedStream = {
    chunks: [],
    usage: undefined,
    usageEvents: 0,
    text: '',
    reasoning: '',
    finishReasons: [],
    toolArguments: '',
    toolNames: [],
  };
  for await (const event of events) {
    if (event.type === 'usage') {
      collected.usage = event.usage;
      collected.usageEvents += 1;
      continue;
    }
    collected.chunks.push(event.chunk);
    for (const choice of event.chunk.choices) {
      if (typeof choice.delta.content === 'string') collected.text += choice.delta.content;
      if (typeof choice.delta.reasoning_content === 'string') collected.reasoning += choice.delta.reasoning_content;
      if (choice.finish_reason) collected.finishReasons.push(choice.finish_reason);
      for (const call of choice.delta.tool_calls ?? []) {
        if (call.function?.name) collected.toolNames.push(call.function.name);
        collected.toolArguments += call.function?.arguments ?? '';
      }
    }
  }
  return collected;
}

/** The normalised counts without `raw`, for equality with known values. */
export function counts(usage: NormalizedUsage | undefined): Omit<NormalizedUsage, 'raw'> | undefined {
  if (usage === undefined) return undefined;
  const { raw: _raw, ...rest } = usage;
  return rest;
}

export function expectedUsage(values: {
  uncached?: number;
  cacheRead?: number;
  cacheWrite?: number;
  text?: number;
  reasoning?: number;
}): Omit<NormalizedUsage, 'raw'> {
  return {
    input: {
      uncached: values.uncached ?? 0,
      cacheRead: values.cacheRead ?? 0,
      cacheWrite: values.cacheWrite ?? 0,
      cacheWrite1h: 0,
      audio: 0,
    },
    output: { text: values.text ?? 0, reasoning: values.reasoning ?? 0, audio: 0 },
    requests: 1,
    images: 0,
    estimated: false,
  };
}
