import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { parseResponsesRequest, responsesToChat } from './responses-request.js';

describe('Responses requests in the chat form', () => {
  it('maps instructions, input items, function calls and their outputs, tools, tool_choice, text.format and limits', () => {
    const chat = responsesToChat(
      parseResponsesRequest({
        model: 'claude-sonnet-4-5',
        instructions: 'Be brief.',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'Weather in Paris?' },
              { type: 'input_image', image_url: 'data:image/png;base64,AA' },
            ],
          },
          { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
          { type: 'function_call', call_id: 'call_2', name: 'time', arguments: '{}' },
          { type: 'function_call_output', call_id: 'call_1', output: 'Sunny' },
          { type: 'reasoning', id: 'rs_1', summary: [] },
        ],
        tools: [{ type: 'function', name: 'weather', description: 'Weather', parameters: { type: 'object' }, strict: true }],
        tool_choice: { type: 'function', name: 'weather' },
        text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
        max_output_tokens: 300,
        temperature: 0.2,
      }),
      true,
    );
    expect(chat).toEqual({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather in Paris?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
      ],
      max_tokens: 300,
      temperature: 0.2,
      tools: [
        { type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object' }, strict: true } },
      ],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
    });
  });

  it('refuses what chat cannot carry with a 400 naming it, or leaves it out for an estimate', () => {
    const request = parseResponsesRequest({
      model: 'm',
      input: 'Hi',
      tools: [{ type: 'web_search' }],
      previous_response_id: 'resp_1',
    });
    expect(() => responsesToChat(request, true)).toThrow(GatewayError);
    expect(() => responsesToChat(request, true)).toThrow(/previous_response_id/);
    expect(responsesToChat(request, false).messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('names the bad field of a malformed request', () => {
    const bad = (body: unknown) => {
      try {
        parseResponsesRequest(body);
      } catch (error) {
        return (error as GatewayError).param;
      }
      return undefined;
    };
    expect(bad({ input: 'Hi' })).toBe('model');
    expect(bad({ model: 'm', input: 5 })).toBe('input');
    expect(bad({ model: 'm', input: [1] })).toBe('input[0]');
    expect(bad({ model: 'm', max_output_tokens: 0 })).toBe('max_output_tokens');
  });
});

/** The error a malformed request is refused with: its code, message and the field it names. */
function refusal(run: () => unknown): { code: string; message: string; param: string | undefined } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    return { code: error.code, message: error.message, param: error.param };
  }
  throw new Error('nothing was thrown');
}

const field = (param: string, problem: string) => ({
  code: 'invalid_request',
  message: `invalid request: ${param} ${problem}`,
  param,
});
const reached = (what: string) =>
  `invalid request: ${what} cannot be sent to this model's provider, which is reached through chat completions`;

describe('a Responses request checked', () => {
  const refused = (more: Record<string, unknown>) => refusal(() => parseResponsesRequest({ model: 'm', ...more }));

  it('names the first bad field and what it must be', () => {
    expect(refusal(() => parseResponsesRequest(['m']))).toEqual({
      code: 'invalid_request',
      message: 'the request body must be a JSON object',
      param: undefined,
    });
    expect(refused({ input: 5 })).toEqual(field('input', 'must be a string or an array of input items'));
    expect(refused({ input: null })).toEqual(field('input', 'must be a string or an array of input items'));
    expect(refused({ input: [{ role: 'user', content: 'Hi' }, 'Hi'] })).toEqual(field('input[1]', 'must be an object'));
    expect(refused({ instructions: 5 })).toEqual(field('instructions', 'must be a string'));
    for (const max of ['10', 1.5, 2 ** 53, 0, -1]) {
      expect(refused({ max_output_tokens: max })).toEqual(field('max_output_tokens', 'must be a whole number of at least 1'));
    }
    expect(refused({ stream: 'true' })).toEqual(field('stream', 'must be true or false'));
    expect(refused({ tools: {} })).toEqual(field('tools', 'must be an array'));
  });

  it('takes null for the optional fields, as OpenAI does, and every well-formed field as it is', () => {
    const body = { model: 'm', input: [], instructions: null, max_output_tokens: null, stream: null, tools: null };
    expect(parseResponsesRequest(body)).toBe(body);
    const full = { model: 'm', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 1, stream: true, tools: [] };
    expect(parseResponsesRequest(full)).toBe(full);
    expect(parseResponsesRequest({ model: 'm', max_output_tokens: 2 ** 53 - 1 })).toMatchObject({
      max_output_tokens: 2 ** 53 - 1,
    });
  });
});

describe('a Responses request in the chat form, field by field', () => {
  const chatOf = (more: Record<string, unknown>, strict = true) =>
    responsesToChat(parseResponsesRequest({ model: 'm', ...more }), strict);
  const strictRefusal = (more: Record<string, unknown>) => refusal(() => chatOf(more));

  it('input items: roles, content parts, function calls grouped while consecutive, outputs in text', () => {
    const chat = chatOf({
      instructions: '',
      input: [
        { role: 'developer', content: 'Rules.' },
        {
          type: 'message',
          role: 'system',
          content: [{ type: 'text', text: 'More ' }, 'skipped', { type: 'output_text', text: 'rules.' }],
        },
        { role: 'critic', content: 5 },
        { role: 'user', content: [{ type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' }] },
        { type: 'function_call', id: 'fc_1', name: 'first', arguments: { not: 'text' } },
        { type: 'function_call' },
        { type: 'function_call_output', call_id: 'fc_1', output: { temperature: 21 } },
        { type: 'function_call_output' },
        { role: 'assistant', content: 'Done.' },
        { type: 'function_call', call_id: 'call_3', id: 'fc_3', name: 'third', arguments: '{"a":1}' },
      ],
    });
    expect(chat).toEqual({
      model: 'm',
      messages: [
        { role: 'developer', content: 'Rules.' },
        { role: 'system', content: 'More rules.' },
        { role: 'user', content: '' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'fc_1', type: 'function', function: { name: 'first', arguments: '{}' } },
            { id: '', type: 'function', function: { name: '', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'fc_1', content: '{"temperature":21}' },
        { role: 'tool', tool_call_id: '', content: '""' },
        { role: 'assistant', content: 'Done.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'third', arguments: '{"a":1}' } }],
        },
      ],
    });
    expect(chatOf({})).toEqual({ model: 'm', messages: [] });
    expect(chatOf({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'u' }] }] }).messages).toEqual([
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'u' } }] },
    ]);
  });

  it('what chat cannot carry: refused naming it, or left out of an estimate', () => {
    const stored = { previous_response_id: 'resp_1', input: 'Hi' };
    expect(strictRefusal(stored)).toEqual({
      code: 'invalid_request',
      message: reached('previous_response_id (responses stored by OpenAI)'),
      param: 'previous_response_id',
    });
    expect(chatOf({ previous_response_id: '', input: 'Hi' }).messages).toEqual([{ role: 'user', content: 'Hi' }]);
    const items = [
      { role: 'user', content: 'Hi' },
      { type: 'reasoning', summary: [] },
      { type: 'web_search_call', id: 'ws_1' },
    ];
    expect(strictRefusal({ input: items })).toEqual({
      code: 'invalid_request',
      message: reached('an input item of type "web_search_call"'),
      param: 'input[2].type',
    });
    expect(chatOf({ input: items }, false).messages).toEqual([{ role: 'user', content: 'Hi' }]);
    const file = {
      role: 'user',
      content: [
        { type: 'input_text', text: 'Read' },
        { type: 'input_file', file_id: 'f_1' },
      ],
    };
    expect(strictRefusal({ input: [file] })).toEqual({
      code: 'invalid_request',
      message: reached('a content part of type "input_file"'),
      param: 'input[0].content[1].type',
    });
    expect(chatOf({ input: [file] }, false).messages).toEqual([{ role: 'user', content: 'Read' }]);
    expect(strictRefusal({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f_2' }] }] })).toMatchObject({
      message: reached('a content part of type "input_image"'),
    });
    expect(strictRefusal({ input: [{ role: 'user', content: [{ type: 'input_text' }] }] })).toMatchObject({
      param: 'input[0].content[0].type',
    });
    expect(strictRefusal({ tools: [{ type: 'function', name: 'ok' }, { type: 'web_search' }] })).toEqual({
      code: 'invalid_request',
      message: reached('a tool of type "web_search" (only function tools translate)'),
      param: 'tools[1]',
    });
    expect(strictRefusal({ tools: ['web_search'] })).toMatchObject({
      message: reached('a tool of type "web_search" (only function tools translate)'),
    });
    expect(strictRefusal({ tools: [{ type: 'function' }] })).toMatchObject({ param: 'tools[0]' });
    expect(chatOf({ tools: [{ type: 'web_search' }] }, false)).toEqual({ model: 'm', messages: [] });
  });

  it('settings copied when set; tools with what they lack left out or empty; tool_choice and text.format in chat words', () => {
    expect(
      chatOf({
        max_output_tokens: 5,
        temperature: 0,
        top_p: 1,
        user: 'u-1',
        parallel_tool_calls: false,
        tools: [],
        tool_choice: 'none',
      }),
    ).toEqual({
      model: 'm',
      messages: [],
      max_tokens: 5,
      temperature: 0,
      top_p: 1,
      user: 'u-1',
      parallel_tool_calls: false,
      tool_choice: 'none',
    });
    expect(chatOf({ max_output_tokens: null, temperature: null, top_p: null, user: null, tool_choice: null })).toEqual({
      model: 'm',
      messages: [],
    });
    expect(chatOf({ tools: [{ type: 'function', name: 'ping' }] }).tools).toEqual([
      { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
    ]);
    expect(chatOf({ tool_choice: { type: 'function' } }).tool_choice).toEqual({ type: 'function' });
    expect(chatOf({ tool_choice: { type: 'function', name: 'ping' } }).tool_choice).toEqual({
      type: 'function',
      function: { name: 'ping' },
    });
    expect(chatOf({ text: { format: { type: 'json_object' } } }).response_format).toEqual({ type: 'json_object' });
    expect(chatOf({ text: { format: { type: 'text' } } })).not.toHaveProperty('response_format');
    expect(chatOf({ text: { format: 'json_object' } })).not.toHaveProperty('response_format');
    expect(chatOf({ text: 'json_object' })).not.toHaveProperty('response_format');
  });
});
