import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { cost, expectBilledOnce } from './support/billing-checks.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { capturedTotal, entriesOf, eventually, expectSettled, kindsOf } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { errorBody, loadRecordings } from './support/mock-recordings.js';
import { usageRecordOf, usageRecordsOfAccount } from './support/charges.js';
import { countTextTokens, estimatePromptTokens } from '../src/providers/token-estimate.js';

// Rates from fixtures/litellm/api-surface-slice.json (USD per token).
const SONNET = { input: '0.000003', output: '0.000015', cacheRead: '3e-7', cacheWrite: '0.00000375' };
const GPT_4O_MINI = { input: '1.5e-7', output: '6e-7' };

interface BilledUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  tollgate: { charge: string; estimated: boolean };
}

/**
 * `POST /v1/messages` end to end with the official `@anthropic-ai/sdk`, unchanged but for its base URL:
 * passed through to a loopback Anthropic replaying recorded answers (cache writes and reads at their own
 * rates, litellm#35127 dropped them on this route), and translated through chat to OpenAI. Every call is
 * checked in the ledger.
 */
describe.each(backends())('POST /v1/messages on $name', (backend) => {
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

  const client = (key: string) => new Anthropic({ baseURL: harness.url, apiKey: key, maxRetries: 0 });

  it('Anthropic, passed through: 418 cache-write and 1,111 cache-read tokens each at their own rate', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('cache-hit');
    const message = await client(account.key).messages.create(
      {
        model: 'claude-sonnet-4-5',
        max_tokens: 1000,
        system: [{ type: 'text', text: 'A long system prompt.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Hello' }],
      },
      { headers: { 'anthropic-beta': 'extended-cache-ttl-2025-04-11' } },
    );
    // Passed as is: cache_control and the beta header reach Anthropic, the key does not.
    expect(mock.requests[0]).toMatchObject({
      api: 'anthropic',
      body: { model: 'claude-sonnet-4-5', system: [{ cache_control: { type: 'ephemeral' } }], stream: false },
    });
    expect(mock.requests[0]?.headers['anthropic-beta']).toBe('extended-cache-ttl-2025-04-11');
    expect(mock.requests[0]?.headers['x-api-key']).toBe('sk-test-anthropic');
    const usage = message.usage as unknown as BilledUsage;
    expect([usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens, usage.output_tokens]).toEqual([
      3, 418, 1111, 33,
    ]);
    const expected = cost([3, SONNET.input], [418, SONNET.cacheWrite], [1111, SONNET.cacheRead], [33, SONNET.output]);
    await expectBilledOnce(harness, account, '5', usage.tollgate.charge, expected);
  });

  it('Anthropic, streamed: message_delta carries the final usage (cache writes 3,337, reads 6,289) and its cost', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('cache-hit');
    const stream = client(account.key).messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Run code' }],
    });
    let charged: BilledUsage | undefined;
    for await (const event of stream) if (event.type === 'message_delta') charged = event.usage as unknown as BilledUsage;
    const final = await stream.finalMessage();
    expect([final.usage.cache_creation_input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens]).toEqual([
      3337, 6289, 198,
    ]);
    const expected = cost([6, SONNET.input], [3337, SONNET.cacheWrite], [6289, SONNET.cacheRead], [198, SONNET.output]);
    await expectBilledOnce(harness, account, '5', charged!.tollgate.charge, expected);
  });

  it('Anthropic, streamed in the older shape: cache reads from message_start, output from message_delta', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('cache-read');
    const stream = client(account.key).messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    let charged: BilledUsage | undefined;
    for await (const event of stream) if (event.type === 'message_delta') charged = event.usage as unknown as BilledUsage;
    expect((await stream.finalMessage()).usage.cache_read_input_tokens).toBe(1165);
    await expectBilledOnce(
      harness,
      account,
      '5',
      charged!.tollgate.charge,
      cost([4, SONNET.input], [1165, SONNET.cacheRead], [221, SONNET.output]),
    );
  });

  it('OpenAI, translated through chat: the answer as a Message, usage in Anthropic fields', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const message = await client(account.key).messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 500,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    });
    expect(mock.requests[0]).toMatchObject({
      api: 'openai',
      body: {
        model: 'gpt-4o-mini',
        max_tokens: 500,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello' },
        ],
      },
    });
    expect(message.content[0]?.type).toBe('text');
    expect(message.stop_reason).toBe('end_turn');
    const usage = message.usage as unknown as BilledUsage;
    expect([usage.input_tokens, usage.output_tokens]).toEqual([16, 363]);
    await expectBilledOnce(
      harness,
      account,
      '1',
      usage.tollgate.charge,
      cost([16, GPT_4O_MINI.input], [363, GPT_4O_MINI.output]),
    );
  });

  it('OpenAI, translated and streamed: Anthropic events, the text, and the cost in message_delta', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const stream = client(account.key).messages.stream({
      model: 'gpt-4o-mini',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    let charged: BilledUsage | undefined;
    for await (const event of stream) if (event.type === 'message_delta') charged = event.usage as unknown as BilledUsage;
    expect((await stream.finalText()).length).toBeGreaterThan(0);
    expect(mock.requests[0]?.body.stream_options).toEqual({ include_usage: true });
    await expectBilledOnce(
      harness,
      account,
      '1',
      charged!.tollgate.charge,
      cost([16, GPT_4O_MINI.input], [300, GPT_4O_MINI.output]),
    );
  });

  it("errors in Anthropic's shape: a missing max_tokens names the field, a bad key is an AuthenticationError, no credits a billing_error", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '0.00001' });
    const missing = await client(account.key)
      .messages.create({
        model: 'claude-sonnet-4-5',
        messages: [{ role: 'user', content: 'Hi' }],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming)
      .catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', param: 'max_tokens' },
    });
    const badKey = await client('tg_not_a_key')
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect(badKey).toBeInstanceOf(Anthropic.AuthenticationError);
    const broke = await client(account.key)
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((error: unknown) => error);
    expect((broke as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    expect((broke as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      error: {
        type: 'billing_error',
        code: 'insufficient_credits',
        // A Messages call is bounded by its output limit: the 402 says a lower one may pass.
        message: expect.stringMatching(/top up the account's credits or lower the output limit \(max_tokens\)$/) as unknown,
      },
    });
    expect(mock.requests).toHaveLength(0);
  });

  it('an upstream failure is not charged: Anthropic overloaded (529) releases the hold', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('overloaded');
    const error = await client(account.key)
      .messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(502);
    await harness.flush();
    expect((await entriesOf(harness.database.db, account.id)).filter((entry) => entry.kind === 'capture')).toHaveLength(0);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('an idempotent retry replays the first message without a second charge', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const body = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'Hi' }] };
    mock.queue('text');
    const first = await client(account.key)
      .messages.create(body, { headers: { 'idempotency-key': 'messages-1' } })
      .withResponse();
    const second = await client(account.key)
      .messages.create(body, { headers: { 'idempotency-key': 'messages-1' } })
      .withResponse();
    expect(second.response.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(second.data).toEqual(first.data);
    expect(mock.requests).toHaveLength(1);
    await harness.flush();
    expect((await kindsOf(harness.database.db, account.id)).filter((kind) => kind === 'capture')).toHaveLength(1);
  });

  it("Anthropic's error event mid-stream: relayed as sent, billed once for what was generated, and a retry runs again", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const post = () =>
      fetch(`${harness.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': account.key,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
          'idempotency-key': 'failed-mid-stream',
        },
        body: JSON.stringify({
          model: 'claude-sonnet-4-5',
          max_tokens: 1000,
          messages: [{ role: 'user', content: 'Hi' }],
          stream: true,
        }),
      });
    // Part of the answer, then Anthropic's `error` event and the end (an upstream that fails after its 200).
    mock.queue('error-mid-stream');
    const failed = await post();
    expect(failed.status).toBe(200);
    const events = (await failed.text()).trim().split('\n\n');
    expect(events.at(-1)).toBe(
      `event: error\ndata: ${errorBody('anthropic', 500, 'The server had an error while processing your request.')}`,
    );
    expect(events.some((event) => event.startsWith('event: message_delta') || event.startsWith('event: message_stop'))).toBe(
      false,
    );
    await harness.flush();
    const [record] = await usageRecordsOfAccount(harness.database.db, account.id);
    // message_start's input (20 tokens), the output generated before the error, and not a success.
    expect(record).toMatchObject({ status: 'aborted', input_uncached_tokens: 20, output_text_tokens: 1 });
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record!.charge);
    // A failed stream is not an answer to replay: the retry with the same key runs, and is charged on its own.
    mock.queue('text');
    const retried = await post();
    expect(retried.headers.get('x-tollgate-idempotent-replay')).toBeNull();
    expect(await retried.text()).toContain('event: message_stop');
    await harness.flush();
    expect((await usageRecordsOfAccount(harness.database.db, account.id)).map((row) => row.status)).toEqual([
      'aborted',
      'success',
    ]);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a client that disconnects mid-stream is billed once, for what was generated', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    // Part of the answer, then nothing: the client leaves while the upstream is between events.
    mock.queue('stalled-stream');
    const controller = new AbortController();
    const response = await fetch(`${harness.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': account.key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 1000,
        messages: [{ role: 'user', content: 'Hi' }],
        stream: true,
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let received = '';
    while (!received.includes('content_block_delta')) received += new TextDecoder().decode((await reader.read()).value);
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
    expect(record.status).toBe('aborted');
    // message_start reported the prompt (20 tokens): billed as reported, with the output generated so far.
    expect(record.input_uncached_tokens).toBe(20);
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record.charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  /** A Messages call as a client sends it, without the SDK (to read the body as written and the headers). */
  const post = (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${harness.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
      body: JSON.stringify(body),
    });
  const recordings = loadRecordings();
  const recordedJson = (api: 'anthropic' | 'openai', scenario: string) =>
    JSON.parse(recordings[api][scenario]!.json!.body) as Record<string, unknown> & {
      usage: Record<string, unknown>;
      content?: Array<{ text: string }>;
      choices?: Array<{ message: { content: string } }>;
    };
  const withoutUsage = ({ usage: _usage, ...rest }: Record<string, unknown>) => rest;

  it("Anthropic, passed through: its answer as written, its usage's own fields kept beside the charge; the end user from metadata.user_id", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await post(account.key, {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      metadata: { user_id: 'user-42' },
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const recorded = recordedJson('anthropic', 'text');
    // The upstream's own text (indented as it wrote it), with only its usage replaced.
    expect(text.startsWith('{\n  "model": "claude-sonnet-4-5-20250929",\n  "id": "msg_01VdEjxAP5ahtHKrrRdNBteQ",')).toBe(true);
    const body = JSON.parse(text) as Record<string, unknown> & { usage: BilledUsage & Record<string, unknown> };
    expect(withoutUsage(body)).toEqual(withoutUsage(recorded));
    expect(body.usage).toMatchObject({
      service_tier: 'standard',
      inference_geo: 'not_available',
      input_tokens: 12,
      output_tokens: 29,
      tollgate: { estimated: false },
    });
    await expectBilledOnce(harness, account, '1', body.usage.tollgate.charge, cost([12, SONNET.input], [29, SONNET.output]));
    const record = await usageRecordOf(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect(record).toMatchObject({ end_user: 'user-42', usage_estimated: false, status: 'success' });
  });

  it('an answer without usage is billed on the prompt counted locally and the text it holds, marked estimated (passed through and translated)', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const request = { max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] };
    const prompt = estimatePromptTokens([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
    ]);
    mock.queue('no-usage', 'no-usage');
    const native = await post(account.key, { model: 'claude-sonnet-4-5', ...request });
    const nativeBody = (await native.json()) as { usage: BilledUsage };
    const nativeOutput = countTextTokens(recordedJson('anthropic', 'text').content![0]!.text);
    expect(nativeBody.usage).toMatchObject({ input_tokens: prompt, output_tokens: nativeOutput, tollgate: { estimated: true } });
    const translated = await post(account.key, { model: 'gpt-4o-mini', ...request });
    const requestId = translated.headers.get('x-tollgate-request-id')!;
    const translatedBody = (await translated.json()) as { id: string; usage: BilledUsage };
    const translatedOutput = countTextTokens(recordedJson('openai', 'text').choices![0]!.message.content);
    expect(translatedBody.usage).toMatchObject({
      input_tokens: prompt,
      output_tokens: translatedOutput,
      tollgate: { estimated: true },
    });
    // A translated answer is named after the call.
    expect(requestId).toMatch(/^req_/);
    expect(translatedBody.id).toBe(`msg_${requestId.slice('req_'.length)}`);
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

  it('max_tokens beyond what the model writes: a 400 naming max_tokens, before any upstream', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const refused = await post(account.key, {
      model: 'claude-sonnet-4-5',
      max_tokens: 64_001,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'invalid request: max_tokens is 64001, but claude-sonnet-4-5 writes at most 64000 output tokens; ask for 64000 or fewer',
        code: 'invalid_request',
        param: 'max_tokens',
      },
    });
    expect(mock.requests).toHaveLength(0);
  });

  it('usage reported far beyond max_tokens is an anomaly naming the limit the call asked for', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.inflatedUsage = { output_tokens: 1_000 };
    mock.queue('inflated-usage');
    const response = await post(account.key, {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const body = (await response.json()) as { usage: { tollgate: { usage_anomaly: { reasons: string[] } } } };
    expect(response.headers.get('x-tollgate-usage-anomaly')).toBe('capped');
    expect(body.usage.tollgate.usage_anomaly.reasons).toEqual([
      '1000 output tokens: far above the 100 the call asked for at most',
    ]);
  });

  it('what chat cannot carry is refused with a 400 naming it before any upstream; Anthropic takes it as it is', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const request = {
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Search' }],
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
    };
    for (const stream of [false, true]) {
      const refused = await post(account.key, { model: 'gpt-4o-mini', ...request, stream });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { param: string } }).error.param).toBe('tools.0');
    }
    expect(mock.requests).toHaveLength(0);
    mock.queue('text', 'text');
    expect((await post(account.key, { model: 'claude-sonnet-4-5', ...request })).status).toBe(200);
    const streamed = await post(
      account.key,
      { model: 'claude-sonnet-4-5', ...request, stream: true },
      { 'anthropic-beta': 'b-1' },
    );
    expect(await streamed.text()).toContain('event: message_stop');
    expect(mock.requests.map((received) => [received.api, received.stream, received.body.tools])).toEqual([
      ['anthropic', false, request.tools],
      ['anthropic', true, request.tools],
    ]);
    // Anthropic's own headers reach it on a stream too.
    expect(mock.requests[1]?.headers['anthropic-beta']).toBe('b-1');
    await harness.flush();
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});
