import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countTextTokens, estimatePromptTokens, TokenCountCache, truncateToTokens } from './token-estimate.js';
import type { ToolCall } from './types.js';

describe('token counts (o200k_base)', () => {
  it('counts text tokens', () => {
    expect(countTextTokens('')).toBe(0);
    expect(countTextTokens('Hello world')).toBe(2);
  });

  it('treats special-token text typed by a client as plain text instead of throwing', () => {
    expect(countTextTokens('a <|endoftext|> b')).toBeGreaterThan(3);
  });

  it('counts a chat prompt as OpenAI does: 3 per message, 3 for the reply, role and content', () => {
    // "system" 1 + "You are terse." 4, "user" 1 + "Hello world" 2, 3 + 3 per message, 3 priming the reply.
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Hello world' },
    ];
    expect(estimatePromptTokens(messages)).toBe(3 + (3 + 1 + countTextTokens('You are terse.')) + (3 + 1 + 2));
  });

  it('counts text parts, a fixed ceiling per image, and tool calls', () => {
    const withImage = estimatePromptTokens([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hello world' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        ],
      },
    ]);
    expect(withImage).toBe(3 + 3 + 1 + 2 + 1105);
    const withCall = estimatePromptTokens([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c', type: 'function', function: { name: 'weather', arguments: '{}' } }],
      },
    ]);
    expect(withCall).toBe(3 + 3 + countTextTokens('assistant') + countTextTokens('weather') + countTextTokens('{}'));
  });

  it('cuts a text on a token boundary', () => {
    expect(truncateToTokens('Hello world, how are you?', 2)).toEqual({ text: 'Hello world', tokens: 2 });
    expect(truncateToTokens('Hello', 10)).toEqual({ text: 'Hello', tokens: 1 });
  });

  it('counts a prompt the same the first time and every time after (the cache is exact)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 200 }), { minLength: 1, maxLength: 4 }), (texts) => {
        const messages = texts.map((text) => ({ role: 'user' as const, content: text }));
        const expected = 3 + texts.reduce((sum, text) => sum + 3 + 1 + countTextTokens(text), 0);
        expect(estimatePromptTokens(messages)).toBe(expected);
        expect(estimatePromptTokens(messages)).toBe(expected);
      }),
    );
  });

  it('keeps at most its characters, evicting the least recently used text first', () => {
    const cache = new TokenCountCache(60); // texts of up to 15 characters are kept
    const texts = ['alpha beta', 'gamma delta', 'epsilon zeta', 'eta theta iota'];
    for (const text of texts) expect(cache.count(text)).toBe(countTextTokens(text));
    expect([cache.size, cache.chars]).toEqual([4, 47]);
    expect(cache.count('alpha beta')).toBe(countTextTokens('alpha beta')); // now the most recently used
    expect(cache.count('kappa lambda mu')).toBe(countTextTokens('kappa lambda mu')); // 62 > 60: 'gamma delta' goes
    expect([cache.size, cache.chars]).toEqual([4, 47 - 11 + 15]);
    // Evicted, 'gamma delta' is counted again and kept again, pushing out the next least recently used.
    expect(cache.count('gamma delta')).toBe(countTextTokens('gamma delta'));
    expect([cache.size, cache.chars]).toEqual([4, 51 - 12 + 11]);
    // A text longer than a quarter of the budget is counted, not kept.
    expect(cache.count('a text longer than 15')).toBe(countTextTokens('a text longer than 15'));
    expect([cache.size, cache.chars]).toEqual([4, 50]);
  });

  it('counts a tool call of another shape than a function call as its JSON instead of failing', () => {
    const custom = { id: 'c', type: 'custom', custom: { name: 'grep', input: 'TODO' } };
    const calls = [custom, 1, { function: { name: 'weather' } }];
    const counted = estimatePromptTokens([{ role: 'assistant', content: null, tool_calls: calls as unknown as ToolCall[] }]);
    const asJson = calls.reduce<number>((sum, call) => sum + countTextTokens(JSON.stringify(call)), 0);
    expect(counted).toBe(3 + 3 + countTextTokens('assistant') + asJson);
  });
});
