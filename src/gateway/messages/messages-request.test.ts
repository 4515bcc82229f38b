import { describe, expect, it } from 'vitest';
import { GatewayError } from '../errors.js';
import { messagesToChat, parseMessagesRequest } from './messages-request.js';
import { messageFromChat } from './messages-response.js';

describe('Messages requests in the chat form', () => {
  it('maps system blocks, images, tool_use and tool_result, tools, tool_choice and stop sequences', () => {
    const chat = messagesToChat(
      parseMessagesRequest({
        model: 'gpt-4o-mini',
        max_tokens: 200,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA' } },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 's' },
              { type: 'tool_use', id: 'tu_1', name: 'weather', input: { city: 'Paris' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'tu_1', content: [{ type: 'text', text: 'Sunny' }] },
              { type: 'text', text: 'And now?' },
            ],
          },
        ],
        tools: [{ name: 'weather', description: 'Weather', input_schema: { type: 'object' } }],
        tool_choice: { type: 'any' },
        stop_sequences: ['END'],
        metadata: { user_id: 'user-7' },
      }),
      true,
    );
    expect(chat).toEqual({
      model: 'gpt-4o-mini',
      max_tokens: 200,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'tu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'tu_1', content: 'Sunny' },
        { role: 'user', content: 'And now?' },
      ],
      stop: ['END'],
      user: 'user-7',
      tools: [{ type: 'function', function: { name: 'weather', description: 'Weather', parameters: { type: 'object' } } }],
      tool_choice: 'required',
    });
  });

  it('refuses server tools with a 400 naming them; requires max_tokens as Anthropic does', () => {
    const request = parseMessagesRequest({
      model: 'm',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
    });
    expect(() => messagesToChat(request, true)).toThrow(/tools\.0|web_search/);
    expect(() => parseMessagesRequest({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] })).toThrow(GatewayError);
  });

  it('turns a chat completion into a Message: thinking, text and tool_use blocks, stop reason', () => {
    const message = messageFromChat(
      {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            finish_reason: 'tool_calls',
            message: {
              role: 'assistant',
              content: 'Checking.',
              reasoning_content: 'think',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
            },
          },
        ],
      },
      'gpt-4o-mini',
      'msg_1',
    );
    expect(message).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini',
      content: [
        { type: 'thinking', thinking: 'think', signature: '' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
    });
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

const hi = [{ role: 'user', content: 'Hi' }];

describe('a Messages request checked', () => {
  it('names the first bad field and what it must be', () => {
    const refused = (body: unknown) => refusal(() => parseMessagesRequest(body));
    const field = (param: string, problem: string) => ({
      code: 'invalid_request',
      message: `invalid request: ${param} ${problem}`,
      param,
    });
    expect(refused([hi])).toEqual({
      code: 'invalid_request',
      message: 'the request body must be a JSON object',
      param: undefined,
    });
    expect(refused({ model: 5, max_tokens: 1, messages: hi })).toMatchObject({ param: 'model' });
    const nonEmpty = field('messages', 'is required and must be a non-empty array');
    expect(refused({ model: 'm', max_tokens: 1 })).toEqual(nonEmpty);
    expect(refused({ model: 'm', max_tokens: 1, messages: [] })).toEqual(nonEmpty);
    expect(refused({ model: 'm', max_tokens: 1, messages: 'Hi' })).toEqual(nonEmpty);
    expect(refused({ model: 'm', max_tokens: 1, messages: [...hi, 'Hi'] })).toEqual(
      field('messages.1', 'must be an object with a role and content'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: [...hi, { role: 'system', content: 'Hi' }] })).toEqual(
      field('messages.1.role', 'must be "user" or "assistant"'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: [...hi, { role: 'assistant', content: 5 }] })).toEqual(
      field('messages.1.content', 'must be a string or an array of content blocks'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: [...hi, { role: 'assistant' }] })).toEqual(
      field('messages.1.content', 'must be a string or an array of content blocks'),
    );
    const maxTokens = field('max_tokens', 'is required and must be a whole number of at least 1');
    for (const max of [undefined, '10', 1.5, 2 ** 53, 0, -1, null]) {
      expect(refused({ model: 'm', max_tokens: max, messages: hi })).toEqual(maxTokens);
    }
    expect(refused({ model: 'm', max_tokens: 1, messages: hi, system: 5 })).toEqual(
      field('system', 'must be a string or an array of text blocks'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: hi, system: null })).toEqual(
      field('system', 'must be a string or an array of text blocks'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: hi, stream: 'true' })).toEqual(
      field('stream', 'must be true or false'),
    );
    expect(refused({ model: 'm', max_tokens: 1, messages: hi, tools: {} })).toEqual(field('tools', 'must be an array'));
  });

  it('takes every well-formed field as it is', () => {
    const body = {
      model: 'm',
      max_tokens: 1,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: 'Hello' },
      ],
      system: [],
      stream: false,
      tools: [],
      anything: 'else',
    };
    expect(parseMessagesRequest(body)).toBe(body);
    for (const more of [{ system: 'Be brief.' }, { stream: true }, { max_tokens: 2 ** 53 - 1 }]) {
      expect(parseMessagesRequest({ ...body, ...more })).toMatchObject(more);
    }
  });
});

describe('a Messages request in the chat form, field by field', () => {
  const request = (more: Record<string, unknown>) =>
    parseMessagesRequest({ model: 'gpt-4o-mini', max_tokens: 50, messages: hi, ...more });
  const strictRefusal = (more: Record<string, unknown>) => refusal(() => messagesToChat(request(more), true));
  const reached = (what: string) =>
    `invalid request: ${what} cannot be sent to this model's provider, which is reached through chat completions`;

  it('system: a string as it is, text blocks joined by lines, nothing when empty', () => {
    expect(messagesToChat(request({ system: 'Be brief.' }), true).messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
    const blocks = [
      { type: 'text', text: 'One.' },
      'two',
      { type: 'text' },
      { type: 'text', text: '' },
      { type: 'text', text: 'Three.' },
    ];
    expect(messagesToChat(request({ system: blocks }), true).messages[0]).toEqual({ role: 'system', content: 'One.\nThree.' });
    for (const system of ['', [], [{ type: 'text', text: '' }], undefined]) {
      expect(messagesToChat(request({ system }), true).messages).toEqual([{ role: 'user', content: 'Hi' }]);
    }
  });

  it('blocks: images by URL or base64 (PNG when unnamed), tool calls and results with what they lack made empty', () => {
    const chat = messagesToChat(
      request({
        messages: [
          {
            role: 'user',
            content: [
              'not a block',
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
              { type: 'image', source: { type: 'base64', data: 'AA' } },
            ],
          },
          { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'x' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use' }] },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'tu_1', content: 'Sunny' },
              { type: 'tool_result', content: { not: 'text' } },
              {
                type: 'tool_result',
                tool_use_id: 'tu_3',
                content: [
                  { type: 'text', text: 'a' },
                  { type: 'text', text: 'b' },
                ],
              },
            ],
          },
          { role: 'user', content: [{ type: 'tool_use', id: 'tu_9', name: 'odd', input: { a: 1 } }] },
          { role: 'user', content: [] },
        ],
      }),
      true,
    );
    expect(chat.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } },
        ],
      },
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [{ id: '', type: 'function', function: { name: '', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'tu_1', content: 'Sunny' },
      { role: 'tool', tool_call_id: '', content: '' },
      { role: 'tool', tool_call_id: 'tu_3', content: 'a\nb' },
      {
        role: 'user',
        content: '',
        tool_calls: [{ id: 'tu_9', type: 'function', function: { name: 'odd', arguments: '{"a":1}' } }],
      },
    ]);
  });

  it('what chat cannot carry: refused naming the block, or left out of an estimate', () => {
    const document = {
      role: 'user',
      content: [
        { type: 'text', text: 'Read' },
        { type: 'document', source: {} },
      ],
    };
    expect(strictRefusal({ messages: [...hi, document] })).toEqual({
      code: 'invalid_request',
      message: reached('a content block of type "document"'),
      param: 'messages.1.content.1.type',
    });
    expect(messagesToChat(request({ messages: [...hi, document] }), false).messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'user', content: 'Read' },
    ]);
    const file = { role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f_1' } }] };
    expect(strictRefusal({ messages: [file] })).toEqual({
      code: 'invalid_request',
      message: reached('an image source of type "file"'),
      param: 'messages.0.content.0.source',
    });
    // Left out of the estimate: an empty text part in its place.
    expect(messagesToChat(request({ messages: [file] }), false).messages).toEqual([{ role: 'user', content: '' }]);
    const unsourced = { role: 'user', content: [{ type: 'image', source: 'not a source' }] };
    expect(strictRefusal({ messages: [unsourced] })).toMatchObject({ param: 'messages.0.content.0.type' });
    const base64Unread = { role: 'user', content: [{ type: 'image', source: { type: 'base64', data: 5 } }] };
    expect(strictRefusal({ messages: [base64Unread] })).toMatchObject({ param: 'messages.0.content.0.source' });
    const urlUnread = { role: 'user', content: [{ type: 'image', source: { type: 'url' } }] };
    expect(strictRefusal({ messages: [urlUnread] })).toMatchObject({ message: reached('an image source of type "url"') });
  });

  it('settings: temperature, top_p, stop sequences and the end user when well-typed, else left out', () => {
    expect(
      messagesToChat(request({ temperature: 0, top_p: 0.5, stop_sequences: ['END'], metadata: { user_id: 'u-1' } }), true),
    ).toEqual({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0,
      top_p: 0.5,
      stop: ['END'],
      user: 'u-1',
    });
    expect(
      messagesToChat(
        request({ temperature: '0', top_p: '1', stop_sequences: 'END', metadata: { user_id: 7 }, tool_choice: 'any' }),
        true,
      ),
    ).toEqual({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
    expect(messagesToChat(request({ metadata: 'u-1' }), true)).not.toHaveProperty('user');
  });

  it('tools: custom ones as functions (an empty schema when none), others refused or left out; tool_choice in chat words', () => {
    const custom = { type: 'custom', name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } };
    const bare = { name: 'ping' };
    expect(messagesToChat(request({ tools: [custom, bare] }), true).tools).toEqual([
      { type: 'function', function: { name: 'lookup', parameters: custom.input_schema } },
      { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
    ]);
    expect(messagesToChat(request({ tools: [] }), true)).not.toHaveProperty('tools');
    const server = { type: 'web_search_20250305', name: 'web_search' };
    expect(strictRefusal({ tools: [bare, server] })).toEqual({
      code: 'invalid_request',
      message: reached('a tool of type "web_search_20250305" (only custom tools translate)'),
      param: 'tools.1',
    });
    expect(strictRefusal({ tools: ['ping'] })).toMatchObject({
      message: reached('a tool of type "ping" (only custom tools translate)'),
    });
    expect(strictRefusal({ tools: [{ type: 'custom' }] })).toMatchObject({ param: 'tools.0' });
    expect(messagesToChat(request({ tools: [server, bare] }), false).tools).toEqual([
      { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
    ]);
    const choice = (tool_choice: unknown) => messagesToChat(request({ tool_choice }), true).tool_choice;
    expect(choice({ type: 'any' })).toBe('required');
    expect(choice({ type: 'none' })).toBe('none');
    expect(choice({ type: 'auto' })).toBe('auto');
    expect(choice({ type: 'tool', name: 'ping' })).toEqual({ type: 'function', function: { name: 'ping' } });
    expect(choice({ type: 'tool' })).toBe('auto');
    expect(choice({ name: 'ping' })).toBe('auto');
  });
});
