import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fromAnthropicResponse } from '../../providers/anthropic/anthropic-response.js';
import type { ChatCompletion } from '../../providers/types.js';
import { outputText } from './responses-calls.js';
import { parseResponsesRequest } from './responses-request.js';
import {
  functionCallItem,
  messageItem,
  newItemId,
  reasoningItem,
  responseFromChat,
  responseShell,
} from './responses-response.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/provider-responses/${name}`, import.meta.url), 'utf8');
const ITEM_ID = (prefix: string) => new RegExp(`^${prefix}_[0-9a-f]{32}$`);

afterEach(() => {
  vi.useRealTimers();
});

/** What OpenAI sends back of a request's settings, unset: the shell every translated response starts from. */
const UNSET = {
  object: 'response',
  error: null,
  instructions: null,
  max_output_tokens: null,
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

describe('a chat completion as a Responses object', () => {
  const request = parseResponsesRequest({ model: 'asked-for', input: 'Hi' });

  it("Anthropic's recorded thinking answer: a reasoning item with its summary, then the message, completed", () => {
    const { body } = fromAnthropicResponse(JSON.parse(fixture('anthropic/anthropic-thinking.json')));
    const message = body.choices[0]!.message;
    expect(message.reasoning_content).toBeTruthy();
    const response = responseFromChat(body, request, 'resp_1');
    expect(response).toEqual({
      ...UNSET,
      id: 'resp_1',
      created_at: body.created,
      model: body.model,
      status: 'completed',
      incomplete_details: null,
      output: [
        {
          type: 'reasoning',
          id: expect.stringMatching(ITEM_ID('rs')),
          summary: [{ type: 'summary_text', text: message.reasoning_content }],
        },
        {
          type: 'message',
          id: expect.stringMatching(ITEM_ID('msg')),
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: message.content, annotations: [], logprobs: [] }],
        },
      ],
    });
  });

  it("OpenAI's recorded tool call: a function_call item with the call's id, name and arguments", () => {
    const completion = JSON.parse(fixture('openai/openai-chat-tool-call.json')) as ChatCompletion;
    const call = completion.choices[0]!.message.tool_calls![0]!;
    expect(responseFromChat(completion, request, 'resp_2').output).toEqual([
      {
        type: 'function_call',
        id: expect.stringMatching(ITEM_ID('fc')),
        call_id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
        status: 'completed',
      },
    ]);
  });

  it('cut at the output limit: incomplete, for max_output_tokens; no time or model from the upstream: now and the asked model', () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1, 0, 0, 0, 750), toFake: ['Date'] });
    const completion = JSON.parse(fixture('openai/openai-chat-text.json')) as ChatCompletion;
    const cut: ChatCompletion = {
      ...completion,
      created: 0,
      model: '',
      choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant', content: '', reasoning_content: '' } }],
    };
    expect(responseFromChat(cut, request, 'resp_3')).toMatchObject({
      created_at: 1_767_225_600,
      model: 'asked-for',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [],
    });
    expect(responseFromChat({ ...completion, choices: [] }, request, 'resp_4')).toMatchObject({
      status: 'completed',
      output: [],
    });
  });

  it("echoes the request's settings as OpenAI does", () => {
    const settings = {
      instructions: 'Be brief.',
      max_output_tokens: 100,
      parallel_tool_calls: false,
      reasoning: { effort: 'low' },
      temperature: 0,
      text: { format: { type: 'json_object' } },
      tool_choice: 'required',
      tools: [{ type: 'function', name: 'ping' }],
      top_p: 0.5,
      user: 'u-1',
      metadata: { team: 'a' },
    };
    expect(responseShell(parseResponsesRequest({ model: 'm', ...settings }), 'resp_5', 7, 'served')).toEqual({
      ...UNSET,
      ...settings,
      id: 'resp_5',
      created_at: 7,
      model: 'served',
      status: 'in_progress',
      incomplete_details: null,
      output: [],
    });
    // The parser refuses tools that are not a list; the shell is built from the request as it came.
    const malformed = { reasoning: 'low', text: 'json', tools: 'ping', metadata: 'team' };
    expect(responseShell({ model: 'm', ...malformed }, 'resp_6', 7, 'served')).toMatchObject({
      reasoning: UNSET.reasoning,
      text: UNSET.text,
      tools: [],
      metadata: {},
    });
  });

  it('items in progress have no content yet; ids are their prefix and 32 hex digits, new each time', () => {
    expect(messageItem('Hi', 'in_progress', 'msg_1')).toEqual({
      type: 'message',
      id: 'msg_1',
      status: 'in_progress',
      role: 'assistant',
      content: [],
    });
    expect(reasoningItem('hmm', 'in_progress', 'rs_1')).toEqual({ type: 'reasoning', id: 'rs_1', summary: [] });
    expect(functionCallItem('call_1', 'ping', '', 'in_progress', 'fc_1')).toEqual({
      type: 'function_call',
      id: 'fc_1',
      call_id: 'call_1',
      name: 'ping',
      arguments: '',
      status: 'in_progress',
    });
    expect(newItemId('msg')).toMatch(ITEM_ID('msg'));
    expect(newItemId('fc')).not.toBe(newItemId('fc'));
    expect(messageItem('Hi', 'completed').id).toMatch(ITEM_ID('msg'));
    expect(reasoningItem('hmm', 'completed').id).toMatch(ITEM_ID('rs'));
    expect(functionCallItem('call_1', 'ping', '{}', 'completed').id).toMatch(ITEM_ID('fc'));
  });
});

describe('the text a Responses object generated (counted when it reports no usage)', () => {
  const openai = (name: string) => JSON.parse(fixture(`openai/${name}`)) as Record<string, unknown>;

  it("the recorded answers: a message's text, a function call's arguments", () => {
    expect(outputText(openai('openai-responses-basic.json'))).toBe('Ahoy! How can I help you today?');
    expect(outputText(openai('openai-responses-function-call.json'))).toBe('{"location":"San Francisco, CA"}');
  });

  it("reasoning summaries: Anthropic's recorded thinking answer as a Responses object, its summary then its text", () => {
    const { body } = fromAnthropicResponse(JSON.parse(fixture('anthropic/anthropic-thinking.json')));
    const response = responseFromChat(body, parseResponsesRequest({ model: 'm', input: 'Hi' }), 'resp_1');
    expect(outputText(response)).toBe('925 divided by 5 = 185925 ÷ 5 = 185');
  });

  it('what is not an item or a part with text adds nothing', () => {
    expect(
      outputText({
        output: [
          'item',
          { type: 'function_call', arguments: { a: 1 } },
          { type: 'message', content: 'text', summary: 'text' },
          { type: 'message', content: ['text', { type: 'output_text', text: 5 }] },
        ],
      }),
    ).toBe('');
    expect(outputText({ output: 'text' })).toBe('');
    expect(outputText({})).toBe('');
  });
});
