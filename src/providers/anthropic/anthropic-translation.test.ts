import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../types.js';
import { ANTHROPIC_DEFAULT_MAX_TOKENS, toAnthropicRequest } from './anthropic-request.js';
import { AnthropicStreamTranslator, fromAnthropicResponse } from './anthropic-response.js';

const recording = (name: string) =>
  readFileSync(new URL(`../../../fixtures/provider-responses/anthropic/${name}`, import.meta.url), 'utf8');

describe('toAnthropicRequest', () => {
  it('moves system messages to `system`, defaults max_tokens, maps stop, tools and tool_choice', () => {
    const body = toAnthropicRequest(
      {
        model: 'claude',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: 'Use metric units.' },
          { role: 'user', content: 'Weather in Paris?' },
        ],
        stop: 'END',
        tools: [{ type: 'function', function: { name: 'weather', description: 'Get weather', parameters: { type: 'object' } } }],
        tool_choice: 'required',
        user: 'user-7',
      },
      'claude-sonnet-4-5',
      false,
    );
    expect(body).toEqual({
      model: 'claude-sonnet-4-5',
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Use metric units.' },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }],
      max_tokens: ANTHROPIC_DEFAULT_MAX_TOKENS,
      stop_sequences: ['END'],
      tools: [{ name: 'weather', description: 'Get weather', input_schema: { type: 'object' } }],
      tool_choice: { type: 'any' },
      metadata: { user_id: 'user-7' },
    });
  });

  it('turns tool calls into tool_use blocks and merges tool results into one user turn; images by data URL', () => {
    const body = toAnthropicRequest(
      {
        model: 'claude',
        max_completion_tokens: 100,
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } }] },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
              { id: 'b', type: 'function', function: { name: 'g', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'a', content: 'one' },
          { role: 'tool', tool_call_id: 'b', content: 'two' },
        ],
      },
      'claude',
      true,
    );
    expect(body.max_tokens).toBe(100);
    expect(body.stream).toBe(true);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'a', name: 'f', input: { x: 1 } },
          { type: 'tool_use', id: 'b', name: 'g', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'a', content: [{ type: 'text', text: 'one' }] },
          { type: 'tool_result', tool_use_id: 'b', content: [{ type: 'text', text: 'two' }] },
        ],
      },
    ]);
  });

  it('refuses what Anthropic cannot express with a bad_request naming it', () => {
    const call = () => toAnthropicRequest({ model: 'c', n: 2, messages: [{ role: 'user', content: 'hi' }] }, 'c', false);
    expect(call).toThrow(UpstreamError);
    expect(call).toThrow('n other than 1');
  });
});

describe('Anthropic responses', () => {
  it('maps the recorded tool_use response to tool_calls with finish_reason tool_calls', () => {
    const { body, usage } = fromAnthropicResponse(JSON.parse(recording('anthropic-tool-no-args.json')));
    const choice = body.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.tool_calls?.[0]?.function.arguments).toBe('{}');
    expect(typeof choice?.message.content).toBe('string');
    expect(usage?.input.uncached).toBe(602);
    expect(body.usage).toMatchObject({ prompt_tokens: 602, completion_tokens: 93, total_tokens: 695 });
  });

  it('keeps thinking apart from the answer', () => {
    const { body } = fromAnthropicResponse(JSON.parse(recording('anthropic-thinking.json')));
    expect(typeof body.choices[0]?.message.reasoning_content).toBe('string');
    expect(body.choices[0]?.message.content).not.toContain(body.choices[0]?.message.reasoning_content as string);
  });

  it('streams the recorded tool call as OpenAI tool_call deltas whose arguments join to the JSON', () => {
    const translator = new AnthropicStreamTranslator();
    let name = '';
    let argumentsText = '';
    const finishes: string[] = [];
    for (const line of recording('anthropic-tool-call.chunks.txt').trim().split('\n')) {
      const chunk = translator.translate(JSON.parse(line));
      for (const call of chunk?.choices[0]?.delta.tool_calls ?? []) {
        name += call.function?.name ?? '';
        argumentsText += call.function?.arguments ?? '';
      }
      if (chunk?.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    expect(name).toBe('weather');
    expect(JSON.parse(argumentsText)).toEqual({ location: 'San Francisco' });
    expect(finishes).toEqual(['tool_calls']);
    expect(translator.usage()?.output.text).toBe(28);
  });

  it('turns an error event into an UpstreamError', () => {
    const translator = new AnthropicStreamTranslator();
    expect(() => translator.translate({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toThrow(
      'anthropic failed mid-stream: Overloaded',
    );
  });
});
