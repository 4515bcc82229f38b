import { afterEach, describe, expect, it, vi } from 'vitest';
import { Decimal } from '../money/decimal.js';
import { priceUsage } from '../pricing/cost.js';
import { countTextTokens } from '../providers/token-estimate.js';
import type { ChatCompletionChunk } from '../providers/types.js';
import { estimateTextUsage } from './call-runner.js';
import { chatIntent, ChatStreamCodec, chunkText, completionText } from './chat-calls.js';
import { GatewayError } from './errors.js';
import type { PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';
import { testPrice, testResolution } from '../../test/support/priced-model.js';

const PRICE = testPrice();
const RESOLUTION = testResolution(PRICE, { maxOutputTokens: 100, contextWindow: 1000 });

/** The parts of a prepared call the chat codec reads: its id, the model asked for, the prompt estimate. */
const CALL = { requestId: 'req_1', intent: { model: 'my-alias' }, promptTokens: 8 } as unknown as PreparedCall;

function chunk(fields: Partial<ChatCompletionChunk> & { choices: unknown[] }): ChatCompletionChunk {
  return fields as unknown as ChatCompletionChunk;
}

describe('the text a chat answer generated (what a local count bills)', () => {
  it('joins content, reasoning and tool-call arguments of every choice of a chunk', () => {
    const text = chunkText({
      choices: [
        {
          delta: {
            content: 'Hi ',
            reasoning_content: 'think ',
            tool_calls: [{ function: { arguments: '{"a":1}' } }, { function: {} }],
          },
        },
        { delta: { content: 'there' } },
        // A tool-call chunk: no content, and calls that are not all well formed.
        { delta: { content: null, tool_calls: [null, 'call', { function: null }, { function: { arguments: null } }] } },
        { delta: null },
        'not a choice',
      ],
    });
    expect(text).toBe('Hi think {"a":1}there');
    expect(chunkText(undefined)).toBe('');
    expect(chunkText({ choices: 'none' })).toBe('');
  });

  it("joins a completion's message contents and tool-call arguments", () => {
    const text = completionText({
      choices: [
        { message: { content: 'Sure. ', tool_calls: [{ function: { arguments: '{"city":"Paris"}' } }, 'bad'] } },
        { message: { content: null, tool_calls: [{ function: { arguments: '{}' } }] } },
        { message: 'no' },
        null,
      ],
    });
    expect(text).toBe('Sure. {"city":"Paris"}{}');
    expect(completionText(null)).toBe('');
  });

  it('counts nothing generated as zero output tokens, and text with the tokenizer, on top of the prompt estimate', () => {
    expect(estimateTextUsage({ promptTokens: 8 }, '')).toMatchObject({
      input: { uncached: 8 },
      output: { text: 0 },
      estimated: true,
    });
    expect(estimateTextUsage({ promptTokens: 8 }, 'Hello there, world').output.text).toBe(countTextTokens('Hello there, world'));
  });
});

describe('chat intent', () => {
  it('names the limit the client used when the model cannot write that much', () => {
    const messages = [{ role: 'user' as const, content: 'Hello' }];
    const viaNew = chatIntent({ model: 'gpt-4o-mini', messages, max_completion_tokens: 500 });
    expect(() => viaNew.worstCase(RESOLUTION, { maxOutputTokens: 50 })).toThrow(/max_completion_tokens is 500/);
    const viaOld = chatIntent({ model: 'gpt-4o-mini', messages, max_tokens: 500 });
    try {
      viaOld.worstCase(RESOLUTION, { maxOutputTokens: 50 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).message).toMatch(/max_tokens is 500/);
      expect((error as GatewayError).param).toBe('max_tokens');
    }
    expect(viaOld.requestedMaxOutput).toBe(500);
    expect('requestedMaxOutput' in chatIntent({ model: 'gpt-4o-mini', messages })).toBe(false);
  });
});

describe('the chat stream codec', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function finalChunk(codec: ChatStreamCodec): Record<string, unknown> {
    const usage = estimateTextUsage({ promptTokens: 8 }, 'x');
    const breakdown = priceUsage(usage, PRICE);
    const report: ChargeReport = {
      usage,
      breakdown,
      resolution: RESOLUTION,
      debit: { amount: breakdown.charge, unit: 'usd' },
      shortfall: Decimal.ZERO,
      creditsRemaining: undefined,
    };
    const frames = codec.finish(report);
    expect(frames[1]).toBe('data: [DONE]\n\n');
    return JSON.parse(frames[0]!.slice('data: '.length)) as Record<string, unknown>;
  }

  it("ends with a usage chunk named after the stream's last chunk: its id, creation time and model", () => {
    const codec = new ChatStreamCodec(CALL);
    expect(codec.generatedAnything()).toBe(false);
    codec.push({
      type: 'chunk',
      chunk: chunk({
        id: 'c1',
        created: 111,
        model: 'gpt-4o-mini-2024',
        choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }],
      }),
    });
    codec.push({ type: 'chunk', chunk: chunk({ choices: [{ index: 0, delta: { content: 'b' }, finish_reason: null }] }) });
    expect(codec.generatedAnything()).toBe(true);
    expect(codec.estimatedUsage().output.text).toBe(countTextTokens('ab'));
    expect(finalChunk(codec)).toMatchObject({
      id: 'c1',
      created: 111,
      model: 'gpt-4o-mini-2024',
      object: 'chat.completion.chunk',
      choices: [],
    });
  });

  it('names a stream that sent no chunk after the request, the time it started (seconds) and the model asked for', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_700_000_123_456);
    const codec = new ChatStreamCodec(CALL);
    expect(finalChunk(codec)).toMatchObject({ id: 'req_1', created: 1_700_000_123, model: 'my-alias' });
  });

  it("relays the upstream's own text of a chunk when it has it, else the chunk serialised", () => {
    const codec = new ChatStreamCodec(CALL);
    const text = '{"id": "c1", "choices": [{"delta": {"content": "a"}}]}';
    expect(codec.push({ type: 'chunk', chunk: chunk(JSON.parse(text)), json: text })).toEqual([`data: ${text}\n\n`]);
    expect(codec.push({ type: 'chunk', chunk: chunk({ choices: [] }) })).toEqual(['data: {"choices":[]}\n\n']);
  });
});
