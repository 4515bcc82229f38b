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
