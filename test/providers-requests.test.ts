import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderRegistry } from '../src/providers/registry.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { chatRequest, collect, registryFor } from './support/provider-harness.js';

/** What each adapter sends upstream, as the mock upstream received it. */
let mock: MockUpstream;
let registry: ProviderRegistry;

beforeAll(async () => {
  mock = await startMockUpstream();
  registry = registryFor(mock.url);
});
afterAll(async () => {
  await registry.close();
  await mock.close();
});
beforeEach(() => mock.reset());

async function stream(providerId: string, model: string) {
  const adapter = registry.adapterFor(providerId);
  if (!adapter) throw new Error(providerId);
  const request = chatRequest('client-facing-name', { stream: true, max_tokens: 64, stream_options: { include_usage: false } });
  return collect(adapter.stream(request, registry.targetFor(providerId, model), new AbortController().signal));
}

describe('upstream requests', () => {
  it('OpenAI-format: the upstream model, a bearer key, and usage asked for in streams', async () => {
    await stream('deepinfra', 'meta-llama/Llama-3.3-70B-Instruct');
    const [received] = mock.requests;
    expect(received?.path).toBe('/v1/chat/completions');
    expect(received?.headers.authorization).toBe('Bearer test-key-deepinfra-0123456789');
    expect(received?.body).toMatchObject({
      model: 'meta-llama/Llama-3.3-70B-Instruct',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 64,
    });
  });

  it('Anthropic: x-api-key, anthropic-version, the Messages body', async () => {
    await stream('anthropic', 'claude-sonnet-4-5');
    const [received] = mock.requests;
    expect(received?.path).toBe('/v1/messages');
    expect(received?.headers['x-api-key']).toBe('test-key-anthropic-0123456789');
    expect(received?.headers['anthropic-version']).toBe('2023-06-01');
    expect(received?.headers.authorization).toBeUndefined();
    expect(received?.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Invent a new holiday and describe its traditions.' }] }],
    });
  });

  it('Gemini: the model in the path, alt=sse, the key in a header and never in the URL', async () => {
    await stream('vertex_ai', 'gemini-2.5-flash');
    const [received] = mock.requests;
    expect(received?.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(received?.headers['x-goog-api-key']).toBe('test-key-gemini-0123456789');
    expect(received?.path).not.toContain('key=');
    expect(received?.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Invent a new holiday and describe its traditions.' }] }],
      generationConfig: { maxOutputTokens: 64 },
    });
  });

  it('OpenAI tool-call stream: the split arguments join to the recorded JSON', async () => {
    const collected = await stream('openai', 'mock-tool-call');
    expect(collected.toolNames).toEqual(['get_capital']);
    expect(JSON.parse(collected.toolArguments)).toHaveProperty('country');
    expect(collected.finishReasons).toEqual(['tool_calls']);
  });
});
