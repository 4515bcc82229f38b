import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toGeminiRequest } from './gemini-request.js';
import { GeminiStreamTranslator, fromGeminiResponse } from './gemini-response.js';

const recording = (name: string) =>
  readFileSync(new URL(`../../../fixtures/provider-responses/google/${name}`, import.meta.url), 'utf8');

describe('toGeminiRequest', () => {
  it('maps system, roles, generation settings, tools and tool results', () => {
    const body = toGeminiRequest({
      model: 'gemini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
      max_tokens: 50,
      temperature: 0.2,
      stop: ['END'],
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      response_format: { type: 'json_object' },
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'weather', args: { city: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { result: 'sunny' } } }] },
      ],
      generationConfig: { maxOutputTokens: 50, temperature: 0.2, stopSequences: ['END'], responseMimeType: 'application/json' },
      tools: [{ functionDeclarations: [{ name: 'weather', parametersJsonSchema: { type: 'object' } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } },
    });
  });

  it('refuses a tool result for a call it never saw', () => {
    expect(() => toGeminiRequest({ model: 'g', messages: [{ role: 'tool', tool_call_id: 'zz', content: 'x' }] })).toThrow(
      'unknown tool_call_id "zz"',
    );
  });
});

describe('Gemini responses', () => {
  it('maps the recorded functionCall to a tool call', () => {
    const { body, usage } = fromGeminiResponse(JSON.parse(recording('google-tool-call.json')), 'gemini-3-pro-preview');
    const choice = body.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    expect(choice?.message.tool_calls?.[0]?.function.name).toBe('weather');
    expect(usage?.output.reasoning).toBe(893);
  });

  it('separates thought summaries from the answer in the recorded thinking stream', () => {
    const translator = new GeminiStreamTranslator('gemini-2.5-pro');
    let answer = '';
    let thoughts = '';
    for (const block of recording('gemini-thinking.sse').split(/\r?\n\r?\n/)) {
      if (!block.startsWith('data:')) continue;
      for (const chunk of translator.translate(JSON.parse(block.slice(5)))) {
        answer += chunk.choices[0]?.delta.content ?? '';
        thoughts += (chunk.choices[0]?.delta.reasoning_content as string | undefined) ?? '';
      }
    }
    expect(thoughts.length).toBeGreaterThan(0);
    expect(answer).toMatch(/stay alert and be predictable/);
    expect(answer).not.toContain(thoughts.slice(0, 40));
    expect(translator.usage()?.output.reasoning).toBe(787);
  });
});
