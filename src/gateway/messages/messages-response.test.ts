import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ChatCompletion } from '../../providers/types.js';
import { GatewayError } from '../errors.js';
import { contentText } from './messages-calls.js';
import { anthropicErrorBody } from './messages-errors.js';
import { messageFromChat, parseArguments, stopReason } from './messages-response.js';

const recorded = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../../fixtures/provider-responses/openai/${name}`, import.meta.url), 'utf8'),
  ) as ChatCompletion;

describe('a chat completion as a Message', () => {
  it('the recorded tool call: a tool_use block with its arguments parsed, stop_reason tool_use', () => {
    const completion = recorded('openai-chat-tool-call.json');
    const call = completion.choices[0]!.message.tool_calls![0]!;
    expect(messageFromChat(completion, 'asked-for', 'msg_1')).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: completion.model,
      content: [
        { type: 'tool_use', id: call.id, name: call.function.name, input: JSON.parse(call.function.arguments) as unknown },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
    });
  });

  it('the recorded text: one text block; empty text and reasoning make no block; the asked model when none is named', () => {
    const completion = recorded('openai-chat-text.json');
    expect(messageFromChat(completion, 'asked-for', 'msg_2')).toMatchObject({
      content: [{ type: 'text', text: completion.choices[0]!.message.content }],
      stop_reason: 'end_turn',
    });
    const empty: ChatCompletion = {
      ...completion,
      model: '',
      choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant', content: '', reasoning_content: '' } }],
    };
    expect(messageFromChat(empty, 'asked-for', 'msg_3')).toMatchObject({
      model: 'asked-for',
      content: [],
      stop_reason: 'max_tokens',
    });
    expect(messageFromChat({ ...completion, choices: [] }, 'asked-for', 'msg_4')).toMatchObject({
      content: [],
      stop_reason: 'end_turn',
    });
  });

  it("stop reasons in Anthropic's words", () => {
    expect(
      ['stop', 'length', 'tool_calls', 'function_call', 'content_filter', null, undefined, 'other'].map((reason) =>
        stopReason(reason),
      ),
    ).toEqual(['end_turn', 'max_tokens', 'tool_use', 'tool_use', 'refusal', 'end_turn', 'end_turn', 'end_turn']);
  });

  it("tool arguments: none as an empty object, a model's malformed JSON kept under _raw", () => {
    expect(parseArguments('')).toEqual({});
    expect(parseArguments(' \n')).toEqual({});
    expect(parseArguments(' {"city":"Paris"} ')).toEqual({ city: 'Paris' });
    expect(parseArguments('{"city":')).toEqual({ _raw: '{"city":' });
  });
});

describe("the gateway's errors in Anthropic's shape", () => {
  it('each status its type; the code and the field at fault ride along', () => {
    const typeOf = (code: ConstructorParameters<typeof GatewayError>[0], status?: number) =>
      (anthropicErrorBody(new GatewayError(code, 'm', undefined, status)).error as { type: string }).type;
    expect(typeOf('invalid_request')).toBe('invalid_request_error');
    expect(typeOf('invalid_api_key')).toBe('authentication_error');
    expect(typeOf('insufficient_credits')).toBe('billing_error');
    expect(typeOf('forbidden')).toBe('permission_error');
    expect(typeOf('not_found')).toBe('not_found_error');
    expect(typeOf('idempotency_in_progress')).toBe('invalid_request_error');
    expect(typeOf('invalid_request', 413)).toBe('request_too_large');
    expect(typeOf('idempotency_conflict')).toBe('invalid_request_error');
    expect(typeOf('rate_limited')).toBe('rate_limit_error');
    expect(typeOf('internal_error')).toBe('api_error');
    expect(typeOf('upstream_error')).toBe('api_error');
    expect(typeOf('service_unavailable')).toBe('overloaded_error');
    expect(typeOf('upstream_timeout')).toBe('timeout_error');
    expect(typeOf('internal_error', 418)).toBe('api_error');
    expect(
      anthropicErrorBody(new GatewayError('invalid_request', 'invalid request: max_tokens is required', 'max_tokens')),
    ).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'invalid request: max_tokens is required',
        code: 'invalid_request',
        param: 'max_tokens',
      },
    });
    expect(anthropicErrorBody(new GatewayError('upstream_error', 'failed'))).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'failed', code: 'upstream_error', param: null },
    });
  });
});

describe('the text a Message generated (counted when it reports no usage)', () => {
  const anthropic = (name: string) =>
    JSON.parse(readFileSync(new URL(`../../../fixtures/provider-responses/anthropic/${name}`, import.meta.url), 'utf8')) as {
      content: Array<Record<string, unknown>>;
    };

  it("thinking and text of the recorded thinking answer; text and the tool's input as JSON of the recorded tool call", () => {
    const thinking = anthropic('anthropic-thinking.json');
    expect(contentText(thinking)).toBe('925 divided by 5 = 185925 ÷ 5 = 185');
    const tool = anthropic('anthropic-tool-no-args.json');
    const [text, call] = tool.content as [{ text: string }, Record<string, unknown>];
    expect(contentText(tool)).toBe(`${text.text}{}`);
    expect(contentText({ content: [{ ...call, input: { location: 'Paris' } }] })).toBe('{"location":"Paris"}');
    const { input: _input, ...inputless } = call;
    expect(contentText({ content: [inputless] })).toBe('{}');
  });

  it('what is not a block, or not text, adds nothing', () => {
    expect(contentText({ content: ['text', null, { type: 'text', text: 5 }, { type: 'image', source: {} }] })).toBe('');
    expect(contentText({ content: 'text' })).toBe('');
    expect(contentText({})).toBe('');
  });
});
