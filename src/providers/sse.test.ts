import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonEvents, parseServerSentEvents, type ServerSentEvent } from './sse.js';

const fixture = (path: string) => readFileSync(new URL(`../../fixtures/provider-responses/${path}`, import.meta.url));

async function* inPieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size);
}

async function events(bytes: Uint8Array, size: number): Promise<ServerSentEvent[]> {
  const result: ServerSentEvent[] = [];
  for await (const event of parseServerSentEvents(inPieces(bytes, size))) result.push(event);
  return result;
}

describe('parseServerSentEvents', () => {
  it('reads the recorded Anthropic stream with event names, split at every byte boundary', async () => {
    const bytes = fixture('anthropic/anthropic-text.sse');
    const whole = await events(bytes, bytes.length);
    expect(whole.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const size of [1, 2, 3, 7, 64]) expect(await events(bytes, size)).toEqual(whole);
  });

  it('reads the recorded Gemini stream whose lines end in CRLF, even with CR and LF in different chunks', async () => {
    const bytes = fixture('google/gemini-text.sse');
    const parsed = await events(bytes, 1);
    expect(parsed).toHaveLength(3);
    expect(parsed.every((event) => event.event === 'message')).toBe(true);
    expect(JSON.parse(parsed[2]?.data ?? '').usageMetadata.candidatesTokenCount).toBe(80);
  });

  it('keeps a multi-byte character split across chunks intact', async () => {
    const bytes = new TextEncoder().encode('data: {"text":"a—b 😀"}\n\n');
    const [event] = await events(bytes, 1);
    expect(JSON.parse(event?.data ?? '').text).toBe('a—b 😀');
  });

  it('joins data lines, skips comments, drops one leading space and delivers a last event without its blank line', async () => {
    const bytes = new TextEncoder().encode(': keep-alive\nevent: a\ndata:  two spaces\ndata:x\n\ndata: last');
    expect(await events(bytes, 5)).toEqual([
      { event: 'a', data: ' two spaces\nx' },
      { event: 'message', data: 'last' },
    ]);
  });
});

/** The spec's algorithm on a whole text, line by line (the oracle): what any chunking must give. */
function referenceEvents(text: string): ServerSentEvent[] {
  const result: ServerSentEvent[] = [];
  let name = '';
  let data: string[] | undefined;
  for (const line of [...text.split(/\r\n|\r|\n/), '']) {
    if (line === '') {
      if (data) result.push({ event: name || 'message', data: data.join('\n') });
      name = '';
      data = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') (data ??= []).push(value);
    else if (field === 'event') name = value;
  }
  return result;
}

describe('parseServerSentEvents, property', () => {
  const text = fc
    .array(fc.constantFrom('a', 'z', ' ', '{', '}', '"', ':', ',', 'é', '😀'), { maxLength: 12 })
    .map((characters) => characters.join(''));
  const line = fc.oneof(
    fc.tuple(fc.constantFrom('data:', 'data: ', 'event:', ': comment ', 'data'), text).map(([field, value]) => field + value),
    fc.constant(''),
  );
  const ending = fc.constantFrom('\n', '\r', '\r\n');

  it('gives the events of the spec whatever line endings are used and wherever the network splits the bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(line, ending), { maxLength: 25 }),
        fc.integer({ min: 1, max: 40 }),
        async (lines, size) => {
          const whole = lines.map(([content, end]) => content + end).join('');
          const bytes = new TextEncoder().encode(whole);
          expect(await events(bytes, size)).toEqual(referenceEvents(whole));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('parseJsonEvents', () => {
  it('stops at [DONE] in the recorded OpenAI tool-call stream', async () => {
    const payloads: unknown[] = [];
    const never = (): never => {
      throw new Error('invalid');
    };
    for await (const { payload } of parseJsonEvents(inPieces(fixture('openai/openai-chat-tool-call.sse'), 13), never)) {
      payloads.push(payload);
    }
    const last = payloads[payloads.length - 1] as { choices: unknown[]; usage: { total_tokens: number } };
    expect(last.choices).toEqual([]);
    expect(last.usage.total_tokens).toBe(68);
  });

  it('skips events without data, trims what it parses, and reads a last event without its blank line', async () => {
    const never = (data: string): never => {
      throw new Error(`not JSON: ${JSON.stringify(data)}`);
    };
    const read = async (text: string, size: number) => {
      const seen: Array<{ event: string; payload: unknown; data: string }> = [];
      for await (const event of parseJsonEvents(inPieces(new TextEncoder().encode(text), size), never)) seen.push(event);
      return seen;
    };
    for (const size of [1, 7, 1_000]) {
      // An event of empty data (or only spaces) in the middle and at the end is no event; the last one has no
      // blank line after it and is still read, with its name.
      expect(await read('data:\n\ndata:  {"a":1}  \n\ndata:   \n\nevent: last\ndata: {"b":2}', size)).toEqual([
        { event: 'message', payload: { a: 1 }, data: '{"a":1}' },
        { event: 'last', payload: { b: 2 }, data: '{"b":2}' },
      ]);
      expect(await read('data: {"c":3}\n\ndata:', size)).toEqual([{ event: 'message', payload: { c: 3 }, data: '{"c":3}' }]);
      // [DONE] stops the stream, with spaces around it, and as the last event without its blank line.
      expect(await read('data: {"d":4}\n\ndata: [DONE] \n\ndata: {"never":true}\n\n', size)).toEqual([
        { event: 'message', payload: { d: 4 }, data: '{"d":4}' },
      ]);
      expect(await read('data: {"e":5}\n\ndata: [DONE]', size)).toEqual([
        { event: 'message', payload: { e: 5 }, data: '{"e":5}' },
      ]);
    }
  });

  it('hands an event that is not JSON to the caller', async () => {
    const bytes = new TextEncoder().encode('data: {"ok":1}\n\ndata: {broken\n\n');
    const seen: string[] = [];
    const reject = (data: string): never => {
      seen.push(data);
      throw new Error(`bad event ${data}`);
    };
    const reading = (async () => {
      for await (const _event of parseJsonEvents(inPieces(bytes, 4), reject));
    })();
    await expect(reading).rejects.toThrow('bad event {broken');
    expect(seen).toEqual(['{broken']);
  });
});
