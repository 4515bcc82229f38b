import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { capturedTotal, entriesOf, eventually, expectSettled, kindsOf } from './support/ledger-checks.js';
import { loadRecordings } from './support/mock-recordings.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

const d = (text: string) => Decimal.parse(text);
/** Σ tokens × rate, exactly: the expected charge from a recording's token counts and the fixture's rates. */
const cost = (...lines: Array<[number, string]>) => Decimal.sum(lines.map(([tokens, rate]) => d(rate).times(tokens)));

// Rates from fixtures/seed-formats/llm_pricing_current.json (USD per token).
const GPT_4O_MINI = { input: '1.5e-7', cached: '7.5e-8', output: '6e-7' };
const O3_MINI = { input: '1.1e-6', output: '4.4e-6' };
const CLAUDE_SONNET_4_5 = { input: '3e-6', cached: '3e-7', output: '1.5e-5', cacheWrite: '3.75e-6' };
const GEMINI_2_5_FLASH = { input: '3e-7', cached: '3e-8', output: '2.5e-6' };

/**
 * End to end, driven by the official `openai` client, through the gateway to a loopback upstream that
 * replays recorded real OpenAI, Anthropic and Gemini responses. Every test checks the ledger afterwards.
 */
describe.each(backends())('gateway against recorded upstreams on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url });
    // Anthropic's 5-minute cache write is 1.25x input; the seed's file has no such rate, so set it as an operator would.
    const put = await fetch(`${harness.url}/admin/pricing/models/claude-sonnet-4-5/price`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        unit: 'token',
        input: CLAUDE_SONNET_4_5.input,
        output: CLAUDE_SONNET_4_5.output,
        cache_read: CLAUDE_SONNET_4_5.cached,
        cache_write: CLAUDE_SONNET_4_5.cacheWrite,
      }),
    });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  async function call(scenario: string, model: string, options: { stream?: boolean; credits?: string } = {}) {
    const account = await harness.createAccount('consumption_usd', { credits: options.credits ?? '1' });
    mock.queue(scenario);
    const client = harness.client(account.key);
    if (!options.stream) {
      const completion = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 1000,
      });
      return { account, usage: completion.usage as unknown as BilledUsage, text: completion.choices[0]?.message.content ?? '' };
    }
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 1000,
      stream: true,
    });
    let text = '';
    let usage: BilledUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage as unknown as BilledUsage;
    }
    return { account, usage: usage!, text };
  }

  async function expectCharged(accountId: string, usage: BilledUsage, expected: Decimal) {
    expect(usage.tollgate.charge).toBe(expected.toString());
    expect(usage.tollgate.estimated).toBe(false);
    await harness.flush();
    expect((await capturedTotal(harness.database.db, accountId)).toString()).toBe(expected.toString());
    const account = await harness.gateway.ledger.getAccount(accountId);
    expect(account.balance.toString()).toBe(d('1').sub(expected).toString());
    await expectSettled(harness.database.db, harness.gateway.ledger, accountId);
  }

  it('OpenAI plain text: 16 prompt and 363 completion tokens at gpt-4o-mini rates', async () => {
    const { account, usage, text } = await call('text', 'gpt-4o-mini');
    expect(text.length).toBeGreaterThan(0);
    expect([usage.prompt_tokens, usage.completion_tokens]).toEqual([16, 363]);
    await expectCharged(account.id, usage, cost([16, GPT_4O_MINI.input], [363, GPT_4O_MINI.output]));
    expect(mock.requests[0]?.body).toMatchObject({ model: 'gpt-4o-mini', stream: false });
  });

  it('OpenAI plain text: the answer is relayed as the provider wrote it, only its usage written anew', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    // The recording is laid out as OpenAI sends it (two-space indents); everything but `usage` keeps that layout.
    const upstream = loadRecordings().openai.text!.json!.body;
    const usageAt = upstream.indexOf('"usage": {');
    const tail = upstream.slice(upstream.indexOf(',\n  "service_tier"'));
    expect(usageAt).toBeGreaterThan(0);
    expect(text.slice(0, usageAt)).toBe(upstream.slice(0, usageAt));
    expect(text.endsWith(tail)).toBe(true);
    const charge = cost([16, GPT_4O_MINI.input], [363, GPT_4O_MINI.output]);
    expect(text.slice(usageAt, text.length - tail.length)).toContain(`"cost":${charge.toString()},`);
    const usage = (JSON.parse(text) as { usage: BilledUsage }).usage;
    await expectCharged(account.id, usage, charge);
  });

  it("keeps the provider's usage as it reported it with the call's record, and only the money in its capture", async () => {
    const recordings = loadRecordings();
    for (const [scenario, model, recorded] of [
      ['text', 'gpt-4o-mini', recordings.openai.text!.json!.body],
      ['cache-hit', 'claude-sonnet-4-5', recordings.anthropic['cache-hit']!.json!.body],
    ] as const) {
      mock.reset();
      const { account, usage } = await call(scenario, model);
      await harness.flush();
      const providerUsage = (JSON.parse(recorded) as { usage: Record<string, unknown> }).usage;
      const log = await fetch(`${harness.url}/admin/usage/records?account=${account.id}`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      const [record] = ((await log.json()) as { data: Array<Record<string, unknown>> }).data;
      // As the provider wrote it, its keys in their order: OpenAI's prompt_tokens includes the cached tokens,
      // Anthropic's input_tokens excludes them.
      expect(JSON.stringify(record!.provider_usage)).toBe(JSON.stringify(providerUsage));
      expect(record!.charge).toBe(usage.tollgate.charge);
      const capture = await harness.database.db
        .selectFrom('ledger_entries')
        .select(['id', 'amount', 'price_version', 'usage', 'breakdown'])
        .where('request_id', '=', String(record!.request_id))
        .where('kind', '=', 'capture')
        .executeTakeFirstOrThrow();
      expect(d(capture.amount).neg().toString()).toBe(usage.tollgate.charge);
      expect(Number(capture.price_version)).toBe(record!.price_version);
      expect([capture.usage, capture.breakdown]).toEqual([null, null]);
      expect(record!.ledger_entry_id).toBe(Number(capture.id));
    }
  });

  it("shows a call recorded before records kept the provider's usage with what its capture kept", async () => {
    const { account } = await call('text', 'gpt-4o-mini');
    await harness.flush();
    const [record] = await harness.database.db
      .selectFrom('usage_records')
      .select('request_id')
      .where('account_id', '=', account.id)
      .execute();
    // As an earlier version wrote the call: the raw usage in the capture's usage, none on the record.
    const earlier = { input: { uncached: 16 }, raw: { prompt_tokens: 16, completion_tokens: 363, total_tokens: 379 } };
    await harness.database.db
      .updateTable('usage_records')
      .set({ provider_usage: null })
      .where('request_id', '=', record!.request_id)
      .execute();
    await harness.database.db
      .updateTable('ledger_entries')
      .set({ usage: JSON.stringify(earlier) })
      .where('request_id', '=', record!.request_id)
      .where('kind', '=', 'capture')
      .execute();
    const log = await fetch(`${harness.url}/admin/usage/records?account=${account.id}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const [shown] = ((await log.json()) as { data: Array<Record<string, unknown>> }).data;
    expect(shown!.provider_usage).toEqual(earlier.raw);
  });

  it('OpenAI streaming: asks for usage upstream and bills the final event (16 + 300 tokens)', async () => {
    const { account, usage } = await call('text', 'gpt-4o-mini', { stream: true });
    expect(mock.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect([usage.prompt_tokens, usage.completion_tokens]).toEqual([16, 300]);
    await expectCharged(account.id, usage, cost([16, GPT_4O_MINI.input], [300, GPT_4O_MINI.output]));
  });

  it('OpenAI cached tokens: 4,012 of 4,020 prompt tokens at the cache-read rate, never twice', async () => {
    const { account, usage } = await call('cache-hit', 'gpt-4o-mini');
    expect(usage.prompt_tokens_details.cached_tokens).toBe(4012);
    await expectCharged(account.id, usage, cost([8, GPT_4O_MINI.input], [4012, GPT_4O_MINI.cached], [4, GPT_4O_MINI.output]));
  });

  it('OpenAI reasoning tokens: 64 of 87 completion tokens, priced at the output rate the catalog falls back to', async () => {
    const { account, usage } = await call('reasoning', 'o3-mini');
    expect(usage.completion_tokens_details.reasoning_tokens).toBe(64);
    await expectCharged(account.id, usage, cost([7, O3_MINI.input], [23, O3_MINI.output], [64, O3_MINI.output]));
  });

  it('Anthropic plain text, translated to OpenAI shape', async () => {
    const { account, usage, text } = await call('text', 'claude-sonnet-4-5');
    expect(text.length).toBeGreaterThan(0);
    expect(mock.requests[0]?.api).toBe('anthropic');
    await expectCharged(account.id, usage, cost([12, CLAUDE_SONNET_4_5.input], [29, CLAUDE_SONNET_4_5.output]));
  });

  it('Anthropic cache read and write: input_tokens excludes both, each priced at its own rate', async () => {
    const { account, usage } = await call('cache-hit', 'claude-sonnet-4-5');
    expect(usage.prompt_tokens).toBe(3 + 1111 + 418);
    await expectCharged(
      account.id,
      usage,
      cost(
        [3, CLAUDE_SONNET_4_5.input],
        [1111, CLAUDE_SONNET_4_5.cached],
        [418, CLAUDE_SONNET_4_5.cacheWrite],
        [33, CLAUDE_SONNET_4_5.output],
      ),
    );
  });

  it('Anthropic streaming: usage from message_start merged with message_delta', async () => {
    const { account, usage } = await call('text', 'claude-sonnet-4-5', { stream: true });
    expect([usage.prompt_tokens, usage.completion_tokens]).toEqual([20, 5]);
    await expectCharged(account.id, usage, cost([20, CLAUDE_SONNET_4_5.input], [5, CLAUDE_SONNET_4_5.output]));
  });

  it('Gemini generateContent: thoughts billed as reasoning at the output rate', async () => {
    const { account, usage } = await call('text', 'gemini-2.5-flash');
    expect(mock.requests[0]?.api).toBe('gemini');
    expect(usage.completion_tokens_details.reasoning_tokens).toBe(244);
    await expectCharged(
      account.id,
      usage,
      cost([9, GEMINI_2_5_FLASH.input], [28, GEMINI_2_5_FLASH.output], [244, GEMINI_2_5_FLASH.output]),
    );
  });

  it('Gemini streamGenerateContent: usageMetadata of the last event', async () => {
    const { account, usage } = await call('text', 'gemini-2.5-flash', { stream: true });
    expect(mock.requests[0]?.stream).toBe(true);
    await expectCharged(
      account.id,
      usage,
      cost([18, GEMINI_2_5_FLASH.input], [80, GEMINI_2_5_FLASH.output], [35, GEMINI_2_5_FLASH.output]),
    );
  });

  it('Gemini cached content: 3,512 of 3,520 prompt tokens at the cache rate', async () => {
    const { account, usage } = await call('cache-hit', 'gemini-2.5-flash');
    expect(usage.prompt_tokens_details.cached_tokens).toBe(3512);
    await expectCharged(
      account.id,
      usage,
      cost(
        [8, GEMINI_2_5_FLASH.input],
        [3512, GEMINI_2_5_FLASH.cached],
        [2, GEMINI_2_5_FLASH.output],
        [42, GEMINI_2_5_FLASH.output],
      ),
    );
  });

  it('an unknown model is priced at the default $1 / $2 per 1M and says so', async () => {
    const { account, usage } = await call('text', 'acme-unknown-model');
    expect(usage.tollgate.pricing).toMatchObject({ source: 'default', match: 'default', model: null });
    await expectCharged(account.id, usage, cost([16, '1e-6'], [363, '2e-6']));
  });

  it('a stream whose provider sends no usage is counted locally and marked estimated', async () => {
    const { account, usage } = await call('no-usage', 'gpt-4o-mini', { stream: true });
    expect(usage.tollgate.estimated).toBe(true);
    expect(usage.completion_tokens).toBeGreaterThan(0);
    await harness.flush();
    const record = await harness.database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(record.usage_estimated).toBe(true);
    // Nothing reported, nothing kept as reported.
    expect(record.provider_usage).toBeNull();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(usage.tollgate.charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('insufficient credits: 402 before any upstream call, nothing held', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '0.0001' });
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1000 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_credits');
    // This call's own worst case (8 prompt tokens + 1,000 output tokens at gpt-4o-mini's rates), not the size of
    // the credit lease the gateway tried to open for it (32 calls' worth), and a hint to top up.
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain(
      'this call needs up to 0.0006012 USD (its worst case for gpt-4o-mini) and 0.0001 USD are available; top up',
    );
    expect(mock.requests).toHaveLength(0);
    expect(await entriesOf(harness.database.db, account.id)).toHaveLength(1); // the grant only
    expect((await harness.gateway.ledger.getAccount(account.id)).available.toString()).toBe('0.0001');
  });

  it.each([
    ['error-500', 502],
    ['rate-limited', 429],
    ['error-400', 400],
  ])('upstream %s: answers %i, releases the hold, charges nothing', async (scenario, status) => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue(scenario);
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
    await harness.flush();
    // The credit lease the call reserved from, given back whole: no capture.
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'release']);
    expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe('1');
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a client that disconnects mid-stream is billed once, for what was generated', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    // Part of the answer, then nothing: the client leaves while the upstream is between events.
    mock.queue('stalled-stream');
    const controller = new AbortController();
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Hello' }],
        stream: true,
        max_tokens: 1000,
      }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/"content":"/g) ?? []).length < 5) received += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await mock.waitForAborted(1);
    await eventually(async () => {
      expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'capture']);
    });
    await harness.flush();
    const record = await harness.database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(record.status).toBe('aborted');
    expect(record.usage_estimated).toBe(true);
    expect(record.output_text_tokens).toBeGreaterThan(0);
    expect(record.output_text_tokens).toBeLessThan(300); // what was generated before the disconnect, not the whole answer
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(record.charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('an idempotent retry replays the first answer and charges nothing more; another body with the key is refused', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 };
    const send = (payload: unknown) =>
      fetch(`${harness.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' },
        body: JSON.stringify(payload),
      });
    mock.queue('text');
    const first = await send(body);
    const second = await send(body);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(await second.text()).toBe(await first.text());
    expect(mock.requests).toHaveLength(1);
    const conflict = await send({ ...body, max_tokens: 99 });
    expect(conflict.status).toBe(422);
    await harness.flush();
    // One lease, one capture drawn on it, the rest given back.
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'capture', 'release']);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});

describe.each(backends())('gateway failure policies on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, {
      upstreamUrl: mock.url,
      env: { TOLLGATE_UNPRICED_MODELS: 'reject', TOLLGATE_UPSTREAM_TIMEOUT_MS: '600' },
    });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  it('reject mode: an unpriced model is a 404 and nothing is held', async () => {
    const account = await harness.createAccount('consumption_usd');
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'acme-unknown-model', messages: [{ role: 'user', content: 'Hello' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({
      code: 'model_not_found',
      param: 'model',
      message: 'model "acme-unknown-model" has no price in the catalog and unpriced models are rejected on this gateway',
    });
    expect(mock.requests).toHaveLength(0);
    expect(await entriesOf(harness.database.db, account.id)).toHaveLength(1);
  });

  it('an upstream that never answers times out with 504 and the hold is released', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('hang');
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    await harness.flush();
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'release']);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});

describe.each(backends())('a client that leaves before any answer, on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  it.each([false, true])(
    'stream %s: stops the upstream, and is recorded as aborted by the client (client_closed), nothing charged, not an error',
    async (stream) => {
      const account = await harness.createAccount('consumption_usd', { credits: '1' });
      mock.queue('hang');
      const client = new AbortController();
      const pending = fetch(`${harness.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100, stream }),
        signal: client.signal,
      });
      // Once the request is at the upstream (which never answers), the client goes away.
      await mock.waitForRequests(1);
      client.abort();
      await expect(pending).rejects.toThrow();
      await mock.waitForAborted(1);
      let records: Array<Record<string, unknown>> = [];
      await eventually(async () => {
        await harness.flush();
        const log = await fetch(`${harness.url}/admin/usage/records?account=${account.id}`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        }).then((response) => response.json() as Promise<{ data: Array<Record<string, unknown>> }>);
        records = log.data;
        expect(records).toHaveLength(1);
      });
      const [record] = records;
      expect(record).toMatchObject({ status: 'aborted', error_code: 'client_closed', stream, charge: '0' });
      expect(await capturedTotal(harness.database.db, account.id)).toEqual(Decimal.ZERO);
      const metrics = await fetch(`${harness.url}/metrics`).then((response) => response.text());
      expect(metrics).toContain(
        `tollgate_requests_total{model="gpt-4o-mini",provider="openai",status="client_closed",stream="${stream}"} 1`,
      );
      expect(metrics).not.toContain('status="internal_error"');
      await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
    },
  );
});

interface BilledUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
  cost: number;
  tollgate: { charge: string; estimated: boolean; pricing: { source: string; match: string; model: string | null } };
}

describe.each(backends())('gateway with a durable hold per call (TOLLGATE_HOLDS=per_call) on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url, env: { TOLLGATE_HOLDS: 'per_call' } });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  it('holds and captures in the database before the response: the call is in the ledger when the client has it', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('text');
    const response = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1000 })
      .withResponse();
    const usage = response.data.usage as unknown as BilledUsage;
    const expected = cost([16, GPT_4O_MINI.input], [363, GPT_4O_MINI.output]);
    expect(usage.tollgate.charge).toBe(expected.toString());
    // No flush: the hold and the capture of the call's own request are already committed.
    const entries = await entriesOf(harness.database.db, account.id);
    expect(entries.map((entry) => [entry.kind, entry.request_id, entry.lease_id])).toEqual([
      ['grant', expect.any(String), null],
      ['hold', response.response.headers.get('x-tollgate-request-id'), null],
      ['capture', response.response.headers.get('x-tollgate-request-id'), null],
    ]);
    const after = await harness.gateway.ledger.getAccount(account.id);
    expect(after.balance.toString()).toBe(d('1').sub(expected).toString());
    expect(response.response.headers.get('x-tollgate-credits-remaining')).toBe(after.available.toString());
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a failed call releases its own hold at once', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('error-500');
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'release']);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});
