import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderRegistry } from '../src/providers/registry.js';
import { UpstreamError, type ProviderAdapter, type UpstreamTarget } from '../src/providers/types.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { chatRequest, collect, registryFor } from './support/provider-harness.js';

/** Failures over every adapter family: errors mapped in one place, retries only where safe, aborts and timeouts. */
const PROVIDERS = ['openai', 'groq', 'anthropic', 'gemini'];

let mock: MockUpstream;
let registry: ProviderRegistry;
let quickTimeouts: ProviderRegistry;

beforeAll(async () => {
  mock = await startMockUpstream();
  registry = registryFor(mock.url, { maxRetries: 2 });
  quickTimeouts = registryFor(mock.url, { timeoutMs: 300, maxRetries: 2 });
});
afterAll(async () => {
  await registry.close();
  await quickTimeouts.close();
  await mock.close();
});
beforeEach(() => mock.reset());

function call(from: ProviderRegistry, providerId: string, model: string): { adapter: ProviderAdapter; target: UpstreamTarget } {
  const adapter = from.adapterFor(providerId);
  if (!adapter) throw new Error(`no adapter ${providerId}`);
  return { adapter, target: from.targetFor(providerId, model) };
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe.each(PROVIDERS)('%s failures', (providerId) => {
  it('maps an upstream 500 to server_error (502), keeps the message, does not retry it', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-error-500');
    const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
    expect([error.kind, error.status, error.upstreamStatus, error.retryable]).toEqual(['server_error', 502, 500, true]);
    expect(error.message).toContain('The server had an error');
    expect(error.message).not.toContain('test-key-');
    expect(mock.requests).toHaveLength(1);
  });

  it('maps a 429 to rate_limited (429) without waiting out a long retry-after', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-rate-limited');
    const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
    expect([error.kind, error.status, error.upstreamStatus]).toEqual(['rate_limited', 429, 429]);
    expect(mock.requests).toHaveLength(1);
  });

  it('retries a 429 whose retry-after is short, then succeeds', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-rate-limited-once');
    const result = await adapter.complete(chatRequest('x'), target, new AbortController().signal);
    expect(result.usage).toBeDefined();
    expect(mock.requests).toHaveLength(2);
  });

  it('maps a body that is not JSON to invalid_response', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-malformed');
    const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
    expect([error.kind, error.status]).toEqual(['invalid_response', 502]);
  });

  it('refuses a streaming answer that is not an event stream instead of streaming nothing', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-malformed');
    const error = await failure(
      collect(adapter.stream(chatRequest('x', { stream: true }), target, new AbortController().signal)),
    );
    expect([error.kind, error.status]).toEqual(['invalid_response', 502]);
    expect(error.message).toContain('application/json');
  });

  it('maps an upstream that never answers to timeout (504)', async () => {
    const { adapter, target } = call(quickTimeouts, providerId, 'mock-hang');
    const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
    expect([error.kind, error.status, error.retryable]).toEqual(['timeout', 504, true]);
    expect(mock.requests).toHaveLength(1);
  });

  it('stops the upstream request when the client aborts a plain call', async () => {
    const { adapter, target } = call(registry, providerId, 'mock-hang');
    const controller = new AbortController();
    const pending = adapter.complete(chatRequest('x'), target, controller.signal);
    // Once the request is at the upstream (which never answers), the client goes away.
    await mock.waitForRequests(1);
    controller.abort(new Error('client went away'));
    await expect(pending).rejects.toThrow('client went away');
    await mock.waitForAborted(1);
  });

  it('stops the upstream stream when the client aborts mid-stream', async () => {
    // Half the recorded stream, then nothing until the client goes away.
    const { adapter, target } = call(registry, providerId, 'mock-stalled-stream');
    const controller = new AbortController();
    let chunks = 0;
    const reading = (async () => {
      for await (const event of adapter.stream(chatRequest('x', { stream: true }), target, controller.signal)) {
        if (event.type === 'chunk') chunks += 1;
        if (chunks === 2) controller.abort(new Error('client went away'));
      }
    })();
    await expect(reading).rejects.toThrow('client went away');
    await mock.waitForAborted(1);
    expect(mock.counts.completed).toBe(0);
  });
});

describe('anthropic streams cut off', () => {
  it("fail at an end before message_stop, after the chunks it sent: message_start's usage is no final count", async () => {
    const { adapter, target } = call(registry, 'anthropic', 'mock-ended-mid-stream');
    const events: string[] = [];
    const reading = (async () => {
      for await (const event of adapter.stream(chatRequest('x', { stream: true }), target, new AbortController().signal))
        events.push(event.type);
    })();
    const error = await failure(reading);
    expect(error.kind).toBe('server_error');
    expect(error.message).toBe('anthropic ended the stream before message_stop');
    expect(events.length).toBeGreaterThan(1);
    expect(events).not.toContain('usage');
    // The whole recording ends with message_stop: its chunks, then the usage.
    const whole = await collect(
      adapter.stream(
        chatRequest('x', { stream: true }),
        call(registry, 'anthropic', 'mock-text').target,
        new AbortController().signal,
      ),
    );
    expect(whole.usageEvents).toBe(1);
    expect(whole.usage).toMatchObject({ input: { uncached: 20 }, output: { text: 5 } });
  });
});

describe('gemini streams cut off', () => {
  it('fail at an end before any finishReason, after the chunks and the running usage the last event carried', async () => {
    const { adapter, target } = call(registry, 'gemini', 'mock-ended-mid-stream');
    const events: string[] = [];
    let reported: unknown;
    const reading = (async () => {
      for await (const event of adapter.stream(chatRequest('x', { stream: true }), target, new AbortController().signal)) {
        events.push(event.type === 'chunk' ? (event.chunk.choices[0]?.finish_reason ?? 'chunk') : event.type);
        if (event.type === 'usage') reported = event.usage;
      }
    })();
    const error = await failure(reading);
    expect(error.kind).toBe('server_error');
    expect(error.message).toBe('gemini ended the stream before its finishReason');
    // The recording's first two events (text each, no finishReason), then their running counts: the second event's.
    expect(events).toEqual(['chunk', 'chunk', 'usage']);
    expect(reported).toMatchObject({ input: { uncached: 18 }, output: { text: 79, reasoning: 35 } });
    // The whole recording ends with finishReason STOP: no failure, and the last event's counts.
    const whole = await collect(
      adapter.stream(
        chatRequest('x', { stream: true }),
        call(registry, 'gemini', 'mock-text').target,
        new AbortController().signal,
      ),
    );
    expect(whole.usageEvents).toBe(1);
    expect(whole.usage).toMatchObject({ input: { uncached: 18 }, output: { text: 80, reasoning: 35 } });
  });
});

describe('recorded error bodies', () => {
  it.each([
    ['openai', 'mock-error-400', 'bad_request', 400, "Unsupported parameter: 'max_tokens'"],
    ['anthropic', 'mock-error-400', 'bad_request', 400, "does not support effort level 'xhigh'"],
    ['gemini', 'mock-error-404', 'not_found', 502, 'is not found for API version v1beta'],
    ['gemini', 'mock-rate-limited', 'rate_limited', 429, 'You exceeded your current quota'],
  ])('%s %s → %s', async (providerId, model, kind, status, message) => {
    const { adapter, target } = call(registry, providerId, model);
    const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
    expect([error.kind, error.status]).toEqual([kind, status]);
    expect(error.message).toContain(message);
  });
});

describe('connection failures', () => {
  it('maps a refused connection to network (502) after the safe retries', async () => {
    const refused = registryFor('http://127.0.0.1:1', { maxRetries: 2 });
    try {
      const { adapter, target } = call(refused, 'openai', 'gpt-4o-mini');
      const error = await failure(adapter.complete(chatRequest('x'), target, new AbortController().signal));
      expect([error.kind, error.status, error.retryable]).toEqual(['network', 502, true]);
      expect(error.message).toContain('ECONNREFUSED');
    } finally {
      await refused.close();
    }
  });
});
