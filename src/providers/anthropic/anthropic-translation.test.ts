import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { atChunkTime, chunkOf, thrown } from '../../../test/support/translator-checks.js';
import { UpstreamError } from '../types.js';
import { ANTHROPIC_DEFAULT_MAX_TOKENS, toAnthropicRequest } from './anthropic-request.js';
import { AnthropicStreamTranslator, finishReason, fromAnthropicResponse, openAIUsage } from './anthropic-response.js';

const recording = (name: string) =>
  readFileSync(new URL(`../../../fixtures/provider-responses/anthropic/${name}`, import.meta.url), 'utf8');

describe('toAnthropicRequest', () => {
  it('moves system messages to `system`, defaults max_tokens, maps stop, tools and tool_choice', () => {
    const body = toAnthropicRequest(
      {
        model: 'claude',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: 'Use metric units.' },
          { role: 'user', content: 'Weather in Paris?' },
        ],
        stop: 'END',
        tools: [{ type: 'function', function: { name: 'weather', description: 'Get weather', parameters: { type: 'object' } } }],
        tool_choice: 'required',
        user: 'user-7',
      },
      'claude-sonnet-4-5',
      false,
    );
    expect(body).toEqual({
      model: 'claude-sonnet-4-5',
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Use metric units.' },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }],
      max_tokens: ANTHROPIC_DEFAULT_MAX_TOKENS,
      stop_sequences: ['END'],
      tools: [{ name: 'weather', description: 'Get weather', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
      metadata: { user_id: 'user-7' },
    });
  });

  it('turns tool calls into tool_use blocks and merges tool results into one user turn; images by data URL', () => {
    const body = toAnthropicRequest(
      {
        model: 'claude',
        max_completion_tokens: 100,
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } }] },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
              { id: 'b', type: 'function', function: { name: 'g', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'a', content: 'one' },
          { role: 'tool', tool_call_id: 'b', content: 'two' },
        ],
      },
      'claude',
      true,
    );
    expect(body.max_tokens).toBe(100);
    expect(body.stream).toBe(true);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'a', name: 'f', input: { x: 1 } },
          { type: 'tool_use', id: 'b', name: 'g', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'a', content: [{ type: 'text', text: 'one' }] },
          { type: 'tool_result', tool_use_id: 'b', content: [{ type: 'text', text: 'two' }] },
        ],
      },
    ]);
  });

  it('refuses what Anthropic cannot express with a bad_request naming it', () => {
    const call = () => toAnthropicRequest({ model: 'c', n: 2, messages: [{ role: 'user', content: 'hi' }] }, 'c', false);
    expect(call).toThrow(UpstreamError);
    expect(call).toThrow('n other than 1');
  });
});

describe('Anthropic responses', () => {
  it('maps the recorded tool_use response to tool_calls with finish_reason tool_calls', () => {
    const { body, usage } = fromAnthropicResponse(JSON.parse(recording('anthropic-tool-no-args.json')));
    const choice = body.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.tool_calls?.[0]?.function.arguments).toBe('{}');
    expect(typeof choice?.message.content).toBe('string');
    expect(usage?.input.uncached).toBe(602);
    expect(body.usage).toMatchObject({ prompt_tokens: 602, completion_tokens: 93, total_tokens: 695 });
  });

  it('keeps thinking apart from the answer', () => {
    const { body } = fromAnthropicResponse(JSON.parse(recording('anthropic-thinking.json')));
    expect(typeof body.choices[0]?.message.reasoning_content).toBe('string');
    expect(body.choices[0]?.message.content).not.toContain(body.choices[0]?.message.reasoning_content as string);
  });

  it('streams the recorded tool call as OpenAI tool_call deltas whose arguments join to the JSON', () => {
    const translator = new AnthropicStreamTranslator();
    let name = '';
    let argumentsText = '';
    const finishes: string[] = [];
    for (const line of recording('anthropic-tool-call.chunks.txt').trim().split('\n')) {
      const chunk = translator.translate(JSON.parse(line));
      for (const call of chunk?.choices[0]?.delta.tool_calls ?? []) {
        name += call.function?.name ?? '';
        argumentsText += call.function?.arguments ?? '';
      }
      if (chunk?.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    expect(name).toBe('weather');
    expect(JSON.parse(argumentsText)).toEqual({ location: 'San Francisco' });
    expect(finishes).toEqual(['tool_calls']);
    expect(translator.usage()?.output.text).toBe(28);
  });

  it('turns an error event into an UpstreamError', () => {
    const translator = new AnthropicStreamTranslator();
    expect(() => translator.translate({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toThrow(
      'anthropic failed mid-stream: Overloaded',
    );
  });
});

/** Every chunk (or undefined) the translator gives for each line of a recorded stream, in order. */
function translateRecording(name: string): { translator: AnthropicStreamTranslator; chunks: unknown[] } {
  const translator = new AnthropicStreamTranslator();
  const chunks = recording(name)
    .trim()
    .split('\n')
    .map((line) => translator.translate(JSON.parse(line)));
  return { translator, chunks };
}

describe('what an Anthropic answer is billed', () => {
  afterEach(() => vi.useRealTimers());
  const at = atChunkTime;

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    [undefined, 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('stop_reason %s finishes as %s', (stopReason, expected) => {
    expect(finishReason(stopReason)).toBe(expected);
  });

  it("shapes usage as OpenAI's: every input kind in prompt_tokens, cache reads and reasoning in the details", () => {
    expect(openAIUsage(undefined)).toBeUndefined();
    expect(
      openAIUsage({
        input: { uncached: 3, cacheRead: 1111, cacheWrite: 418, cacheWrite1h: 20, audio: 7 },
        output: { text: 33, reasoning: 5, audio: 2 },
        requests: 1,
        images: 0,
        estimated: false,
      }),
    ).toEqual({
      prompt_tokens: 1559,
      completion_tokens: 40,
      total_tokens: 1599,
      prompt_tokens_details: { cached_tokens: 1111 },
      completion_tokens_details: { reasoning_tokens: 5 },
    });
  });

  it('the recorded text answer becomes this chat.completion, billed 12 in and 29 out', () => {
    at();
    const { body, usage } = fromAnthropicResponse(JSON.parse(recording('anthropic-text.json')));
    expect(body).toEqual({
      id: 'msg_01VdEjxAP5ahtHKrrRdNBteQ',
      object: 'chat.completion',
      created: 1_767_225_600,
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?",
          },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 29,
        total_tokens: 41,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(usage?.input).toEqual({ uncached: 12, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(usage?.output).toEqual({ text: 29, reasoning: 0, audio: 0 });
  });

  it('the recorded cache write and read: 3 uncached, 418 written, 1,111 read, all in prompt_tokens', () => {
    const { body, usage } = fromAnthropicResponse(JSON.parse(recording('anthropic-cache-read-write.json')));
    expect(usage?.input).toEqual({ uncached: 3, cacheRead: 1111, cacheWrite: 418, cacheWrite1h: 0, audio: 0 });
    expect(body.usage).toEqual({
      prompt_tokens: 1532,
      completion_tokens: 33,
      total_tokens: 1565,
      prompt_tokens_details: { cached_tokens: 1111 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('the recorded thinking answer: the thought as reasoning_content, the answer as content', () => {
    const { body } = fromAnthropicResponse(JSON.parse(recording('anthropic-thinking.json')));
    expect(body.choices[0]?.message).toEqual({
      role: 'assistant',
      content: '925 ÷ 5 = 185',
      reasoning_content: '925 divided by 5 = 185',
    });
  });

  it('the recorded tool call after text keeps both; its empty input is the arguments {}', () => {
    const { body } = fromAnthropicResponse(JSON.parse(recording('anthropic-tool-no-args.json')));
    const message = body.choices[0]?.message;
    expect(message?.content).toMatch(/^<thinking>\nThe updateIssueList tool[\s\S]*update the current issue list:$/);
    expect(message?.tool_calls).toEqual([
      { id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1', type: 'function', function: { name: 'updateIssueList', arguments: '{}' } },
    ]);
    expect(message).not.toHaveProperty('reasoning_content');
  });

  it('tool calls alone: content null; blocks that are not objects or lack their text are skipped', () => {
    const { body, usage } = fromAnthropicResponse({
      content: [
        null,
        'text',
        { type: 'text', text: 5 },
        { type: 'thinking', thinking: null },
        { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'x' } },
        { type: 'tool_use', id: 'toolu_2', name: 'refresh' },
      ],
      stop_reason: 'tool_use',
    });
    expect(body.id).toBe('');
    expect(body.model).toBe('');
    expect(body.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
        { id: 'toolu_2', type: 'function', function: { name: 'refresh', arguments: '{}' } },
      ],
    });
    // No usage reported: none billed from the answer (the gateway estimates), and no usage in the body.
    expect(usage).toBeUndefined();
    expect(body).not.toHaveProperty('usage');
  });

  it('an answer with neither text nor tool calls has empty content, not null', () => {
    const { body } = fromAnthropicResponse({ content: [], usage: { input_tokens: 4, output_tokens: 0 } });
    expect(body.choices[0]?.message).toEqual({ role: 'assistant', content: '' });
    expect(body.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 0, total_tokens: 4 });
  });

  it('refuses an answer without a content array as invalid_response', () => {
    for (const raw of [null, 'content', [], { content: 'text' }, {}]) {
      const error = thrown(() => fromAnthropicResponse(raw));
      expect([error.kind, error.message]).toEqual(['invalid_response', 'anthropic answered without a content array']);
    }
  });

  it('streams the recorded text answer chunk by chunk; usage from message_delta (30 out)', () => {
    at();
    const { translator, chunks } = translateRecording('anthropic-text.chunks.txt');
    const id = 'msg_01QC4g3HwBThD4BaNtBckFDJ';
    const model = 'claude-sonnet-4-5-20250929';
    expect(chunks).toEqual([
      chunkOf(id, model, { role: 'assistant', content: '' }),
      undefined, // the text block starts empty
      undefined, // ping
      chunkOf(id, model, { content: 'Hello' }),
      chunkOf(id, model, { content: '! I' }),
      chunkOf(id, model, { content: "'m doing well, thank you for asking" }),
      chunkOf(id, model, { content: '. How are you doing today?' }),
      chunkOf(id, model, { content: ' Is' }),
      chunkOf(id, model, { content: ' there anything I can help you with?' }),
      undefined, // content_block_stop
      chunkOf(id, model, {}, 'stop'),
      undefined, // message_stop
    ]);
    expect(translator.usage()?.input).toEqual({ uncached: 12, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(translator.usage()?.output).toEqual({ text: 30, reasoning: 0, audio: 0 });
  });

  it("streams the recorded text and tool call: the call's id and name first, an empty arguments delta dropped", () => {
    at();
    const { translator, chunks } = translateRecording('anthropic-tool-no-args.chunks.txt');
    const id = 'msg_01GE2RKp1VYsPzdFs3sS9z5S';
    const model = 'claude-sonnet-4-5-20250929';
    expect(chunks).toEqual([
      chunkOf(id, model, { role: 'assistant', content: '' }),
      undefined,
      chunkOf(id, model, { content: "I'll update the issue list for" }),
      chunkOf(id, model, { content: ' you.' }),
      undefined,
      undefined,
      undefined,
      chunkOf(id, model, {
        tool_calls: [
          {
            index: 0,
            id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP',
            type: 'function',
            function: { name: 'updateIssueList', arguments: '' },
          },
        ],
      }),
      undefined,
      undefined, // partial_json ""
      undefined,
      chunkOf(id, model, {}, 'tool_calls'),
      undefined,
    ]);
    expect(translator.usage()?.input.uncached).toBe(565);
    expect(translator.usage()?.output.text).toBe(48);
  });

  it('streams the recorded thinking as reasoning_content, billed 69 in and 53 out', () => {
    const { translator, chunks } = translateRecording('anthropic-thinking.chunks.txt');
    const deltas = chunks.flatMap((chunk) =>
      chunk === undefined ? [] : [(chunk as ReturnType<typeof chunkOf>).choices[0]!.delta],
    );
    const reasoning = deltas.map((delta) => (delta.reasoning_content as string | undefined) ?? '').join('');
    expect(reasoning).toMatch(/^The previous result was 925\. Now I need to divide that by 5\.\n\n925 ÷ 5 = 185/);
    expect(deltas.every((delta) => delta.reasoning_content === undefined || delta.content === undefined)).toBe(true);
    expect(translator.usage()?.input.uncached).toBe(69);
    expect(translator.usage()?.output.text).toBe(53);
  });

  it("the recorded server-tool stream: server tool inputs are no client's tool calls; message_delta's totals are billed", () => {
    const { translator, chunks } = translateRecording('anthropic-prompt-cache.chunks.txt');
    const deltas = chunks.flatMap((chunk) =>
      chunk === undefined ? [] : [(chunk as ReturnType<typeof chunkOf>).choices[0]!.delta],
    );
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.filter((delta) => 'tool_calls' in delta)).toEqual([]);
    // message_start said 2 in, 3,068 written, 69 out; message_delta's totals cover every server-tool iteration.
    expect(translator.usage()?.input).toEqual({ uncached: 6, cacheRead: 6289, cacheWrite: 3337, cacheWrite1h: 0, audio: 0 });
    expect(translator.usage()?.output.text).toBe(198);
  });

  it('merges usage field by field: a later count wins, a null or missing one keeps the earlier', () => {
    const translator = new AnthropicStreamTranslator();
    expect(translator.usage()).toBeUndefined();
    translator.translate({
      type: 'message_start',
      message: { id: 'm', model: 'c', usage: { input_tokens: 50, cache_read_input_tokens: 20, output_tokens: 1 } },
    });
    translator.translate({ type: 'message_delta', delta: { stop_reason: null } });
    translator.translate({ type: 'message_delta', delta: {}, usage: 'none' });
    expect(translator.translate({ type: 'message_delta', usage: { input_tokens: null, output_tokens: 9 } })).toBeUndefined();
    const usage = translator.usage();
    expect(usage?.input).toEqual({ uncached: 50, cacheRead: 20, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(usage?.output.text).toBe(9);
    expect(usage?.raw).toEqual({ input_tokens: 50, cache_read_input_tokens: 20, output_tokens: 9 });
  });

  it('numbers tool calls by their order among tool_use blocks, and maps each argument delta to its call', () => {
    at();
    const translator = new AnthropicStreamTranslator();
    const at0 = translator.translate({ type: 'message_start', message: 'not an object' });
    expect(at0).toEqual(chunkOf('', '', { role: 'assistant', content: '' }));
    expect(
      translator.translate({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: 'Checking.' } }),
    ).toEqual(chunkOf('', '', { content: 'Checking.' }));
    expect(
      translator.translate({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'a', name: 'f' } }),
    ).toEqual(chunkOf('', '', { tool_calls: [{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } }] }));
    expect(
      translator.translate({ type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'b', name: 'g' } }),
    ).toEqual(chunkOf('', '', { tool_calls: [{ index: 1, id: 'b', type: 'function', function: { name: 'g', arguments: '' } }] }));
    expect(
      translator.translate({ type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{"y"' } }),
    ).toEqual(chunkOf('', '', { tool_calls: [{ index: 1, function: { arguments: '{"y"' } }] }));
    expect(
      translator.translate({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{}' } }),
    ).toEqual(chunkOf('', '', { tool_calls: [{ index: 0, function: { arguments: '{}' } }] }));
    // A block that is no tool_use (a server tool's), a delta of no known kind or of the wrong type: nothing.
    expect(
      translator.translate({ type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } }),
    ).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 7 } }),
    ).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 7 } }),
    ).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 7 } }),
    ).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'x' } }),
    ).toBeUndefined();
    expect(translator.translate({ type: 'content_block_delta', index: 0, delta: 'text' })).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_start', index: 4, content_block: { type: 'text', text: 7 } }),
    ).toBeUndefined();
    expect(translator.translate({ type: 'content_block_start', index: 4, content_block: 'tool_use' })).toBeUndefined();
    expect(
      translator.translate({ type: 'content_block_start', index: 4, content_block: { type: 'thinking', thinking: 'x' } }),
    ).toBeUndefined();
    expect(translator.translate({ type: 'message_delta', delta: { stop_reason: 'max_tokens' } })).toEqual(
      chunkOf('', '', {}, 'length'),
    );
    expect(translator.translate({ type: 'message_stop' })).toBeUndefined();
  });

  it('only text, thinking and tool_use blocks are read, whatever fields a block of another type carries', () => {
    // A compaction block (server-side context compaction) carries its summary in `content`; a block type the
    // gateway does not know may carry `text` or `thinking`: neither is the answer nor its reasoning.
    const { body } = fromAnthropicResponse({
      content: [
        { type: 'compaction', content: 'Summary of the conversation.' },
        { type: 'future_block', text: 'not the answer', thinking: 'not the reasoning', input: {} },
        { type: 'text', text: 'Hello!' },
      ],
    });
    expect(body.choices[0]?.message).toEqual({ role: 'assistant', content: 'Hello!' });

    const translator = new AnthropicStreamTranslator();
    translator.translate({ type: 'message_start', message: { id: 'm', model: 'c' } });
    translator.translate({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'a', name: 'f' } });
    expect(
      translator.translate({ type: 'content_block_start', index: 1, content_block: { type: 'future_block', text: 'x' } }),
    ).toBeUndefined();
    for (const delta of [
      { type: 'compaction_delta', content: 'Summary.' },
      { type: 'future_delta', text: 'x', thinking: 'y', partial_json: '{}' },
    ]) {
      expect(translator.translate({ type: 'content_block_delta', index: 0, delta })).toBeUndefined();
    }
  });

  it('a stream whose message_start is missing still translates, under an empty id and model', () => {
    at();
    const translator = new AnthropicStreamTranslator();
    expect(translator.translate({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } })).toEqual(
      chunkOf('', '', { content: 'Hi' }),
    );
    expect(
      translator.translate({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }),
    ).toEqual(chunkOf('', '', {}, 'stop'));
    expect(translator.usage()?.output.text).toBe(2);
    // No message_stop yet: the stream is not whole (the adapter fails it).
    expect(translator.stopped).toBe(false);
    expect(translator.translate({ type: 'message_stop' })).toBeUndefined();
    expect(translator.stopped).toBe(true);
  });

  it('error events: rate_limit_error is rate_limited, anything else a server error, named by message, type or "error"', () => {
    const translator = new AnthropicStreamTranslator();
    const cases: Array<[unknown, string, string]> = [
      [{ type: 'rate_limit_error', message: 'Slow down' }, 'rate_limited', 'anthropic failed mid-stream: Slow down'],
      [{ type: 'overloaded_error' }, 'server_error', 'anthropic failed mid-stream: overloaded_error'],
      [{}, 'server_error', 'anthropic failed mid-stream: error'],
      ['overloaded', 'server_error', 'anthropic failed mid-stream: error'],
    ];
    for (const [error, kind, message] of cases) {
      const failure = thrown(() => translator.translate({ type: 'error', error }));
      expect([failure.kind, failure.message]).toEqual([kind, message]);
    }
    const invalid = thrown(() => translator.translate('event'));
    expect([invalid.kind, invalid.message]).toEqual(['invalid_response', 'anthropic sent a stream event that is not an object']);
  });
});
