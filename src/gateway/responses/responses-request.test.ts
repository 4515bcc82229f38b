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
