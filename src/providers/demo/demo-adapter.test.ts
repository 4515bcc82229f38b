import { describe, expect, it } from 'vitest';
import { countTextTokens, estimatePromptTokens } from '../token-estimate.js';
import type { ChatCompletionRequest, StreamEvent, UpstreamTarget } from '../types.js';
import { DemoAdapter } from './demo-adapter.js';

const target: UpstreamTarget = { providerId: 'demo', upstreamModel: 'demo-model', baseUrl: '', apiKey: undefined };
const request: ChatCompletionRequest = {
  model: 'demo-model',
  messages: [{ role: 'user', content: 'What is the price of three tokens?' }],
};
const adapter = new DemoAdapter();

describe('DemoAdapter', () => {
  it('answers deterministically about the last user message, with exact token counts', async () => {
    const first = await adapter.complete(request, target, new AbortController().signal);
    const second = await adapter.complete(request, target, new AbortController().signal);
    const text = first.body.choices[0]?.message.content as string;
    expect(text).toBe(
      'This is the tollgate demo model. Your message had 7 words and 34 characters, beginning "What is the price of three tokens?". ' +
        'Every token of this answer was counted and priced.',
    );
    expect(second.body).toEqual({ ...first.body, created: second.body.created });
    expect(first.usage?.input.uncached).toBe(estimatePromptTokens(request.messages));
    expect(first.usage?.output.text).toBe(countTextTokens(text));
    expect(first.usage?.estimated).toBe(false);
    expect(first.body.choices[0]?.finish_reason).toBe('stop');
  });

  it('honours max_tokens and says the answer was cut', async () => {
    const result = await adapter.complete({ ...request, max_tokens: 5 }, target, new AbortController().signal);
    expect(result.usage?.output.text).toBe(5);
    expect(countTextTokens(result.body.choices[0]?.message.content as string)).toBe(5);
    expect(result.body.choices[0]?.finish_reason).toBe('length');
  });

  it('streams the same text and ends with one usage event', async () => {
    const plain = await adapter.complete(request, target, new AbortController().signal);
    const events: StreamEvent[] = [];
    for await (const event of adapter.stream(request, target, new AbortController().signal)) events.push(event);
    const text = events.map((event) => (event.type === 'chunk' ? (event.chunk.choices[0]?.delta.content ?? '') : '')).join('');
    expect(text).toBe(plain.body.choices[0]?.message.content);
    expect(events.filter((event) => event.type === 'usage')).toEqual([{ type: 'usage', usage: plain.usage }]);
    expect(events[events.length - 1]?.type).toBe('usage');
  });

  it('stops streaming when the client aborts', async () => {
    const controller = new AbortController();
    let chunks = 0;
    const reading = (async () => {
      for await (const event of adapter.stream(request, target, controller.signal)) {
        if (event.type === 'chunk') chunks += 1;
        if (chunks === 3) controller.abort(new Error('gone'));
      }
    })();
    await expect(reading).rejects.toThrow('gone');
    expect(chunks).toBe(3);
  });
});
