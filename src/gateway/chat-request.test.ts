import { describe, expect, it } from 'vitest';
import { GatewayError } from './errors.js';
import { parseChatRequest } from './chat-request.js';

const valid = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
const withFields = (fields: object) => ({ ...valid, ...fields });
const withMessage = (message: unknown) => ({ ...valid, messages: [{ role: 'user', content: 'first' }, message] });

function refusal(body: unknown): { param: string | undefined; message: string } {
  try {
    parseChatRequest(body);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    const { code, status, param, message } = error as GatewayError;
    expect([code, status]).toEqual(['invalid_request', 400]);
    return { param, message };
  }
  throw new Error('the body was accepted');
}

describe('parseChatRequest', () => {
  it.each([
    ['an array', [], undefined, 'the request body must be a JSON object'],
    ['null', null, undefined, 'the request body must be a JSON object'],
    ['no model', { messages: valid.messages }, 'model', 'invalid request: model is required and must be a string'],
    ['a numeric model', withFields({ model: 5 }), 'model', 'invalid request: model is required and must be a string'],
    ['an empty model', withFields({ model: '' }), 'model', 'invalid request: model must not be empty'],
    [
      'a model name of 257 characters',
      withFields({ model: 'm'.repeat(257) }),
      'model',
      'invalid request: model must be at most 256 characters, got 257',
    ],
    [
      'no messages',
      { model: 'gpt-4o-mini' },
      'messages',
      'invalid request: messages is required and must be an array of messages',
    ],
    [
      'messages as an object',
      withFields({ messages: {} }),
      'messages',
      'invalid request: messages is required and must be an array of messages',
    ],
    ['no message', withFields({ messages: [] }), 'messages', 'invalid request: messages must contain at least one message'],
    [
      'a message that is a string',
      withMessage('hi'),
      'messages[1]',
      'invalid request: messages[1] must be an object with a role and content',
    ],
    [
      'a message that is null',
      withMessage(null),
      'messages[1]',
      'invalid request: messages[1] must be an object with a role and content',
    ],
    [
      'no role',
      withMessage({ content: 'x' }),
      'messages[1].role',
      'invalid request: messages[1].role must be one of system, developer, user, assistant, tool',
    ],
    [
      'an unknown role',
      withMessage({ role: 'robot', content: 'x' }),
      'messages[1].role',
      'invalid request: messages[1].role must be one of system, developer, user, assistant, tool',
    ],
    [
      'numeric content',
      withMessage({ role: 'user', content: 5 }),
      'messages[1].content',
      'invalid request: messages[1].content must be a string, null, or an array of content parts (objects with a string type)',
    ],
    [
      'a content part without a type',
      withMessage({ role: 'user', content: [{ type: 'text', text: 'a' }, { text: 'b' }] }),
      'messages[1].content',
      'invalid request: messages[1].content must be a string, null, or an array of content parts (objects with a string type)',
    ],
    [
      'a content part that is a string',
      withMessage({ role: 'user', content: ['a'] }),
      'messages[1].content',
      'invalid request: messages[1].content must be a string, null, or an array of content parts (objects with a string type)',
    ],
    [
      'a numeric name',
      withMessage({ role: 'user', content: 'x', name: 1 }),
      'messages[1].name',
      'invalid request: messages[1].name must be a string',
    ],
    [
      'tool calls as an object',
      withMessage({ role: 'assistant', content: null, tool_calls: {} }),
      'messages[1].tool_calls',
      'invalid request: messages[1].tool_calls must be an array',
    ],
    [
      'a numeric tool call id',
      withMessage({ role: 'tool', content: 'x', tool_call_id: 1 }),
      'messages[1].tool_call_id',
      'invalid request: messages[1].tool_call_id must be a string',
    ],
    [
      'max_tokens as a string',
      withFields({ max_tokens: '5' }),
      'max_tokens',
      'invalid request: max_tokens must be a whole number',
    ],
    [
      'a fractional max_tokens',
      withFields({ max_tokens: 1.5 }),
      'max_tokens',
      'invalid request: max_tokens must be a whole number',
    ],
    [
      'a max_tokens past 2^53',
      withFields({ max_tokens: 1e20 }),
      'max_tokens',
      'invalid request: max_tokens must be a whole number',
    ],
    ['max_tokens 0', withFields({ max_tokens: 0 }), 'max_tokens', 'invalid request: max_tokens must be at least 1'],
    [
      'a negative max_completion_tokens',
      withFields({ max_completion_tokens: -3 }),
      'max_completion_tokens',
      'invalid request: max_completion_tokens must be at least 1',
    ],
    ['stream as a string', withFields({ stream: 'yes' }), 'stream', 'invalid request: stream must be true or false'],
    [
      'stream_options as an array',
      withFields({ stream_options: [] }),
      'stream_options',
      'invalid request: stream_options must be an object or null',
    ],
    [
      'include_usage as a string',
      withFields({ stream_options: { include_usage: 'x' } }),
      'stream_options.include_usage',
      'invalid request: stream_options.include_usage must be true or false',
    ],
    ['n = 2', withFields({ n: 2 }), 'n', 'invalid request: n only n = 1 is supported (each choice would be billed separately)'],
    [
      'n = "1"',
      withFields({ n: '1' }),
      'n',
      'invalid request: n only n = 1 is supported (each choice would be billed separately)',
    ],
    [
      'temperature 2.5',
      withFields({ temperature: 2.5 }),
      'temperature',
      'invalid request: temperature must be a number from 0 to 2',
    ],
    ['a negative top_p', withFields({ top_p: -0.1 }), 'top_p', 'invalid request: top_p must be a number from 0 to 1'],
    ['top_p as a string', withFields({ top_p: '1' }), 'top_p', 'invalid request: top_p must be a number from 0 to 1'],
  ])('refuses %s, naming the field', (_name, body, param, message) => {
    expect(refusal(body)).toEqual({ param, message });
  });

  it('names the first problem in request order: model, then the messages in order, then the options', () => {
    expect(refusal({ model: 1, messages: [{ role: 'x' }], max_tokens: 0 }).param).toBe('model');
    expect(refusal(withFields({ messages: [{ role: 'x' }, { role: 'y' }], n: 3 })).param).toBe('messages[0].role');
    expect(refusal(withFields({ messages: [{ role: 'x', content: 5 }] })).param).toBe('messages[0].role');
    expect(refusal(withFields({ max_tokens: 0, stream: 'x', temperature: 9 })).param).toBe('max_tokens');
  });

  it('accepts the edges of every range and passes the body through untouched, unknown fields included', () => {
    const body = {
      tools: [{ type: 'function', function: { name: 'weather' } }],
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'terse' },
        { role: 'developer', content: null },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'x' },
            { type: 'image_url', image_url: { url: 'https://a/b.png' } },
          ],
        },
        { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'w', arguments: '{}' } }], name: 'a' },
        { role: 'tool', content: 'sunny', tool_call_id: 'c', extra: true },
      ],
      max_tokens: 1,
      max_completion_tokens: Number.MAX_SAFE_INTEGER,
      stream: true,
      stream_options: { include_usage: false, future_option: 1 },
      n: 1,
      temperature: 2,
      top_p: 0,
      response_format: { type: 'json_object' },
    };
    const copy = structuredClone(body);
    expect(parseChatRequest(body)).toBe(body);
    expect(body).toEqual(copy);
    expect(parseChatRequest(withFields({ stream_options: null, temperature: 0, top_p: 1 }))).toBeTruthy();
    // The longest model name, and stream options that leave include_usage out.
    expect(parseChatRequest(withFields({ model: 'm'.repeat(256), stream_options: {} }))).toBeTruthy();
  });
});
