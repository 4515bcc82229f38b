import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { atChunkTime, chunkOf, thrown } from '../../../test/support/translator-checks.js';
import { toGeminiRequest } from './gemini-request.js';
import { GeminiStreamTranslator, finishReason, fromGeminiResponse } from './gemini-response.js';

const recording = (name: string) =>
  readFileSync(new URL(`../../../fixtures/provider-responses/google/${name}`, import.meta.url), 'utf8');

describe('toGeminiRequest', () => {
  it('maps system, roles, generation settings, tools and tool results', () => {
    const body = toGeminiRequest({
      model: 'gemini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
      max_tokens: 50,
      temperature: 0.2,
      stop: ['END'],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      response_format: { type: 'json_object' },
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { result: 'sunny' } } }] },
      ],
      generationConfig: { maxOutputTokens: 50, temperature: 0.2, stopSequences: ['END'], responseMimeType: 'application/json' },
      tools: [{ functionDeclarations: [{ name: 'weather', parametersJsonSchema: { type: 'object' } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } },
    });
  });

  it('refuses a tool result for a call it never saw', () => {
    expect(() => toGeminiRequest({ model: 'g', messages: [{ role: 'tool', tool_call_id: 'zz', content: 'x' }] })).toThrow(
      'unknown tool_call_id "zz"',
    );
  });
});

describe('Gemini responses', () => {
  it('maps the recorded functionCall to a tool call', () => {
    const { body, usage } = fromGeminiResponse(JSON.parse(recording('google-tool-call.json')), 'gemini-3-pro-preview');
    const choice = body.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    expect(choice?.message.tool_calls?.[0]?.function.name).toBe('weather');
    expect(usage?.output.reasoning).toBe(893);
  });

  it('separates thought summaries from the answer in the recorded thinking stream', () => {
    const translator = new GeminiStreamTranslator('gemini-2.5-pro');
    let answer = '';
    let thoughts = '';
    for (const block of recording('gemini-thinking.sse').split(/\r?\n\r?\n/)) {
      if (!block.startsWith('data:')) continue;
      for (const chunk of translator.translate(JSON.parse(block.slice(5)))) {
        answer += chunk.choices[0]?.delta.content ?? '';
        thoughts += (chunk.choices[0]?.delta.reasoning_content as string | undefined) ?? '';
      }
    }
    expect(thoughts.length).toBeGreaterThan(0);
    expect(answer).toMatch(/stay alert and be predictable/);
    expect(answer).not.toContain(thoughts.slice(0, 40));
    expect(translator.usage()?.output.reasoning).toBe(787);
  });
});

/** The events of a recorded `.chunks.txt` stream, one JSON payload a line. */
const events = (name: string): unknown[] =>
  recording(name)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);

describe('what a Gemini answer is billed', () => {
  afterEach(() => vi.useRealTimers());
  const at = atChunkTime;

  it.each([
    [undefined, false, null],
    [null, false, null],
    ['FINISH_REASON_UNSPECIFIED', true, null],
    ['MAX_TOKENS', true, 'length'],
    ['SAFETY', false, 'content_filter'],
    ['RECITATION', false, 'content_filter'],
    ['BLOCKLIST', false, 'content_filter'],
    ['PROHIBITED_CONTENT', false, 'content_filter'],
    ['SPII', false, 'content_filter'],
    ['IMAGE_SAFETY', true, 'content_filter'],
    ['STOP', false, 'stop'],
    ['STOP', true, 'tool_calls'],
    ['OTHER', false, 'stop'],
  ])('finishReason %s (tool calls: %s) is %s', (reason, hasToolCalls, expected) => {
    expect(finishReason(reason, hasToolCalls)).toBe(expected);
  });

  it('the recorded text answer becomes this chat.completion: 9 in, 28 out and 244 of thought, all billed', () => {
    at();
    const { body, usage } = fromGeminiResponse(JSON.parse(recording('google-text.json')), 'gemini-3-pro');
    expect(body).toEqual({
      id: 'Un6LacrVMcjUxs0PmJfWoQc',
      object: 'chat.completion',
      created: 1_767_225_600,
      model: 'gemini-3-pro-preview',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
          },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 9,
        completion_tokens: 272,
        total_tokens: 281,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 244 },
      },
    });
    expect(usage?.input).toEqual({ uncached: 9, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(usage?.output).toEqual({ text: 28, reasoning: 244, audio: 0 });
  });

  it('the recorded implicit cache hit: 230 of the 345 prompt tokens read from cache', () => {
    const { body, usage } = fromGeminiResponse(JSON.parse(recording('gemini-implicit-cache.json')), 'gemini-2.5-flash');
    expect(usage?.input).toEqual({ uncached: 115, cacheRead: 230, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(body.usage).toEqual({
      prompt_tokens: 345,
      completion_tokens: 37,
      total_tokens: 382,
      prompt_tokens_details: { cached_tokens: 230 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('the recorded function call: call_0 with its arguments, content null, finish tool_calls', () => {
    const { body } = fromGeminiResponse(JSON.parse(recording('google-tool-call.json')), 'gemini-3-pro');
    expect(body.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_0', type: 'function', function: { name: 'weather', arguments: '{"location":"San Francisco"}' } },
        ],
      },
      finish_reason: 'tool_calls',
      logprobs: null,
    });
  });

  it('thought parts are reasoning; calls are numbered in order, args default to {}; parts that are not objects are skipped', () => {
    const { body, usage } = fromGeminiResponse(
      {
        candidates: [
          {
            content: {
              parts: [
                { text: 'Weighing it. ', thought: true },
                'text',
                null,
                { text: 'Calling both.' },
                { functionCall: { name: 'lookup', args: { q: 1 } } },
                { functionCall: { name: 'refresh' } },
                { functionCall: 'weather' },
                { text: 'Done.', thought: 'true' },
              ],
            },
            finishReason: 'STOP',
          },
          { content: { parts: [{ text: 'second candidate' }] } },
        ],
      },
      'gemini-2.5-pro',
    );
    expect(body.id).toBe('');
    expect(body.model).toBe('gemini-2.5-pro');
    expect(body.choices[0]?.message).toEqual({
      role: 'assistant',
      content: 'Calling both.Done.',
      reasoning_content: 'Weighing it. ',
      tool_calls: [
        { id: 'call_0', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
        { id: 'call_1', type: 'function', function: { name: 'refresh', arguments: '{}' } },
      ],
    });
    expect(body.choices[0]?.finish_reason).toBe('tool_calls');
    // No usageMetadata: nothing billed from the answer (the gateway estimates), no usage in the body.
    expect(usage).toBeUndefined();
    expect(body).not.toHaveProperty('usage');
  });

  it('a prompt blocked before generation (promptFeedback.blockReason, no candidates) finishes as content_filter', () => {
    const { body, usage } = fromGeminiResponse(
      { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 } },
      'gemini-2.5-flash',
    );
    expect(body.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: '' },
      finish_reason: 'content_filter',
      logprobs: null,
    });
    // The blocked prompt's tokens are still reported, and billed.
    expect(usage?.input.uncached).toBe(12);
    expect(body.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 0, total_tokens: 12 });
    // Feedback without a block reason, a candidate that is not an object, content without parts: an empty stop.
    for (const raw of [
      { promptFeedback: { blockReason: '' } },
      { promptFeedback: 'blocked' },
      { candidates: ['x'] },
      { candidates: [{ content: { parts: 'x' } }] },
      { candidates: [{ content: 'x' }] },
      { candidates: {} },
    ]) {
      expect(fromGeminiResponse(raw, 'g').body.choices[0]).toEqual({
        index: 0,
        message: { role: 'assistant', content: '' },
        finish_reason: 'stop',
        logprobs: null,
      });
    }
  });

  it('refuses a body that is not an object as invalid_response', () => {
    for (const raw of [null, 'text', 3]) {
      const error = thrown(() => fromGeminiResponse(raw, 'g'));
      expect([error.kind, error.message]).toEqual(['invalid_response', 'gemini answered with a body that is not an object']);
    }
  });

  it('streams the recorded text answer: the role once, each text, then the finish; the last usage is billed', () => {
    at();
    const translator = new GeminiStreamTranslator('gemini-3-pro');
    const chunks = events('google-text.chunks.txt').map((event) => translator.translate(event));
    const id = 'bH6LaZW8Fp_3nsEPqtaSwQ4';
    const model = 'gemini-3-pro-preview';
    expect(chunks).toEqual([
      [chunkOf(id, model, { role: 'assistant', content: 'There are **3**' })],
      [chunkOf(id, model, { content: ' "r"s in strawberry.\n\nst**r**awbe**rr**y' })],
      [chunkOf(id, model, {}, 'stop')],
    ]);
    expect(translator.usage()?.input).toEqual({ uncached: 9, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(translator.usage()?.output).toEqual({ text: 23, reasoning: 185, audio: 0 });
  });

  it('streams the recorded function call as call_0 and finishes with tool_calls in the next event', () => {
    at();
    const translator = new GeminiStreamTranslator('gemini-3-pro');
    const chunks = events('google-tool-call.chunks.txt').map((event) => translator.translate(event));
    const id = 'b36LacjwM668nsEP2tbsgQQ';
    const model = 'gemini-3-pro-preview';
    expect(chunks).toEqual([
      [
        chunkOf(id, model, {
          role: 'assistant',
          tool_calls: [
            {
              index: 0,
              id: 'call_0',
              type: 'function',
              function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
            },
          ],
        }),
      ],
      [chunkOf(id, model, {}, 'tool_calls')],
    ]);
    expect(translator.usage()?.input.uncached).toBe(29);
    expect(translator.usage()?.output).toEqual({ text: 15, reasoning: 45, audio: 0 });
  });

  it('numbers calls across events, keeps the requested model and the last usage given, reads thoughts as reasoning', () => {
    at();
    const translator = new GeminiStreamTranslator('gemini-2.5-pro');
    expect(translator.usage()).toBeUndefined();
    expect(
      translator.translate({
        responseId: 7,
        modelVersion: null,
        candidates: [{ content: { parts: [{ text: 'Hm.', thought: true }, { functionCall: { name: 'a' } }] } }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2 },
      }),
    ).toEqual([
      chunkOf('', 'gemini-2.5-pro', {
        role: 'assistant',
        reasoning_content: 'Hm.',
        tool_calls: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'a', arguments: '{}' } }],
      }),
    ]);
    expect(
      translator.translate({
        responseId: 'r1',
        candidates: [{ content: { parts: [{ functionCall: { name: 'b', args: { x: 1 } } }] } }],
      }),
    ).toEqual([
      chunkOf('r1', 'gemini-2.5-pro', {
        tool_calls: [{ index: 1, id: 'call_1', type: 'function', function: { name: 'b', arguments: '{"x":1}' } }],
      }),
    ]);
    // An event with nothing new gives no chunk; its missing usage keeps the last one.
    expect(translator.translate({ candidates: [{ content: { parts: [] } }] })).toEqual([]);
    expect(
      translator.translate({
        candidates: [{ finishReason: 'MAX_TOKENS' }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 6 },
      }),
    ).toEqual([chunkOf('r1', 'gemini-2.5-pro', {}, 'length')]);
    expect(translator.translate({ candidates: [{ finishReason: 'STOP' }] })).toEqual([
      chunkOf('r1', 'gemini-2.5-pro', {}, 'tool_calls'),
    ]);
    expect(translator.usage()?.input.uncached).toBe(10);
    expect(translator.usage()?.output.text).toBe(6);
  });

  it('is finished once an event says why generation ended: a finishReason, or a blocked prompt; not by text or usage', () => {
    const running = new GeminiStreamTranslator('g');
    running.translate({
      candidates: [{ content: { parts: [{ text: 'Hel' }] } }],
      usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 1 },
    });
    // An unspecified reason maps to no finish_reason, so it is no end either.
    running.translate({ candidates: [{ content: { parts: [{ text: 'lo' }] }, finishReason: 'FINISH_REASON_UNSPECIFIED' }] });
    expect(running.finished).toBe(false);
    running.translate({ candidates: [{ finishReason: 'STOP' }] });
    expect(running.finished).toBe(true);
    // The text after it does not undo it.
    running.translate({ candidates: [{ content: { parts: [{ text: '!' }] } }] });
    expect(running.finished).toBe(true);

    const blocked = new GeminiStreamTranslator('g');
    expect(blocked.finished).toBe(false);
    blocked.translate({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 9 } });
    expect(blocked.finished).toBe(true);
  });

  it('an error event fails the stream as a server error named by its message or status; a non-object is invalid', () => {
    const translator = new GeminiStreamTranslator('g');
    const cases: Array<[unknown, string]> = [
      [
        { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
        'gemini failed mid-stream: Internal error encountered.',
      ],
      [{ code: 503, status: 'UNAVAILABLE' }, 'gemini failed mid-stream: UNAVAILABLE'],
    ];
    for (const [error, message] of cases) {
      const failure = thrown(() => translator.translate({ error }));
      expect([failure.kind, failure.message]).toEqual(['server_error', message]);
    }
    expect(translator.translate({ error: 'overloaded' })).toEqual([
      expect.objectContaining({ choices: [expect.objectContaining({ delta: { role: 'assistant' } })] }),
    ]);
    const invalid = thrown(() => translator.translate(['event']));
    expect([invalid.kind, invalid.message]).toEqual(['invalid_response', 'gemini sent a stream event that is not an object']);
  });
});
