import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { relayableChunk } from './openai-compatible-adapter.js';

/** The data payloads of the recorded OpenAI chat stream (a tool call, asked with include_usage). */
const recorded = readFileSync(
  new URL('../../../fixtures/provider-responses/openai/openai-chat-tool-call.sse', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
  .map((line) => line.slice('data: '.length));

function withoutUsage(payload: Record<string, unknown>): Record<string, unknown> {
  const { usage: _usage, ...rest } = payload;
  return rest;
}

describe('relaying an upstream chunk as it was sent', () => {
  it('cuts OpenAI\'s "usage":null out of every recorded chunk, leaving the rest byte for byte', () => {
    const chunks = recorded.map((data) => ({ data, payload: JSON.parse(data) as Record<string, unknown> }));
    const withNull = chunks.filter(({ payload }) => payload.usage === null);
    expect(withNull.length).toBeGreaterThan(3);
    for (const { data, payload } of withNull) {
      const relayed = relayableChunk(data, payload);
      expect(relayed).toBeDefined();
      expect(JSON.parse(relayed!)).toEqual(withoutUsage(payload));
      // Only the key, its value and one comma went: the upstream's own spelling of everything else stays.
      expect(data.length - relayed!.length).toBe(',"usage":null'.length);
    }
  });

  it('passes a chunk without usage unchanged, and cuts a null usage wherever it stands among the keys', () => {
    const plain = '{"id":"c1","choices":[{"index":0,"delta":{"content":"h\\u00e9"}}]}';
    expect(relayableChunk(plain, JSON.parse(plain))).toBe(plain);
    for (const data of [
      '{"usage":null,"id":"c1","choices":[]}',
      '{"id":"c1","usage" : null ,"choices":[]}',
      '{"id":"c1","choices":[],"usage": null}',
    ]) {
      const relayed = relayableChunk(data, JSON.parse(data));
      expect(JSON.parse(relayed!)).toEqual({ id: 'c1', choices: [] });
    }
  });

  it('leaves to re-serialising a running usage, a null usage that is the only key, and text that spells a usage key', () => {
    const running = '{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}';
    expect(relayableChunk(running, JSON.parse(running))).toBeUndefined();
    expect(relayableChunk('{"usage":null}', { usage: null })).toBeUndefined();
    // A nested object with its own "usage" key: which one is the chunk's is not a text search's call.
    const nested = '{"id":"c1","choices":[{"index":0,"delta":{"tool":{"usage":1}}}],"usage":null}';
    // A key spelled with an escape is the same key to JSON but not to the text search.
    const escaped = '{"id":"c1","choices":[],"\\u0075sage":null}';
    expect(JSON.parse(escaped)).toEqual({ id: 'c1', choices: [], usage: null });
    expect(relayableChunk(escaped, JSON.parse(escaped))).toBeUndefined();
    // The chunk's own usage (not null) spelled with an escape, and a null "usage" in a nested object: the text
    // search finds only the nested key, which is not the chunk's, so nothing is cut.
    const hidden = '{"id":"c1","choices":[{"index":0,"delta":{"x":1,"usage":null}}],"\\u0075sage":{"prompt_tokens":3}}';
    expect(JSON.parse(hidden)).toMatchObject({ usage: { prompt_tokens: 3 } });
    expect(relayableChunk(hidden, JSON.parse(hidden))).toBeUndefined();
    expect(relayableChunk(nested, JSON.parse(nested))).toBeUndefined();
    // Content that quotes the key is escaped inside its string, so the one real key is still found and cut.
    const quoted = '{"id":"c1","choices":[{"index":0,"delta":{"content":"\\"usage\\":null,"}}],"usage":null}';
    expect(JSON.parse(relayableChunk(quoted, JSON.parse(quoted))!)).toEqual(withoutUsage(JSON.parse(quoted)));
  });
});
