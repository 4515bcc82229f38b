import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AnthropicStreamTranslator } from '../providers/anthropic/anthropic-response.js';
import { countTextTokens } from '../providers/token-estimate.js';
import { emptyUsage } from '../pricing/usage.js';
import { UpstreamError, type NativeStreamEvent, type StreamEvent } from '../providers/types.js';
import type { StreamCodec } from './call-runner.js';
import { ChatStreamCodec } from './chat-calls.js';
import { GatewayError } from './errors.js';
import { MessagesFromChatStream, NativeMessagesStream } from './messages/messages-stream.js';
import type { PreparedCall } from './pipeline.js';
import { parseResponsesRequest } from './responses/responses-request.js';
import { NativeResponsesStream, ResponsesFromChatStream } from './responses/responses-stream.js';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/provider-responses/${name}`, import.meta.url), 'utf8');

/** A recording's events as the SSE decoder hands them over: each payload parsed, with its text. */
function chunkEvents(name: string): NativeStreamEvent[] {
  return fixture(name)
    .trim()
    .split('\n')
    .map((data) => {
      const payload = JSON.parse(data) as { type: string };
      return { event: payload.type, payload, data };
    });
}

function sseEvents(name: string): NativeStreamEvent[] {
  return fixture(name)
    .split('\n\n')
    .filter((block) => block.includes('data: '))
    .map((block) => {
      const lines = block.split('\n');
      const data = lines.find((line) => line.startsWith('data: '))!.slice(6);
      const event = lines.find((line) => line.startsWith('event: '))?.slice(7) ?? 'message';
      return { event, payload: JSON.parse(data) as unknown, data };
    });
}

/** All a codec reads of its call is the prompt's local count (for an estimate). */
const call = { promptTokens: 69 } as PreparedCall;

const typeOf = (event: NativeStreamEvent) => (event.payload as { type: string }).type;

/**
 * The stream codecs (native ones relayed as the provider sent them, and those made from chat chunks) (relayed as the provider sent them) on real recorded streams cut where a stream
 * fails: what they report as used, whether the stream is whole, and what the client is told.
 */
describe('a native Messages stream (Anthropic) that fails', () => {
  const events = chunkEvents('anthropic/anthropic-thinking.chunks.txt');
  const deltaAt = events.findIndex((event) => typeOf(event) === 'message_delta');
  const generated = events
    .slice(0, deltaAt)
    .map((event) => (event.payload as { delta?: { thinking?: string; text?: string } }).delta)
    .map((delta) => delta?.thinking ?? delta?.text ?? '')
    .join('');

  it("cut before message_delta: message_start's input, and the output counted from what was generated", () => {
    const codec = new NativeMessagesStream(call);
    for (const event of events.slice(0, deltaAt)) codec.push(event);
    expect(codec.unfinished()).toEqual(new UpstreamError('server_error', 'anthropic ended the stream before message_stop'));
    const usage = codec.reportedUsage()!;
    // message_start said 69 input tokens and a placeholder 2 output tokens.
    expect(usage.input.uncached).toBe(69);
    expect(usage.output.text).toBe(countTextTokens(generated));
    expect(usage.output.text).toBeGreaterThan(2);
    expect(usage.estimated).toBe(true);
  });

  it("whole: message_delta's counts as reported, not estimated, and nothing unfinished", () => {
    const codec = new NativeMessagesStream(call);
    for (const event of events) codec.push(event);
    expect(codec.unfinished()).toBeUndefined();
    const final = (events[deltaAt]!.payload as { usage: { output_tokens: number } }).usage.output_tokens;
    expect(codec.reportedUsage()).toMatchObject({ output: { text: final }, estimated: false });
  });

  it('with message_delta but no message_stop: the final counts, and the stream is still unfinished', () => {
    const codec = new NativeMessagesStream(call);
    for (const event of events.slice(0, deltaAt + 1)) codec.push(event);
    expect(codec.unfinished()).toBeInstanceOf(UpstreamError);
    const final = (events[deltaAt]!.payload as { usage: { output_tokens: number } }).usage.output_tokens;
    expect(codec.reportedUsage()).toMatchObject({ output: { text: final }, estimated: false });
  });

  /** A stream's events from payloads, as the decoder hands them over. */
  const made = (...payloads: Array<Record<string, unknown>>): NativeStreamEvent[] =>
    payloads.map((payload) => ({ event: String(payload.type), payload, data: JSON.stringify(payload) }));
  const start = (outputTokens: number) => ({
    type: 'message_start',
    message: { usage: { input_tokens: 69, cache_read_input_tokens: 0, output_tokens: outputTokens } },
  });
  const text = (chunk: string) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: chunk } });

  it("whole: message_delta's count wins over the text counted locally, and something was generated only with a delta", () => {
    const codec = new NativeMessagesStream(call);
    for (const event of made(start(1), { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }))
      codec.push(event);
    expect(codec.generatedAnything()).toBe(false);
    const long = 'The quick brown fox jumps over the lazy dog, twice over and again.';
    expect(countTextTokens(long)).toBeGreaterThan(2);
    for (const event of made(text(long), {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: 2 },
    }))
      codec.push(event);
    expect(codec.generatedAnything()).toBe(true);
    expect(codec.reportedUsage()).toMatchObject({ input: { uncached: 69 }, output: { text: 2 }, estimated: false });
  });

  it("cut with no more generated than message_start's count: that count, as reported", () => {
    const nothing = new NativeMessagesStream(call);
    for (const event of made(start(1))) nothing.push(event);
    expect(nothing.reportedUsage()).toMatchObject({ output: { text: 1 }, estimated: false });
    // "2" is one token: as many as message_start's count, so nothing is estimated.
    expect(countTextTokens('2')).toBe(1);
    const as = new NativeMessagesStream(call);
    for (const event of made(start(1), text('2'))) as.push(event);
    expect(as.reportedUsage()).toMatchObject({ output: { text: 1 }, estimated: false });
  });

  it("Anthropic's error event (recorded overloaded_error): a server error; the client gets the event as Anthropic sent it", () => {
    const codec = new NativeMessagesStream(call);
    for (const event of events.slice(0, 5)) codec.push(event);
    const [overloaded] = sseEvents('anthropic/anthropic-stream-error-overloaded.sse');
    let thrown: unknown;
    try {
      codec.push(overloaded!);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toEqual(new UpstreamError('server_error', 'anthropic failed mid-stream: Overloaded'));
    expect((thrown as UpstreamError).kind).toBe('server_error');
    expect(codec.failure(new GatewayError('upstream_error', 'the upstream stream failed'))).toEqual([
      `event: error\ndata: ${overloaded!.data}\n\n`,
    ]);
  });

  it('a rate_limit_error event is rate_limited, named by its type when it has no message', () => {
    const codec = new NativeMessagesStream(call);
    const payload = { type: 'error', error: { type: 'rate_limit_error' } };
    expect(() => codec.push({ event: 'error', payload, data: JSON.stringify(payload) })).toThrow(
      expect.objectContaining({ kind: 'rate_limited', message: 'anthropic failed mid-stream: rate_limit_error' }),
    );
    expect(() => codec.push({ event: 'error', payload: { type: 'error' }, data: '{"type":"error"}' })).toThrow(
      'anthropic failed mid-stream: error',
    );
  });
});

describe('an Anthropic stream with server-side compaction (recorded)', () => {
  // anthropic-compaction-cache-read.sse: message_start reports the summary step's cache read (55,096); message_delta
  // the answer's step at the top level (181 read, 8 written) and both steps in `iterations`.
  const events = sseEvents('anthropic/anthropic-compaction-cache-read.sse');
  const billed = {
    input: { uncached: 281, cacheRead: 55_096 },
    output: { text: 91 },
    steps: { largestInput: 55_196, answerOutput: 8 },
  };

  it('relayed natively: both steps billed', () => {
    const codec = new NativeMessagesStream(call);
    for (const event of events) codec.push(event);
    expect(codec.unfinished()).toBeUndefined();
    expect(codec.reportedUsage()).toMatchObject({ ...billed, estimated: false });
  });

  it('translated to chat: both steps billed', () => {
    const translator = new AnthropicStreamTranslator();
    for (const event of events) translator.translate(event.payload);
    expect(translator.usage()).toMatchObject(billed);
  });
});

describe('a native Responses stream (OpenAI) that fails', () => {
  const events = sseEvents('openai/openai-responses-stream.sse');
  const completedAt = events.findIndex((event) => typeOf(event) === 'response.completed');

  it('something was generated only once a delta came', () => {
    const codec = new NativeResponsesStream(call);
    const firstDelta = events.findIndex((event) => typeOf(event) === 'response.output_text.delta');
    for (const event of events.slice(0, firstDelta)) codec.push(event);
    expect(codec.generatedAnything()).toBe(false);
    codec.push(events[firstDelta]!);
    expect(codec.generatedAnything()).toBe(true);
  });

  it('ended before response.completed: unfinished, and the usage is what was generated, estimated', () => {
    const codec = new NativeResponsesStream(call);
    for (const event of events.slice(0, completedAt)) codec.push(event);
    expect(codec.unfinished()).toEqual(new UpstreamError('server_error', 'the upstream ended the stream before its final event'));
    expect(codec.reportedUsage()).toBeUndefined();
    expect(codec.generatedAnything()).toBe(true);
    const whole = new NativeResponsesStream(call);
    for (const event of events) whole.push(event);
    expect(whole.unfinished()).toBeUndefined();
    expect(whole.reportedUsage()).toMatchObject({ estimated: false });
  });

  it('response.failed: a failed stream, billed on the usage it reports (if any); the client gets the event as it was sent', () => {
    const completed = events[completedAt]!.payload as { sequence_number: number; response: Record<string, unknown> };
    // The recorded response.completed as response.failed is documented: status failed, an error, usage or null.
    const failedWith = (usage: unknown) =>
      JSON.stringify({
        type: 'response.failed',
        sequence_number: completed.sequence_number,
        response: {
          ...completed.response,
          status: 'failed',
          error: { code: 'server_error', message: 'The model failed to generate a response.' },
          usage,
        },
      });
    const codec = new NativeResponsesStream(call);
    for (const event of events.slice(0, completedAt)) codec.push(event);
    // Indented, as some upstreams write JSON: relayed as it was written, not re-serialised.
    const data = JSON.stringify(JSON.parse(failedWith(completed.response.usage)), null, 1).replace(/\n/g, '');
    expect(() => codec.push({ event: 'response.failed', payload: JSON.parse(data) as unknown, data })).toThrow(
      new UpstreamError('server_error', 'the upstream failed the response: The model failed to generate a response.'),
    );
    expect(codec.reportedUsage()).toMatchObject({ input: { uncached: 11 }, output: { text: 10 }, estimated: false });
    expect(codec.failure(new GatewayError('upstream_error', 'the upstream stream failed'))).toEqual([
      `event: response.failed\ndata: ${data}\n\n`,
    ]);
    const unreported = new NativeResponsesStream(call);
    const withoutUsage = failedWith(null);
    expect(() =>
      unreported.push({ event: 'response.failed', payload: JSON.parse(withoutUsage) as unknown, data: withoutUsage }),
    ).toThrow(UpstreamError);
    expect(unreported.reportedUsage()).toBeUndefined();
    const unexplained = new NativeResponsesStream(call);
    expect(() => unexplained.push({ event: 'response.failed', payload: { type: 'response.failed' } })).toThrow(
      'the upstream failed the response: no reason given',
    );
  });

  it("an error event: a server error naming the upstream's message; the client gets the event as it was sent", () => {
    const codec = new NativeResponsesStream(call);
    for (const event of events.slice(0, 5)) codec.push(event);
    // Spelled with spaces, as some upstreams write JSON: relayed as it was written, not re-serialised.
    const data =
      '{"type": "error", "sequence_number": 5, "code": "server_error", "message": "The server had an error.", "param": null}';
    expect(() => codec.push({ event: 'error', payload: JSON.parse(data) as unknown, data })).toThrow(
      new UpstreamError('server_error', 'the upstream failed mid-stream: The server had an error.'),
    );
    expect(codec.failure(new GatewayError('upstream_error', 'the upstream stream failed'))).toEqual([
      `event: error\ndata: ${data}\n\n`,
    ]);
    const coded = new NativeResponsesStream(call);
    expect(() => coded.push({ event: 'error', payload: { type: 'error', code: 'overloaded' } })).toThrow(
      'the upstream failed mid-stream: overloaded',
    );
  });
});

describe('streams made from chat chunks, cut off', () => {
  const chatCall = { requestId: 'req_cut', intent: { model: 'gpt-4o-mini' }, promptTokens: 8 } as PreparedCall;
  const chunk = (content: string, finish: string | null): StreamEvent => ({
    type: 'chunk',
    chunk: {
      id: 'chatcmpl-cut',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content }, finish_reason: finish as string }],
    },
  });
  const usage: StreamEvent = { type: 'usage', usage: { ...emptyUsage(), input: { ...emptyUsage().input, uncached: 8 } } };
  const codecs: Array<[string, () => StreamCodec<StreamEvent>]> = [
    ['chat', () => new ChatStreamCodec(chatCall)],
    ['Messages', () => new MessagesFromChatStream(chatCall, 'gpt-4o-mini')],
    ['Responses', () => new ResponsesFromChatStream(chatCall, parseResponsesRequest({ model: 'gpt-4o-mini', input: 'Hi' }))],
  ];

  it.each(codecs)('%s: unfinished without a finish_reason or the usage; whole with either', (_name, make) => {
    const cut = make();
    cut.push(chunk('Hello', null));
    expect(cut.unfinished!()).toEqual(
      new UpstreamError('server_error', 'the upstream ended the stream before its last chunk (no finish_reason, no usage)'),
    );
    const finished = make();
    finished.push(chunk('Hello', null));
    finished.push(chunk('', 'stop'));
    expect(finished.unfinished!()).toBeUndefined();
    const reported = make();
    reported.push(chunk('Hello', null));
    reported.push(usage);
    expect(reported.unfinished!()).toBeUndefined();
  });
});
