import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, tool, jsonSchema } from 'ai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { cost, expectBilledOnce } from './support/billing-checks.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { eventually, kindsOf, capturedTotal, expectSettled } from './support/ledger-checks.js';
import { midStreamError, startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { usageRecordOf, usageRecordsOfAccount } from './support/charges.js';
import { loadRecordings } from './support/mock-recordings.js';
import { countTextTokens, estimatePromptTokens } from '../src/providers/token-estimate.js';

// Rates from fixtures/litellm/api-surface-slice.json (USD per token).
const GPT_5 = { input: '0.00000125', cached: '1.25e-7', output: '0.00001' };
const GPT_4O_MINI = { input: '1.5e-7', output: '6e-7' };
const CLAUDE_SONNET_4_5 = { input: '3e-6', output: '1.5e-5' };

interface BilledUsage {
  input_tokens: number;
  output_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
  cost: number;
  tollgate: { charge: string; estimated: boolean };
}

/**
 * `POST /v1/responses` end to end, driven by the official `openai` client and the Vercel AI SDK's default
 * OpenAI provider (which calls /v1/responses), against recorded OpenAI Responses answers (passed through) and
 * recorded Anthropic answers (translated through chat). Every call is checked in the ledger: one capture,
 * equal to the charge the response reported.
 */
describe.each(backends())('POST /v1/responses on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url, seedFiles: ['fixtures/litellm/api-surface-slice.json'] });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  it('OpenAI, passed through: reasoning tokens of the recorded answer billed at the output rate', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await harness
      .client(account.key)
      .responses.create({ model: 'gpt-5', input: 'Say hello', max_output_tokens: 2000 });
    expect(mock.requests[0]).toMatchObject({ api: 'responses', body: { model: 'gpt-5', input: 'Say hello', stream: false } });
    expect(response.output_text.length).toBeGreaterThan(0);
    const usage = response.usage as unknown as BilledUsage;
    // Recorded: input 23, output 89 of which reasoning 64.
    expect([usage.input_tokens, usage.output_tokens, usage.output_tokens_details.reasoning_tokens]).toEqual([23, 89, 64]);
    await expectBilledOnce(
      harness,
      account,
      '1',
      usage.tollgate.charge,
      cost([23, GPT_5.input], [25, GPT_5.output], [64, GPT_5.output]),
    );
  });

  it('OpenAI, passed through: cached input at the cache-read rate and reasoning, never counted twice', async () => {
    // gpt-5 may write 128,000 output tokens: its worst case is $1.28.
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('reasoning');
    const response = await harness.client(account.key).responses.create({ model: 'gpt-5', input: 'Search the web' });
    const usage = response.usage as unknown as BilledUsage;
    expect(usage.input_tokens_details.cached_tokens).toBe(4352);
    const expected = cost([12724 - 4352, GPT_5.input], [4352, GPT_5.cached], [698 - 532, GPT_5.output], [532, GPT_5.output]);
    await expectBilledOnce(harness, account, '5', usage.tollgate.charge, expected);
  });

  it('OpenAI, streamed: events pass through and response.completed carries the usage with its cost', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const stream = await harness.client(account.key).responses.create({ model: 'gpt-4o-mini', input: 'Say hello', stream: true });
    const types: string[] = [];
    let text = '';
    let usage: BilledUsage | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage as unknown as BilledUsage;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(text.length).toBeGreaterThan(0);
    expect(mock.requests[0]?.body.stream).toBe(true);
    await expectBilledOnce(
      harness,
      account,
      '1',
      usage!.tollgate.charge,
      cost([11, GPT_4O_MINI.input], [10, GPT_4O_MINI.output]),
    );
  });

  it('OpenAI, streamed tool call with reasoning: 448 reasoning tokens from the completed event', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('tool-call');
    const stream = await harness.client(account.key).responses.create({
      model: 'gpt-5',
      input: 'Weather in Paris?',
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }],
      stream: true,
    });
    let usage: BilledUsage | undefined;
    let argumentsText = '';
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta') argumentsText += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage as unknown as BilledUsage;
    }
    expect(argumentsText.length).toBeGreaterThan(0);
    expect(usage!.output_tokens_details.reasoning_tokens).toBe(448);
    const { input_tokens: input, output_tokens: output } = usage!;
    await expectBilledOnce(
      harness,
      account,
      '5',
      usage!.tollgate.charge,
      cost([input, GPT_5.input], [output - 448, GPT_5.output], [448, GPT_5.output]),
    );
  });

  it('Anthropic, translated through chat: instructions as system, the answer as a message item', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await harness
      .client(account.key)
      .responses.create({ model: 'claude-sonnet-4-5', instructions: 'Be brief.', input: 'Say hello', max_output_tokens: 300 });
    expect(mock.requests[0]).toMatchObject({
      api: 'anthropic',
      body: { model: 'claude-sonnet-4-5', system: [{ type: 'text', text: 'Be brief.' }], max_tokens: 300 },
    });
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.status).toBe('completed');
    const usage = response.usage as unknown as BilledUsage;
    await expectBilledOnce(
      harness,
      account,
      '1',
      usage.tollgate.charge,
      cost([12, CLAUDE_SONNET_4_5.input], [29, CLAUDE_SONNET_4_5.output]),
    );
  });

  it('Anthropic, translated and streamed: a tool call becomes function_call events whose arguments join to the JSON', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('tool-call');
    const stream = await harness.client(account.key).responses.create({
      model: 'claude-sonnet-4-5',
      input: [{ role: 'user', content: 'Weather in San Francisco?' }],
      tools: [
        {
          type: 'function',
          name: 'weather',
          parameters: { type: 'object', properties: { location: { type: 'string' } } },
          strict: false,
        },
      ],
      stream: true,
    });
    let argumentsText = '';
    let name = '';
    let usage: BilledUsage | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_item.added' && event.item.type === 'function_call') name = event.item.name;
      if (event.type === 'response.function_call_arguments.delta') argumentsText += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage as unknown as BilledUsage;
    }
    expect(mock.requests[0]?.body.tools).toEqual([
      { name: 'weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } },
    ]);
    expect(name).toBe('weather');
    expect(JSON.parse(argumentsText)).toEqual({ location: 'San Francisco' });
    expect(usage!.tollgate.estimated).toBe(false);
    const { input_tokens: input, output_tokens: output } = usage!;
    await expectBilledOnce(
      harness,
      account,
      '1',
      usage!.tollgate.charge,
      cost([input, CLAUDE_SONNET_4_5.input], [output, CLAUDE_SONNET_4_5.output]),
    );
  });

  it("the Vercel AI SDK's default OpenAI provider: generateText and streamText, billed once each", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const openai = createOpenAI({ baseURL: `${harness.url}/v1`, apiKey: account.key });
    mock.queue('text', 'text');
    const generated = await generateText({ model: openai('gpt-4o-mini'), prompt: 'Say hello', maxRetries: 0 });
    expect(generated.text.length).toBeGreaterThan(0);
    expect(mock.requests[0]?.api).toBe('responses');
    const generatedCost = (generated.usage.raw as { tollgate: { charge: string } }).tollgate.charge;
    // Recorded gpt-5 answer (23 in, 89 out) priced at gpt-4o-mini's rates, the model the caller named.
    expect(generatedCost).toBe(cost([23, GPT_4O_MINI.input], [89, GPT_4O_MINI.output]).toString());
    const streamed = streamText({ model: openai('gpt-4o-mini'), prompt: 'Say hello', maxRetries: 0 });
    let text = '';
    for await (const part of streamed.textStream) text += part;
    expect(text.length).toBeGreaterThan(0);
    const streamedCost = ((await streamed.usage).raw as { tollgate: { charge: string } }).tollgate.charge;
    expect(streamedCost).toBe(cost([11, GPT_4O_MINI.input], [10, GPT_4O_MINI.output]).toString());
    await harness.flush();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(
      cost([23, GPT_4O_MINI.input], [89, GPT_4O_MINI.output], [11, GPT_4O_MINI.input], [10, GPT_4O_MINI.output]).toString(),
    );
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('the Vercel AI SDK with a tool, through Anthropic: the tool call reaches the SDK', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const openai = createOpenAI({ baseURL: `${harness.url}/v1`, apiKey: account.key });
    mock.queue('tool-call');
    const result = await generateText({
      model: openai('claude-sonnet-4-5'),
      prompt: 'Weather?',
      tools: {
        updateIssueList: tool({
          description: 'Update the issue list',
          inputSchema: jsonSchema({ type: 'object', properties: {} }),
        }),
      },
      maxRetries: 0,
    });
    // The recorded Anthropic answer (anthropic-tool-no-args.json) calls its own test's tool.
    expect(result.toolCalls.map((call) => call.toolName)).toEqual(['updateIssueList']);
    await harness.flush();
    expect(await kindsOf(harness.database.db, account.id)).toContain('capture');
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('an idempotent retry replays the first response without a second charge', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    const send = () =>
      fetch(`${harness.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json', 'idempotency-key': 'responses-1' },
        body: JSON.stringify({ model: 'gpt-5', input: 'Say hello' }),
      });
    mock.queue('text');
    const first = await send();
    const second = await send();
    expect(second.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(await second.text()).toBe(await first.text());
    expect(mock.requests).toHaveLength(1);
    await harness.flush();
    expect((await kindsOf(harness.database.db, account.id)).filter((kind) => kind === 'capture')).toHaveLength(1);
  });

  it('an error event mid-stream: relayed as sent, billed once for what was generated, and a retry runs again', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const post = () =>
      fetch(`${harness.url}/v1/responses`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${account.key}`,
          'content-type': 'application/json',
          'idempotency-key': 'failed-mid-stream',
        },
        body: JSON.stringify({ model: 'gpt-4o-mini', input: 'Say hello', stream: true }),
      });
    // Part of the answer, then the Responses API's `error` event and the end (an upstream that fails after its 200).
    mock.queue('error-mid-stream');
    const failed = await post();
    expect(failed.status).toBe(200);
    const events = (await failed.text()).trim().split('\n\n');
    const sent = events.filter((event) => event.includes('output_text.delta')).length;
    expect(sent).toBeGreaterThan(0);
    expect(events.at(-1)).toBe(midStreamError('responses', events.length - 1).trim());
    expect(events.some((event) => event.startsWith('event: response.completed'))).toBe(false);
    await harness.flush();
    const [record] = await usageRecordsOfAccount(harness.database.db, account.id);
    // No usage came (it rides on response.completed): the prompt's estimate and the text generated, not a success.
    expect(record).toMatchObject({ status: 'aborted', usage_estimated: true });
    expect(record!.output_text_tokens).toBeGreaterThan(0);
    expect(record!.output_text_tokens).toBeLessThan(10);
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record!.charge);
    // A failed stream is not an answer to replay: the retry with the same key runs, and is charged on its own.
    mock.queue('text');
    const retried = await post();
    expect(retried.headers.get('x-tollgate-idempotent-replay')).toBeNull();
    expect(await retried.text()).toContain('event: response.completed');
    await harness.flush();
    expect((await usageRecordsOfAccount(harness.database.db, account.id)).map((row) => row.status)).toEqual([
      'aborted',
      'success',
    ]);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a stream the upstream ends before response.completed is a failed one: billed for what was generated, and told so', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('ended-mid-stream');
    const response = await fetch(`${harness.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'Say hello', stream: true }),
    });
    const events = (await response.text()).trim().split('\n\n');
    const last = JSON.parse(events.at(-1)!.split('\ndata: ')[1]!) as Record<string, unknown>;
    expect(last).toMatchObject({
      type: 'error',
      code: 'upstream_error',
      message: 'the upstream stream failed: the upstream ended the stream before its final event',
    });
    await harness.flush();
    const [record] = await usageRecordsOfAccount(harness.database.db, account.id);
    expect(record).toMatchObject({ status: 'aborted', usage_estimated: true });
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record!.charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a client that disconnects mid-stream is billed once, for what was generated', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    // Part of the answer, then nothing: the client leaves while the upstream is between events.
    mock.queue('stalled-stream');
    const controller = new AbortController();
    const response = await fetch(`${harness.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'Say hello', stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/output_text\.delta/g) ?? []).length < 6)
      received += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await mock.waitForAborted(1);
    await eventually(async () => {
      expect((await kindsOf(harness.database.db, account.id)).filter((kind) => kind === 'capture')).toHaveLength(1);
    });
    await harness.flush();
    const record = await harness.database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(record).toMatchObject({ status: 'aborted', usage_estimated: true });
    // What was generated before the disconnect (the recording's deltas are one or two tokens each), not the 10 of the whole answer.
    expect(record.output_text_tokens).toBeGreaterThan(0);
    expect(record.output_text_tokens).toBeLessThan(10);
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record.charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  /** A Responses call as a client sends it, without the SDK (to read the body as written and the headers). */
  const post = (key: string, body: Record<string, unknown>) =>
    fetch(`${harness.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const recordings = loadRecordings();
  const recordedJson = (api: 'responses' | 'anthropic', scenario: string) =>
    JSON.parse(recordings[api][scenario]!.json!.body) as Record<string, unknown> & { usage: Record<string, unknown> };
  const withoutUsage = ({ usage: _usage, ...rest }: Record<string, unknown>) => rest;

  it('OpenAI, passed through: its answer as written, only its usage replaced; the end user from `user`', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await post(account.key, { model: 'gpt-5', input: 'Say hello', user: 'user-42', max_output_tokens: 2000 });
    expect(response.status).toBe(200);
    const text = await response.text();
    // The upstream's own spelling of its numbers (0.0) and its indentation, kept.
    expect(text).toContain('\n  "frequency_penalty": 0.0,\n');
    const body = JSON.parse(text) as Record<string, unknown> & { usage: BilledUsage };
    expect(withoutUsage(body)).toEqual(withoutUsage(recordedJson('responses', 'text')));
    expect(body.usage).toMatchObject({ input_tokens: 23, output_tokens: 89, output_tokens_details: { reasoning_tokens: 64 } });
    await harness.flush();
    const record = await usageRecordOf(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect(record).toMatchObject({ end_user: 'user-42', status: 'success', usage_estimated: false });
  });

  it('an answer without usage is billed on the prompt counted locally and the text it holds, marked estimated (passed through and translated)', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const request = { instructions: 'Be brief.', input: [{ role: 'user', content: 'Say hello' }], max_output_tokens: 300 };
    const prompt = estimatePromptTokens([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Say hello' },
    ]);
    mock.queue('no-usage', 'no-usage');
    const native = (await (await post(account.key, { model: 'gpt-5', ...request })).json()) as { usage: BilledUsage };
    const nativeOutput = countTextTokens('Ahoy! How can I help you today?');
    expect(native.usage).toMatchObject({ input_tokens: prompt, output_tokens: nativeOutput, tollgate: { estimated: true } });
    const translated = await post(account.key, { model: 'claude-sonnet-4-5', ...request });
    const requestId = translated.headers.get('x-tollgate-request-id')!;
    const translatedBody = (await translated.json()) as { id: string; usage: BilledUsage };
    const anthropicText = (recordedJson('anthropic', 'text').content as Array<{ text: string }>)[0]!.text;
    const translatedOutput = countTextTokens(anthropicText);
    expect(translatedBody.usage).toMatchObject({
      input_tokens: prompt,
      output_tokens: translatedOutput,
      tollgate: { estimated: true },
    });
    // A translated answer is named after the call.
    expect(requestId).toMatch(/^req_/);
    expect(translatedBody.id).toBe(`resp_${requestId.slice('req_'.length)}`);
    await harness.flush();
    expect(
      (await usageRecordsOfAccount(harness.database.db, account.id)).map((row) => [
        row.input_uncached_tokens,
        row.output_text_tokens,
        row.usage_estimated,
      ]),
    ).toEqual([
      [prompt, nativeOutput, true],
      [prompt, translatedOutput, true],
    ]);
  });

  it('max_output_tokens beyond what the model writes: a 400 naming it, before any upstream', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    const refused = await post(account.key, { model: 'gpt-4o-mini', input: 'Hi', max_output_tokens: 16_385 });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: Record<string, unknown> }).error).toMatchObject({
      message:
        'invalid request: max_output_tokens is 16385, but gpt-4o-mini writes at most 16384 output tokens; ask for 16384 or fewer',
      param: 'max_output_tokens',
    });
    expect(mock.requests).toHaveLength(0);
  });

  it('usage far beyond max_output_tokens is an anomaly naming it; with max_output_tokens null, only the model bounds the output', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.inflatedUsage = { output_tokens: 1_000 };
    mock.queue('inflated-usage', 'inflated-usage');
    const capped = await post(account.key, { model: 'gpt-5', input: 'Say hello', max_output_tokens: 100 });
    const body = (await capped.json()) as { usage: { tollgate: { usage_anomaly?: { reasons: string[] } } } };
    expect(body.usage.tollgate.usage_anomaly?.reasons).toEqual([
      '1000 output tokens: far above the 100 the call asked for at most',
    ]);
    const unbounded = await post(account.key, { model: 'gpt-5', input: 'Say hello', max_output_tokens: null });
    expect(unbounded.status).toBe(200);
    expect(unbounded.headers.get('x-tollgate-usage-anomaly')).toBeNull();
    expect(((await unbounded.json()) as typeof body).usage.tollgate).not.toHaveProperty('usage_anomaly');
  });

  it('what chat cannot carry is refused with a 400 naming it before any upstream; OpenAI takes it as it is', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    const request = { input: 'Go on', previous_response_id: 'resp_1', max_output_tokens: 100 };
    for (const stream of [false, true]) {
      const refused = await post(account.key, { model: 'claude-sonnet-4-5', ...request, stream });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { param: string } }).error.param).toBe('previous_response_id');
    }
    expect(mock.requests).toHaveLength(0);
    mock.queue('text', 'text');
    expect((await post(account.key, { model: 'gpt-5', ...request })).status).toBe(200);
    expect(await (await post(account.key, { model: 'gpt-5', ...request, stream: true })).text()).toContain(
      'event: response.completed',
    );
    expect(mock.requests.map((received) => [received.api, received.stream, received.body.previous_response_id])).toEqual([
      ['responses', false, 'resp_1'],
      ['responses', true, 'resp_1'],
    ]);
    await harness.flush();
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});
