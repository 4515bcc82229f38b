import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../money/decimal.js';
import { priceUsage } from '../../pricing/cost.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { emptyUsage, usageFromOpenAI } from '../../pricing/usage.js';
import { AnthropicStreamTranslator } from '../../providers/anthropic/anthropic-response.js';
import { countTextTokens } from '../../providers/token-estimate.js';
import type { NativeStreamEvent, StreamEvent } from '../../providers/types.js';
import { testPrice, testResolution } from '../../../test/support/priced-model.js';
import { GatewayError } from '../errors.js';
import type { PreparedCall } from '../pipeline.js';
import type { ChargeReport } from '../usage-payload.js';
import { MessagesFromChatStream, NativeMessagesStream } from './messages-stream.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/provider-responses/${name}`, import.meta.url), 'utf8');

/** A recorded Anthropic stream's events as the SSE decoder hands them over: each payload parsed, with its text. */
function anthropicEvents(name: string): NativeStreamEvent[] {
  return fixture(`anthropic/${name}`)
    .trim()
    .split('\n')
    .map((data) => ({ event: (JSON.parse(data) as { type: string }).type, payload: JSON.parse(data) as unknown, data }));
}

/** The same stream as an Anthropic upstream reached through chat hands it over: chat chunks, then the usage. */
function chatEventsOf(name: string): StreamEvent[] {
  const translator = new AnthropicStreamTranslator();
  const events: StreamEvent[] = [];
  for (const { payload } of anthropicEvents(name)) {
    const chunk = translator.translate(payload);
    if (chunk) events.push({ type: 'chunk', chunk });
  }
  events.push({ type: 'usage', usage: translator.usage()! });
  return events;
}

/** A frame's event name and its payload, parsed. */
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

const call = { requestId: 'req_0123abcd', promptTokens: 69 } as PreparedCall;

describe('a native Messages stream relayed', () => {
  it('the recorded tool call: every event as Anthropic wrote it but message_delta and message_stop, held for the charge; the arguments counted', () => {
    const events = anthropicEvents('anthropic-tool-call.chunks.txt');
    const codec = new NativeMessagesStream(call);
    const frames = events.flatMap((event) => codec.push(event));
    const relayed = events.filter((event) => !['message_delta', 'message_stop'].includes(event.event));
    expect(frames).toEqual(relayed.map((event) => `event: ${event.event}\ndata: ${event.data}\n\n`));
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.generatedAnything()).toBe(true);
    // Counted locally from the partial JSON of the tool's input, in case the stream had failed.
    expect(codec.estimatedUsage()).toEqual({
      ...emptyUsage(),
      input: { ...emptyUsage().input, uncached: 69 },
      output: { ...emptyUsage().output, text: countTextTokens('{"location": "San Francisco"}') },
      estimated: true,
    });
    const usage = codec.reportedUsage()!;
    expect(usage).toMatchObject({
      input: { uncached: 843, cacheRead: 0, cacheWrite: 0 },
      output: { text: 28 },
      estimated: false,
    });
    const report = reportOf(usage);
    const [delta, stop, ...rest] = codec.finish(report);
    expect(rest).toEqual([]);
    expect(stop).toBe(`event: message_stop\ndata: ${events.at(-1)!.data}\n\n`);
    expect(parsed(delta!)).toEqual({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: {
          // message_start's fields the delta left out, kept; the delta's winning.
          service_tier: 'standard',
          input_tokens: 843,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
          output_tokens: 28,
          cost: Number(report.breakdown.charge.toString()),
          tollgate: expect.objectContaining({ charge: report.breakdown.charge.toString(), estimated: false }) as unknown,
        },
      },
    });
    expect(delta).toContain(`"cost":${report.breakdown.charge.toString()},`);
  });

  it('thinking and text count as generated; a stream with nothing but its start generated nothing', () => {
    const events = anthropicEvents('anthropic-thinking.chunks.txt');
    const codec = new NativeMessagesStream(call);
    const deltaAt = events.findIndex((event) => event.event === 'message_delta');
    for (const event of events.slice(0, 3)) codec.push(event);
    expect(codec.generatedAnything()).toBe(false);
    for (const event of events.slice(3, deltaAt)) codec.push(event);
    const thinking = 'The previous result was 925. Now I need to divide that by 5.\n\n925 ÷ 5 = 185';
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens(`${thinking}925 ÷ 5 = 185`));
    // Cut before message_delta: the output counted locally, more than message_start's placeholder of 2.
    expect(codec.reportedUsage()).toMatchObject({
      input: { uncached: 69 },
      output: { text: countTextTokens(`${thinking}925 ÷ 5 = 185`) },
      estimated: true,
    });
  });

  it('events without their text are written from the payload; one without a type has no event name; what is not an object is dropped', () => {
    const codec = new NativeMessagesStream(call);
    expect(codec.push({ event: 'ping', payload: { type: 'ping' } })).toEqual(['event: ping\ndata: {"type":"ping"}\n\n']);
    expect(codec.push({ event: 'message', payload: { index: 0 } })).toEqual(['data: {"index":0}\n\n']);
    expect(codec.push({ event: 'message', payload: ['ping'], data: '["ping"]' })).toEqual([]);
    expect(codec.push({ event: 'message', payload: null, data: 'null' })).toEqual([]);
    expect(codec.reportedUsage()).toBeUndefined();
    expect(codec.generatedAnything()).toBe(false);
  });

  it("usage: message_start's merged with message_delta's, later counts winning and nulls ignored", () => {
    const codec = new NativeMessagesStream(call);
    const start = {
      type: 'message_start',
      message: { usage: { input_tokens: 10, cache_read_input_tokens: 4, output_tokens: 1 } },
    };
    codec.push({ event: 'message_start', payload: start });
    codec.push({ event: 'message_start', payload: { type: 'message_start', message: 'not a message' } });
    const delta = {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { input_tokens: 12, cache_read_input_tokens: null, output_tokens: 7 },
    };
    expect(codec.push({ event: 'message_delta', payload: delta })).toEqual([]);
    expect(codec.push({ event: 'message_delta', payload: { type: 'message_delta', usage: 'none' } })).toEqual([]);
    expect(codec.reportedUsage()).toMatchObject({
      input: { uncached: 12, cacheRead: 4 },
      output: { text: 7 },
      estimated: false,
      raw: { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 7 },
    });
    // The last message_delta is the one sent (with the whole usage), and message_stop written from its payload.
    codec.push({ event: 'message_stop', payload: { type: 'message_stop' } });
    const [sent, stop] = codec.finish(reportOf(codec.reportedUsage()!));
    expect(parsed(sent!).data).toMatchObject({
      type: 'message_delta',
      usage: { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 7 },
    });
    expect(parsed(sent!).data).not.toHaveProperty('delta');
    expect(stop).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
  });

  it("with no message_delta: message_stop alone ends it; a failure with no error event of its own is told in Anthropic's shape", () => {
    const codec = new NativeMessagesStream(call);
    codec.push({ event: 'message_stop', payload: { type: 'message_stop' } });
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.finish(reportOf(emptyUsage()))).toEqual(['event: message_stop\ndata: {"type":"message_stop"}\n\n']);
    expect(codec.failure(new GatewayError('upstream_error', 'the upstream stream failed: cut', 'stream'))).toEqual([
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"the upstream stream failed: cut","code":"upstream_error","param":"stream"}}\n\n',
    ]);
  });

  it('an error event written without its text is relayed from its payload', () => {
    const codec = new NativeMessagesStream(call);
    const payload = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    expect(() => codec.push({ event: 'error', payload })).toThrow('anthropic failed mid-stream: Overloaded');
    expect(codec.failure(new GatewayError('upstream_error', 'the upstream stream failed'))).toEqual([
      `event: error\ndata: ${JSON.stringify(payload)}\n\n`,
    ]);
  });
});

describe('a Messages stream made from chat chunks', () => {
  const messageStart = (inputTokens: number) => ({
    event: 'message_start',
    data: {
      type: 'message_start',
      message: {
        id: 'msg_0123abcd',
        type: 'message',
        role: 'assistant',
        model: 'claude-asked',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 },
      },
    },
  });
  const block = (event: string, data: Record<string, unknown>) => ({ event, data: { type: event, ...data } });

  it("Anthropic's recorded thinking answer through chat: a thinking block, then a text block, then the usage and the charge", () => {
    const codec = new MessagesFromChatStream(call, 'claude-asked');
    const frames = chatEventsOf('anthropic-thinking.chunks.txt').flatMap((event) => codec.push(event));
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
    expect(frames.map(parsed)).toEqual([
      messageStart(69),
      block('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
      ...thinking.map((piece) => block('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: piece } })),
      block('content_block_stop', { index: 0 }),
      block('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
      ...text.map((piece) => block('content_block_delta', { index: 1, delta: { type: 'text_delta', text: piece } })),
    ]);
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.generatedAnything()).toBe(true);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens([...thinking, ...text].join('')));
    const usage = codec.reportedUsage()!;
    expect(usage).toMatchObject({ input: { uncached: 69 }, output: { text: 53 }, estimated: false });
    const report = reportOf(usage);
    const end = codec.finish(report);
    expect(end.map(parsed)).toEqual([
      block('content_block_stop', { index: 1 }),
      block('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: {
          input_tokens: 69,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
          output_tokens: 53,
          cost: Number(report.breakdown.charge.toString()),
          tollgate: expect.objectContaining({ charge: report.breakdown.charge.toString() }) as unknown,
        },
      }),
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
    expect(end[1]).toContain(`"cost":${report.breakdown.charge.toString()},`);
  });

  it("the recorded text-then-tool answer: the text block closed before the tool_use block, its arguments' deltas, stop_reason tool_use", () => {
    const codec = new MessagesFromChatStream(call, 'claude-asked');
    const frames = chatEventsOf('anthropic-tool-no-args.chunks.txt').flatMap((event) => codec.push(event));
    expect(frames.map(parsed)).toEqual([
      messageStart(69),
      block('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      block('content_block_delta', { index: 0, delta: { type: 'text_delta', text: "I'll update the issue list for" } }),
      block('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' you.' } }),
      block('content_block_stop', { index: 0 }),
      block('content_block_start', {
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_01QE1WLsSVp5hy5Q3GmGTmjP', name: 'updateIssueList', input: {} },
      }),
    ]);
    const end = codec.finish(reportOf(codec.reportedUsage()!)).map(parsed);
    expect(end[0]).toEqual(block('content_block_stop', { index: 1 }));
    expect(end[1]?.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 565, output_tokens: 48 } });
  });

  it("parallel tool calls (OpenAI's shape): a block per call index, arguments to the open call, names and ids empty when not sent", () => {
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
    const codec = new MessagesFromChatStream(call, 'gpt-asked');
    const frames = [
      chunk({ role: 'assistant', content: '', reasoning_content: '' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'first', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }),
      chunk({ tool_calls: [{ index: 1 }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ].flatMap((event) => codec.push(event));
    expect(frames.map(parsed).slice(1)).toEqual([
      block('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'call_a', name: 'first', input: {} } }),
      block('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{"a":' } }),
      block('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '1}' } }),
      block('content_block_stop', { index: 0 }),
      block('content_block_start', { index: 1, content_block: { type: 'tool_use', id: '', name: '', input: {} } }),
      block('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{}' } }),
    ]);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('{"a":1}{}'));
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.reportedUsage()).toBeUndefined();
    const end = codec.finish(reportOf(codec.estimatedUsage())).map(parsed);
    expect(end.map((frame) => frame.event)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(end[1]?.data).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { tollgate: { estimated: true } } });
  });

  it('a usage first still opens the message; a stream with nothing in it ends with the message, no block, the usage and the stop', () => {
    const usage = usageFromOpenAI({ prompt_tokens: 9, completion_tokens: 0 })!;
    const first = new MessagesFromChatStream({ ...call, requestId: 'req_other' } as PreparedCall, 'm');
    const frames = first.push({ type: 'usage', usage });
    expect(frames.map(parsed)).toEqual([
      {
        event: 'message_start',
        data: expect.objectContaining({ message: expect.objectContaining({ id: 'msg_other', model: 'm' }) }) as unknown,
      },
    ]);
    expect(first.push({ type: 'usage', usage })).toEqual([]);
    expect(first.reportedUsage()).toBe(usage);
    expect(first.generatedAnything()).toBe(false);
    const empty = new MessagesFromChatStream(call, 'm');
    const end = empty.finish(reportOf(usage)).map(parsed);
    expect(end.map((frame) => frame.event)).toEqual(['message_start', 'message_delta', 'message_stop']);
    expect(end[1]?.data).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 9, output_tokens: 0 } });
    expect(empty.failure(new GatewayError('upstream_error', 'the upstream stream failed: cut'))).toEqual([
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"the upstream stream failed: cut","code":"upstream_error","param":null}}\n\n',
    ]);
  });

  it('each finish reason in stop_reason, the last one sent winning', () => {
    const codec = new MessagesFromChatStream(call, 'm');
    const finish = (reason: string | null): StreamEvent => ({
      type: 'chunk',
      chunk: {
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: {}, finish_reason: reason as string }],
      },
    });
    codec.push(finish('stop'));
    codec.push(finish('length'));
    codec.push(finish(null));
    codec.push(finish(''));
    expect(parsed(codec.finish(reportOf(emptyUsage()))[0]!).data).toMatchObject({ delta: { stop_reason: 'max_tokens' } });
  });
});
