import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderRegistry } from '../src/providers/registry.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { chatRequest, collect, counts, expectedUsage, registryFor } from './support/provider-harness.js';

/**
 * One suite over every upstream adapter against the mock upstream replaying recorded real responses:
 * plain and streamed text, and usage normalised to known numbers from each recording.
 */
const OPENAI_FORMAT_IDS = [
  'openai',
  'nosana',
  'deepinfra',
  'featherless',
  'openrouter',
  'together',
  'groq',
  'fireworks',
  'cerebras',
  'hyperbolic',
  'sambanova',
  'lambda',
  'mistral',
  'deepseek',
  'xai',
  'perplexity',
  'moonshot',
  'nscale',
];

type Expected = ReturnType<typeof expectedUsage>;
interface Family {
  providerIds: string[];
  plain: { text: RegExp; usage: Expected };
  stream: { text: RegExp; usage: Expected; chunks: number };
  /** Non-streaming scenario → normalised usage, from the recording's own numbers. */
  usages: Record<string, Expected>;
  streamUsages: Record<string, Expected>;
}

const FAMILIES: Record<string, Family> = {
  'openai-format': {
    providerIds: OPENAI_FORMAT_IDS,
    plain: { text: /^\*\*Holiday Name:\*\* Galaxy Day/, usage: expectedUsage({ uncached: 16, text: 363 }) },
    // 303 recorded chunks; the last, usage-only one (choices: []) becomes the usage event.
    stream: { text: /^\*\*Holiday Name:\*\* Harmony Day/, usage: expectedUsage({ uncached: 16, text: 300 }), chunks: 302 },
    usages: {
      reasoning: expectedUsage({ uncached: 7, text: 23, reasoning: 64 }),
      'cache-hit': expectedUsage({ uncached: 8, cacheRead: 4012, text: 4 }),
      'cache-write': expectedUsage({ uncached: 8, cacheWrite: 4012, text: 4 }),
      // xAI: completion 2 excludes reasoning 320 (total 334 = 12 + 2 + 320).
      xai: expectedUsage({ uncached: 10, cacheRead: 2, text: 2, reasoning: 320 }),
    },
    streamUsages: {
      reasoning: expectedUsage({ uncached: 15, text: 14, reasoning: 64 }),
      'cache-hit': expectedUsage({ uncached: 1, cacheRead: 11, text: 2, reasoning: 340 }),
    },
  },
  anthropic: {
    providerIds: ['anthropic'],
    plain: { text: /^Hello! I'm doing well/, usage: expectedUsage({ uncached: 12, text: 29 }) },
    stream: { text: /^2$/, usage: expectedUsage({ uncached: 20, text: 5 }), chunks: 3 },
    usages: {
      'cache-hit': expectedUsage({ uncached: 3, cacheWrite: 418, cacheRead: 1111, text: 33 }),
      reasoning: expectedUsage({ uncached: 69, text: 33 }),
    },
    streamUsages: {
      // message_delta's totals (all server-tool iterations) replace message_start's.
      'cache-hit': expectedUsage({ uncached: 6, cacheWrite: 3337, cacheRead: 6289, text: 198 }),
      reasoning: expectedUsage({ uncached: 69, text: 53 }),
    },
  },
  gemini: {
    providerIds: ['gemini', 'vertex_ai', 'google'],
    plain: { text: /^There are \*\*3\*\* r's in strawberry/, usage: expectedUsage({ uncached: 9, text: 28, reasoning: 244 }) },
    stream: { text: /^1\n2\n3\n[\s\S]*\n29\n30$/, usage: expectedUsage({ uncached: 18, text: 80, reasoning: 35 }), chunks: 4 },
    usages: {
      reasoning: expectedUsage({ uncached: 9, text: 29, reasoning: 282 }),
      'cache-hit': expectedUsage({ uncached: 8, cacheRead: 3512, text: 2, reasoning: 42 }),
      'cache-write': expectedUsage({ uncached: 115, cacheRead: 230, text: 37 }),
    },
    streamUsages: { reasoning: expectedUsage({ uncached: 34, text: 469, reasoning: 787 }) },
  },
};

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

function call(providerId: string, model: string) {
  const adapter = registry.adapterFor(providerId);
  if (!adapter) throw new Error(`no adapter ${providerId}`);
  return { adapter, target: registry.targetFor(providerId, model) };
}

describe.each(Object.entries(FAMILIES))('%s adapters', (_family, family) => {
  describe.each(family.providerIds)('%s', (providerId) => {
    it('answers a plain call in chat.completion shape with usage normalised', async () => {
      const { adapter, target } = call(providerId, 'model-a');
      const result = await adapter.complete(chatRequest('client-name'), target, new AbortController().signal);
      expect(result.body.object).toBe('chat.completion');
      expect(result.body.choices[0]?.message.content).toMatch(family.plain.text);
      expect(result.body.choices[0]?.finish_reason).toBe('stop');
      expect(counts(result.usage)).toEqual(family.plain.usage);
      expect(result.usage?.raw).toBeDefined();
      expect(mock.requests).toHaveLength(1);
    });

    it('streams chunks without usage and one usage event', async () => {
      const { adapter, target } = call(providerId, 'model-a');
      const collected = await collect(
        adapter.stream(chatRequest('client-name', { stream: true }), target, new AbortController().signal),
      );
      expect(collected.text).toMatch(family.stream.text);
      expect(collected.chunks).toHaveLength(family.stream.chunks);
      expect(collected.chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && !('usage' in chunk))).toBe(true);
      expect(collected.finishReasons).toEqual(['stop']);
      expect(collected.usageEvents).toBe(1);
      expect(counts(collected.usage)).toEqual(family.stream.usage);
      expect(mock.counts).toEqual({ completed: 1, aborted: 0 });
    });

    it.each(Object.entries(family.usages))('normalises the %s recording', async (scenario, expected) => {
      const { adapter, target } = call(providerId, `mock-${scenario}`);
      const result = await adapter.complete(chatRequest(`mock-${scenario}`), target, new AbortController().signal);
      expect(mock.requests[0]?.scenario).toBe(scenario);
      expect(counts(result.usage)).toEqual(expected);
    });

    it.each(Object.entries(family.streamUsages))('normalises the streamed %s recording', async (scenario, expected) => {
      const { adapter, target } = call(providerId, `mock-${scenario}`);
      const collected = await collect(
        adapter.stream(chatRequest(`mock-${scenario}`, { stream: true }), target, new AbortController().signal),
      );
      expect(counts(collected.usage)).toEqual(expected);
      expect(collected.usageEvents).toBe(1);
    });

    it('yields no usage event when the provider sent none', async () => {
      const { adapter, target } = call(providerId, 'mock-no-usage');
      const collected = await collect(adapter.stream(chatRequest('x', { stream: true }), target, new AbortController().signal));
      expect(collected.usageEvents).toBe(0);
      expect(collected.text).toMatch(family.stream.text);
    });
  });
});
