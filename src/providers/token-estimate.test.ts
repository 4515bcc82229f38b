import { describe, expect, it } from 'vitest';
import { countTextTokens, estimatePromptTokens, truncateToTokens } from './token-estimate.js';

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
});
