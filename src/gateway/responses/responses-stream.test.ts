import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Decimal } from '../../money/decimal.js';
import { priceUsage } from '../../pricing/cost.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { emptyUsage, usageFromOpenAI } from '../../pricing/usage.js';
import { AnthropicStreamTranslator } from '../../providers/anthropic/anthropic-response.js';
import { countTextTokens } from '../../providers/token-estimate.js';
import type { ChatCompletionChunk, NativeStreamEvent, StreamEvent } from '../../providers/types.js';
import { testPrice, testResolution } from '../../../test/support/priced-model.js';
import { GatewayError } from '../errors.js';
import type { PreparedCall } from '../pipeline.js';
import type { ChargeReport } from '../usage-payload.js';
import { parseResponsesRequest } from './responses-request.js';
import { NativeResponsesStream, ResponsesFromChatStream } from './responses-stream.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/provider-responses/${name}`, import.meta.url), 'utf8');

/** A recorded SSE stream's events as the SSE decoder hands them over: each payload parsed, with its text. */
function sseEvents(name: string): NativeStreamEvent[] {
  return fixture(name)
    .split('\n\n')
    .filter((block) => block.includes('data: ') && !block.includes('data: [DONE]'))
    .map((block) => {
      const lines = block.split('\n');
      const data = lines.find((line) => line.startsWith('data: '))!.slice(6);
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? 'message';
      return { event, payload: JSON.parse(data) as unknown, data };
    });
}

/** A recorded Anthropic stream as an upstream reached through chat hands it over: chat chunks, then the usage. */
function chatEventsOf(name: string): StreamEvent[] {
  const translator = new AnthropicStreamTranslator();
  const events: StreamEvent[] = [];
  for (const data of fixture(`anthropic/${name}`).trim().split('\n')) {
    const chunk = translator.translate(JSON.parse(data));
    if (chunk) events.push({ type: 'chunk', chunk });
  }
  events.push({ type: 'usage', usage: translator.usage()! });
  return events;
}

/** A recorded OpenAI chat stream as the OpenAI-format adapter hands it over: its chunks, then the usage. */
function openAIChatEventsOf(name: string): StreamEvent[] {
  const events: StreamEvent[] = [];
  for (const { payload } of sseEvents(name)) {
    const chunk = payload as ChatCompletionChunk & { usage?: unknown };
    if (chunk.choices.length > 0) events.push({ type: 'chunk', chunk });
    const usage = usageFromOpenAI(chunk.usage);
    if (usage) events.push({ type: 'usage', usage });
  }
  return events;
}

function parsed(frame: string): { event: string | undefined; data: Record<string, unknown> } {
  const match = /^(?:event: (.*)\n)?data: (.*)\n\n$/.exec(frame);
  if (!match) throw new Error(`not one SSE frame: ${JSON.stringify(frame)}`);
  return { event: match[1], data: JSON.parse(match[2]!) as Record<string, unknown> };
}

const PRICE = testPrice();

function reportOf(usage: NormalizedUsage): ChargeReport {
  const breakdown = priceUsage(usage, PRICE);
  return {
    usage,
    breakdown,
    resolution: testResolution(PRICE),
    debit: { amount: breakdown.charge, unit: 'usd' },
    shortfall: Decimal.ZERO,
    creditsRemaining: Decimal.parse('4.5'),
  };
}

const call = { requestId: 'req_0123abcd', promptTokens: 11 } as PreparedCall;
const typeOf = (event: NativeStreamEvent) => (event.payload as { type: string }).type;

afterEach(() => {
  vi.useRealTimers();
});

describe('a native Responses stream relayed', () => {
  it('the recorded stream: every event as OpenAI wrote it but response.completed, sent with the charge in its usage', () => {
    const events = sseEvents('openai/openai-responses-stream.sse');
    const codec = new NativeResponsesStream(call);
    const frames = events.flatMap((event) => codec.push(event));
    const completed = events.at(-1)!;
    expect(completed.event).toBe('response.completed');
    expect(frames).toEqual(events.slice(0, -1).map((event) => `event: ${event.event}\ndata: ${event.data}\n\n`));
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('Hello! How can I assist you today?'));
    const usage = codec.reportedUsage()!;
    expect(usage).toMatchObject({ input: { uncached: 11 }, output: { text: 10 }, estimated: false });
    const report = reportOf(usage);
    const [sent, ...rest] = codec.finish(report);
    expect(rest).toEqual([]);
    const recorded = completed.payload as { response: Record<string, unknown> };
    expect(parsed(sent!)).toEqual({
      event: 'response.completed',
      data: {
        ...recorded,
        response: {
          ...recorded.response,
          usage: {
            input_tokens: 11,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 10,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 21,
            cost: Number(report.breakdown.charge.toString()),
            tollgate: expect.objectContaining({ charge: report.breakdown.charge.toString(), estimated: false }) as unknown,
          },
        },
      },
    });
    expect(sent).toContain(`"cost":${report.breakdown.charge.toString()},`);
  });

  it("the recorded tool call: the arguments' deltas count as generated", () => {
    const events = sseEvents('openai/openai-responses-tool-call.sse');
    const codec = new NativeResponsesStream(call);
    const firstDelta = events.findIndex((event) => typeOf(event) === 'response.function_call_arguments.delta');
    for (const event of events.slice(0, firstDelta)) codec.push(event);
    expect(codec.generatedAnything()).toBe(false);
    for (const event of events.slice(firstDelta)) codec.push(event);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('{"result":6666}'));
    expect(codec.reportedUsage()).toMatchObject({ output: { reasoning: 448 } });
  });

  it('response.incomplete ends the stream too, under its own name; a terminal event without usage keeps the last one', () => {
    const codec = new NativeResponsesStream(call);
    const usage = { input_tokens: 5, output_tokens: 3 };
    codec.push({ event: 'response.completed', payload: { type: 'response.completed', response: { usage } } });
    codec.push({ event: 'response.incomplete', payload: { type: 'response.incomplete', response: { status: 'incomplete' } } });
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.reportedUsage()).toMatchObject({ input: { uncached: 5 }, output: { text: 3 } });
    const [sent] = codec.finish(reportOf(codec.reportedUsage()!));
    expect(parsed(sent!)).toMatchObject({
      event: 'response.incomplete',
      data: { type: 'response.incomplete', response: { status: 'incomplete', usage: { input_tokens: 5, output_tokens: 3 } } },
    });
    // The terminal event's response is not an object: its usage is the gateway's alone.
    const bare = new NativeResponsesStream(call);
    bare.push({ event: 'response.completed', payload: { type: 'response.completed', response: 'gone' } });
    expect(bare.reportedUsage()).toBeUndefined();
    expect(parsed(bare.finish(reportOf(emptyUsage()))[0]!).data).toEqual({
      type: 'response.completed',
      response: { usage: expect.objectContaining({ input_tokens: 0, output_tokens: 0 }) as unknown },
    });
  });

  it('events without their text are written from the payload, without a type unnamed; what is not an object is dropped', () => {
    const codec = new NativeResponsesStream(call);
    expect(codec.push({ event: 'message', payload: { sequence_number: 1 } })).toEqual(['data: {"sequence_number":1}\n\n']);
    const delta = { type: 'response.output_text.delta', delta: 'Hi' };
    expect(codec.push({ event: delta.type, payload: delta })).toEqual([
      `event: ${delta.type}\ndata: ${JSON.stringify(delta)}\n\n`,
    ]);
    expect(codec.push({ event: 'message', payload: [delta], data: JSON.stringify([delta]) })).toEqual([]);
    expect(codec.push({ event: 'message', payload: { type: 'response.output_text.delta', delta: 5 } })).toHaveLength(1);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('Hi'));
  });

  it("failures: an error event named by its message, else its code, else as an error; response.failed by its error's message or code", () => {
    const failed = (payload: Record<string, unknown>) => {
      const codec = new NativeResponsesStream(call);
      try {
        codec.push({ event: String(payload.type), payload });
      } catch (error) {
        return {
          message: (error as Error).message,
          kind: (error as { kind?: string }).kind,
          frames: codec.failure(new GatewayError('upstream_error', 'x')),
        };
      }
      throw new Error('nothing was thrown');
    };
    expect(failed({ type: 'error' })).toEqual({
      message: 'the upstream failed mid-stream: error',
      kind: 'server_error',
      frames: ['event: error\ndata: {"type":"error"}\n\n'],
    });
    expect(failed({ type: 'error', code: 'overloaded', message: 'Busy.' }).message).toBe('the upstream failed mid-stream: Busy.');
    const failure = { type: 'response.failed', response: { error: { code: 'server_error' } } };
    expect(failed(failure)).toEqual({
      message: 'the upstream failed the response: server_error',
      kind: 'server_error',
      frames: [`event: response.failed\ndata: ${JSON.stringify(failure)}\n\n`],
    });
    expect(failed({ type: 'response.failed', response: { error: 'gone' } }).message).toBe(
      'the upstream failed the response: no reason given',
    );
    expect(failed({ type: 'response.failed', response: { error: { message: 'Failed.', code: 'c' } } }).message).toBe(
      'the upstream failed the response: Failed.',
    );
  });

  it('response.failed without usage keeps what was reported before; a failure of its own is told as an error event, sequence 0', () => {
    const codec = new NativeResponsesStream(call);
    codec.push({
      event: 'response.completed',
      payload: { type: 'response.completed', response: { usage: { input_tokens: 5, output_tokens: 3 } } },
    });
    expect(() => codec.push({ event: 'response.failed', payload: { type: 'response.failed', response: {} } })).toThrow(
      'the upstream failed the response: no reason given',
    );
    expect(codec.reportedUsage()).toMatchObject({ input: { uncached: 5 }, output: { text: 3 } });
    const fresh = new NativeResponsesStream(call);
    expect(fresh.failure(new GatewayError('upstream_error', 'the upstream stream failed: cut', 'stream'))).toEqual([
      'event: error\ndata: {"type":"error","sequence_number":0,"code":"upstream_error","message":"the upstream stream failed: cut","param":"stream"}\n\n',
    ]);
    expect(parsed(fresh.failure(new GatewayError('upstream_error', 'x'))[0]!).data.param).toBeNull();
  });
});

describe('a Responses stream made from chat chunks', () => {
  const request = parseResponsesRequest({ model: 'asked-for', input: 'Hi', instructions: 'Be brief.' });
  const at = Date.UTC(2026, 0, 1, 0, 0, 0, 750);
  const shell = {
    id: 'resp_0123abcd',
    object: 'response',
    created_at: 1_767_225_600,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: 'Be brief.',
    max_output_tokens: null,
    model: 'asked-for',
    output: [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: null,
    user: null,
    metadata: {},
  };
  const id = (prefix: string) => expect.stringMatching(new RegExp(`^${prefix}_[0-9a-f]{32}$`)) as unknown;
  const event = (sequence: number, type: string, fields: Record<string, unknown>) => ({
    event: type,
    data: { type, sequence_number: sequence, ...fields },
  });

  it("Anthropic's recorded thinking answer through chat: OpenAI's events for a reasoning item, then a message, then the completed response", () => {
    vi.useFakeTimers({ now: at, toFake: ['Date'] });
    const codec = new ResponsesFromChatStream(call, request);
    const frames = chatEventsOf('anthropic-thinking.chunks.txt')
      .flatMap((chatEvent) => codec.push(chatEvent))
      .map(parsed);
    const thinking = [
      'The previous',
      ' result',
      ' was',
      ' 925.',
      ' Now',
      ' I need to divide that',
      ' by 5.\n\n925',
      ' ÷ 5 ',
      '= 185',
    ];
    const text = ['925', ' ÷ 5 ', '= 185'];
    const rs = frames[2]!.data.item as { id: string };
    const msg = { id: '' };
    let sequence = 0;
    const next = (type: string, fields: Record<string, unknown>) => event(sequence++, type, fields);
    const expected = [
      next('response.created', { response: shell }),
      next('response.in_progress', { response: shell }),
      next('response.output_item.added', { output_index: 0, item: { type: 'reasoning', id: id('rs'), summary: [] } }),
      next('response.reasoning_summary_part.added', {
        item_id: rs.id,
        output_index: 0,
        summary_index: 0,
        part: { type: 'summary_text', text: '' },
      }),
      ...thinking.map((piece) =>
        next('response.reasoning_summary_text.delta', { item_id: rs.id, output_index: 0, summary_index: 0, delta: piece }),
      ),
      next('response.reasoning_summary_text.done', {
        item_id: rs.id,
        output_index: 0,
        summary_index: 0,
        text: thinking.join(''),
      }),
      next('response.reasoning_summary_part.done', {
        item_id: rs.id,
        output_index: 0,
        summary_index: 0,
        part: { type: 'summary_text', text: thinking.join('') },
      }),
      next('response.output_item.done', {
        output_index: 0,
        item: { type: 'reasoning', id: rs.id, summary: [{ type: 'summary_text', text: thinking.join('') }] },
      }),
    ];
    msg.id = (frames[expected.length]!.data.item as { id: string }).id;
    expected.push(
      next('response.output_item.added', {
        output_index: 1,
        item: { type: 'message', id: id('msg'), status: 'in_progress', role: 'assistant', content: [] },
      }),
      next('response.content_part.added', {
        item_id: msg.id,
        output_index: 1,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      }),
      ...text.map((piece) =>
        next('response.output_text.delta', { item_id: msg.id, output_index: 1, content_index: 0, delta: piece, logprobs: [] }),
      ),
    );
    expect(frames).toEqual(expected);
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens([...thinking, ...text].join('')));
    const report = reportOf(codec.reportedUsage()!);
    const end = codec.finish(report);
    const message = {
      type: 'message',
      id: msg.id,
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: text.join(''), annotations: [], logprobs: [] }],
    };
    expect(end.map(parsed)).toEqual([
      next('response.output_text.done', {
        item_id: msg.id,
        output_index: 1,
        content_index: 0,
        text: text.join(''),
        logprobs: [],
      }),
      next('response.content_part.done', {
        item_id: msg.id,
        output_index: 1,
        content_index: 0,
        part: { type: 'output_text', text: text.join(''), annotations: [], logprobs: [] },
      }),
      next('response.output_item.done', { output_index: 1, item: message }),
      next('response.completed', {
        response: {
          ...shell,
          status: 'completed',
          incomplete_details: null,
          output: [{ type: 'reasoning', id: rs.id, summary: [{ type: 'summary_text', text: thinking.join('') }] }, message],
          usage: {
            input_tokens: 69,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 53,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 122,
            cost: Number(report.breakdown.charge.toString()),
            tollgate: expect.objectContaining({ charge: report.breakdown.charge.toString() }) as unknown,
          },
        },
      }),
    ]);
    expect(end.at(-1)).toContain(`"cost":${report.breakdown.charge.toString()},`);
    expect(codec.failure(new GatewayError('upstream_error', 'late'))).toEqual([
      `event: error\ndata: {"type":"error","sequence_number":${sequence},"code":"upstream_error","message":"late","param":null}\n\n`,
    ]);
  });

  it("OpenAI's recorded chat tool call: a function_call item with the call's id and name, its arguments' deltas and done events", () => {
    const codec = new ResponsesFromChatStream(call, request);
    const frames = openAIChatEventsOf('openai/openai-chat-tool-call.sse')
      .flatMap((chatEvent) => codec.push(chatEvent))
      .map(parsed);
    const added = frames[2]!.data.item as { id: string };
    const pieces = frames.slice(3).map((frame) => frame.data.delta as string);
    expect(frames.slice(2)).toEqual([
      event(2, 'response.output_item.added', {
        output_index: 0,
        item: {
          type: 'function_call',
          id: id('fc'),
          call_id: 'call_ZR5UUuTt3pf61kjwAJIYdVMj',
          name: 'get_capital',
          arguments: '',
          status: 'in_progress',
        },
      }),
      ...pieces.map((piece, index) =>
        event(3 + index, 'response.function_call_arguments.delta', { item_id: added.id, output_index: 0, delta: piece }),
      ),
    ]);
    expect(pieces.join('')).toBe('{"country":"UK"}');
    const end = codec.finish(reportOf(codec.reportedUsage()!)).map(parsed);
    const done = {
      type: 'function_call',
      id: added.id,
      call_id: 'call_ZR5UUuTt3pf61kjwAJIYdVMj',
      name: 'get_capital',
      arguments: '{"country":"UK"}',
      status: 'completed',
    };
    const after = 3 + pieces.length;
    expect(end.slice(0, 2)).toEqual([
      event(after, 'response.function_call_arguments.done', {
        item_id: added.id,
        output_index: 0,
        arguments: '{"country":"UK"}',
      }),
      event(after + 1, 'response.output_item.done', { output_index: 0, item: done }),
    ]);
    expect(end[2]).toMatchObject({ event: 'response.completed', data: { response: { status: 'completed', output: [done] } } });
  });

  it('text, then two calls at once: each call its own item, the text closed first, ids made when the upstream sends none', () => {
    const chunk = (delta: Record<string, unknown>, finish: string | null = null): StreamEvent => ({
      type: 'chunk',
      chunk: {
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta, finish_reason: finish }],
      },
    });
    const codec = new ResponsesFromChatStream(call, request);
    const frames = [
      chunk({ role: 'assistant', content: '', reasoning_content: '' }),
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, function: { name: 'first', arguments: '{}' } }] }),
      chunk({ tool_calls: [{ index: 1 }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '' } }] }),
      chunk({}, 'tool_calls'),
    ]
      .flatMap((chatEvent) => codec.push(chatEvent))
      .map(parsed);
    expect(frames.map((frame) => frame.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
    ]);
    expect(frames[8]!.data).toMatchObject({ output_index: 1, item: { call_id: id('call'), name: 'first' } });
    expect(frames[12]!.data).toMatchObject({ output_index: 2, item: { call_id: id('call'), name: '' } });
    expect(frames.map((frame) => frame.data.sequence_number)).toEqual(frames.map((_frame, index) => index));
    expect(codec.reportedUsage()).toBeUndefined();
    expect(codec.generatedAnything()).toBe(true);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('Checking.{}'));
    const end = codec.finish(reportOf(codec.estimatedUsage())).map(parsed);
    expect(end.map((frame) => frame.event)).toEqual([
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(end[0]!.data).toMatchObject({ output_index: 2, arguments: '' });
    expect((end[2]!.data.response as { output: Array<{ type: string }> }).output.map((item) => item.type)).toEqual([
      'message',
      'function_call',
      'function_call',
    ]);
  });

  it('cut at the output limit: response.incomplete, for max_output_tokens; nothing streamed: the start, then the end', () => {
    const codec = new ResponsesFromChatStream(call, request);
    const usage = usageFromOpenAI({ prompt_tokens: 9, completion_tokens: 1 })!;
    const started = codec.push({ type: 'usage', usage }).map(parsed);
    expect(started.map((frame) => frame.event)).toEqual(['response.created', 'response.in_progress']);
    expect(codec.push({ type: 'usage', usage })).toEqual([]);
    expect(codec.reportedUsage()).toBe(usage);
    codec.push({
      type: 'chunk',
      chunk: {
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: {}, finish_reason: 'length' }],
      },
    });
    expect(codec.generatedAnything()).toBe(false);
    expect(codec.finish(reportOf(usage)).map(parsed)).toEqual([
      event(2, 'response.incomplete', {
        response: expect.objectContaining({
          status: 'incomplete',
          incomplete_details: { reason: 'max_output_tokens' },
          output: [],
          usage: expect.objectContaining({ input_tokens: 9, output_tokens: 1 }) as unknown,
        }) as unknown,
      }),
    ]);
    const untouched = new ResponsesFromChatStream(call, request);
    expect(untouched.finish(reportOf(usage)).map((frame) => parsed(frame).event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.completed',
    ]);
    expect(new ResponsesFromChatStream(call, request).failure(new GatewayError('upstream_error', 'cut'))).toEqual([
      'event: error\ndata: {"type":"error","sequence_number":0,"code":"upstream_error","message":"cut","param":null}\n\n',
    ]);
  });
});
