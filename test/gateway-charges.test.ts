import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import {
  cost,
  d,
  entriesOfRequest,
  postChat,
  promptTokens,
  RATES,
  textTokens,
  usageRecordOf,
  usageRecordsOfAccount,
} from './support/charges.js';
import { refuseEntriesOf } from './support/database-faults.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { capturedTotal, expectSettled, kindsOf } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

const MINI = RATES['gpt-4o-mini'];
const HELLO = [{ role: 'user', content: 'Hello' }];
/** OpenAI's count of HELLO: 3 priming + 3 for the message + "user" + "Hello". */
const HELLO_TOKENS = 8;

/**
 * The glue that turns a priced usage into a charge, end to end over HTTP: markups at settlement, the size of
 * the worst-case hold, the estimate when a provider reports no usage, and the failures that must charge
 * nothing. Each test states the charge exactly and finds it in the response, the ledger and the usage record.
 */
describe.each(backends())('what a call is charged, on $name', (backend) => {
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

  it('counts the prompt as OpenAI does (the figure every expected charge below starts from)', () => {
    expect(promptTokens(HELLO)).toBe(HELLO_TOKENS);
  });

  it("settles with the account's markup: percent of the provider cost plus the fixed fee, in the response, the ledger and the record", async () => {
    const account = await harness.createAccount('consumption_usd', {
      credits: '1',
      markupPercent: '20',
      markupFixedFee: '0.0001',
    });
    mock.queue('text');
    const response = await postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 1000 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: ChargedUsage };
    const providerCost = cost([16, MINI.input], [363, MINI.output]);
    const markup = providerCost.mul(d('0.2')).add(d('0.0001'));
    const charge = providerCost.add(markup);
    expect(body.usage.tollgate).toMatchObject({
      provider_cost: providerCost.toString(),
      markup: markup.toString(),
      charge: charge.toString(),
      debit: charge.toString(),
      estimated: false,
    });
    expect(response.headers.get('x-tollgate-cost')).toBe(charge.toString());
    expect(response.headers.get('x-tollgate-provider-cost')).toBe(providerCost.toString());
    await harness.flush();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(charge.toString());
    expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe(d('1').sub(charge).toString());
    const record = await usageRecordOf(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect([record.provider_cost, record.charge, record.debit].map((text) => d(text).toString())).toEqual([
      providerCost.toString(),
      charge.toString(),
      charge.toString(),
    ]);
    expect(record.breakdown).toMatchObject({ markup: { rule: `account:${account.id}` } });
    expect([record.status, record.stream]).toEqual(['success', false]);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('refuses a call whose worst case the account cannot hold, naming that worst case exactly', async () => {
    // 8 prompt tokens at the input rate + 1,000 output tokens at the output rate, +20% + 0.0001.
    const worst = cost([HELLO_TOKENS, MINI.input], [1000, MINI.output]).mul(d('1.2')).add(d('0.0001'));
    const account = await harness.createAccount('consumption_usd', {
      credits: '0.0001',
      markupPercent: '20',
      markupFixedFee: '0.0001',
    });
    const response = await postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 1000 });
    expect(response.status).toBe(402);
    expect(((await response.json()) as ErrorBody).error.message).toBe(
      `insufficient credits: this call needs up to ${worst.toString()} USD (its worst case for gpt-4o-mini) and 0.0001 USD are available; ` +
        `top up the account's credits or lower the output limit (max_tokens)`,
    );
    expect(mock.requests).toHaveLength(0);
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant']);
  });

  it("names the worst case in the account's unit, and the output limit only for calls that have one", async () => {
    const tokens = await harness.createAccount('consumption_tokens', { credits: '5' });
    const chat = await postChat(harness.url, tokens.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 1000 });
    expect(chat.status).toBe(402);
    expect(((await chat.json()) as ErrorBody).error.message).toBe(
      `insufficient credits: this call needs up to ${HELLO_TOKENS + 1000} tokens (its worst case for gpt-4o-mini) and 5 tokens are available; ` +
        `top up the account's credits or lower the output limit (max_tokens)`,
    );
    const broke = await harness.createAccount('consumption_usd', { credits: '0' });
    const embedding = await fetch(`${harness.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${broke.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'Hello' }),
    });
    expect(embedding.status).toBe(402);
    expect(((await embedding.json()) as ErrorBody).error.message).toMatch(
      /^insufficient credits: this call needs up to 0\.\d+ USD \(its worst case for text-embedding-3-small\) and 0 USD are available; top up the account's credits$/,
    );
    expect(mock.requests).toHaveLength(0);
  });

  it('a non-streaming answer without usage is billed on the prompt estimate and the counted answer, marked estimated', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('no-usage');
    const response = await postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 1000 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }>; usage: ChargedUsage };
    const answerTokens = textTokens(body.choices[0]!.message.content);
    expect(answerTokens).toBeGreaterThan(100);
    const charge = cost([HELLO_TOKENS, MINI.input], [answerTokens, MINI.output]);
    expect([body.usage.prompt_tokens, body.usage.completion_tokens]).toEqual([HELLO_TOKENS, answerTokens]);
    expect(body.usage.tollgate).toMatchObject({ charge: charge.toString(), estimated: true });
    expect(response.headers.get('x-tollgate-usage-estimated')).toBe('true');
    await harness.flush();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(charge.toString());
    const record = await usageRecordOf(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect(record).toMatchObject({
      status: 'success',
      usage_estimated: true,
      input_uncached_tokens: HELLO_TOKENS,
      output_text_tokens: answerTokens,
    });
    expect(d(record.charge).toString()).toBe(charge.toString());
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('an upstream 404 (the provider does not know the model) is a 404 model_not_found, not a 502, and charges nothing', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    mock.queue('error-404');
    const response = await postChat(harness.url, account.key, {
      model: 'gemini-2.5-flash',
      messages: HELLO,
      max_tokens: 100,
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as ErrorBody).error).toMatchObject({ code: 'model_not_found', param: 'model' });
    expect(mock.requests[0]?.api).toBe('gemini');
    await harness.flush();
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold', 'release']);
    const [record] = await usageRecordsOfAccount(harness.database.db, account.id);
    expect(record).toMatchObject({ status: 'error', error_code: 'model_not_found' });
    expect(d(record!.charge).isZero()).toBe(true);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a model whose provider has no API key configured is a 502 upstream_not_configured naming the key, before any hold', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const response = await postChat(harness.url, account.key, {
      model: 'mistral/mistral-large-latest',
      messages: HELLO,
      max_tokens: 100,
    });
    expect(response.status).toBe(502);
    const error = ((await response.json()) as ErrorBody).error;
    expect(error).toMatchObject({ code: 'upstream_not_configured', type: 'upstream_error' });
    expect(error.message).toContain('MISTRAL_API_KEY');
    expect(mock.requests).toHaveLength(0);
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant']);
  });
});

/**
 * With a durable hold per call the hold entry is the worst-case quote itself, so its size can be read from
 * the ledger: the prompt estimate and the requested output limit (or the model's, or the gateway's default),
 * at the account's markup, in the account's unit.
 */
describe.each(backends())('the worst-case hold, on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, {
      upstreamUrl: mock.url,
      env: { TOLLGATE_HOLDS: 'per_call', TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: '2500' },
    });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  /** Makes a call and returns the amount its hold took, and the account. */
  async function holdOf(request: Record<string, unknown>, account?: { id: string; key: string }) {
    const caller = account ?? (await harness.createAccount('consumption_usd', { credits: '5' }));
    mock.queue('text');
    const response = await postChat(harness.url, caller.key, { model: 'gpt-4o-mini', messages: HELLO, ...request });
    expect(response.status).toBe(200);
    const entries = await entriesOfRequest(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect(entries.map((entry) => entry.kind)).toEqual(['hold', 'capture']);
    return { amount: d(entries[0]!.amount), unit: entries[0]!.unit, account: caller };
  }

  it('holds the prompt estimate plus max_tokens at the output rate', async () => {
    const held = await holdOf({ max_tokens: 1000 });
    expect(held.amount.toString()).toBe(cost([HELLO_TOKENS, MINI.input], [1000, MINI.output]).toString());
  });

  it('counts the whole prompt: a longer conversation holds more, by its own tokens', async () => {
    const messages = [
      { role: 'system', content: 'You are a terse assistant. Answer in one line.' },
      { role: 'user', content: 'Name three prime numbers larger than one hundred.' },
    ];
    const held = await holdOf({ messages, max_tokens: 10 });
    expect(held.amount.toString()).toBe(cost([promptTokens(messages), MINI.input], [10, MINI.output]).toString());
  });

  it('reads max_completion_tokens as max_tokens', async () => {
    const held = await holdOf({ max_completion_tokens: 700 });
    expect(held.amount.toString()).toBe(cost([HELLO_TOKENS, MINI.input], [700, MINI.output]).toString());
  });

  it("without a limit in the request, holds the gateway's default output limit", async () => {
    const held = await holdOf({});
    expect(held.amount.toString()).toBe(cost([HELLO_TOKENS, MINI.input], [2500, MINI.output]).toString());
  });

  it("without a limit in the request, holds the model's own output limit when the catalog has one", async () => {
    await harness.database.db.updateTable('models').set({ max_output_tokens: 1234 }).where('id', '=', 'gpt-4o-mini').execute();
    try {
      await reload();
      const held = await holdOf({});
      expect(held.amount.toString()).toBe(cost([HELLO_TOKENS, MINI.input], [1234, MINI.output]).toString());
      // A request's own limit still wins over the model's.
      expect((await holdOf({ max_tokens: 50 })).amount.toString()).toBe(
        cost([HELLO_TOKENS, MINI.input], [50, MINI.output]).toString(),
      );
    } finally {
      await harness.database.db.updateTable('models').set({ max_output_tokens: null }).where('id', '=', 'gpt-4o-mini').execute();
      await reload();
    }
  });

  it("holds with the account's markup on the worst case", async () => {
    const account = await harness.createAccount('consumption_usd', {
      credits: '5',
      markupPercent: '50',
      markupFixedFee: '0.002',
    });
    const held = await holdOf({ max_tokens: 1000 }, account);
    const worst = cost([HELLO_TOKENS, MINI.input], [1000, MINI.output]);
    expect(held.amount.toString()).toBe(worst.mul(d('1.5')).add(d('0.002')).toString());
  });

  it('holds tokens for a token account and the job price for a job account', async () => {
    const tokens = await harness.createAccount('consumption_tokens', { credits: '100000' });
    const heldTokens = await holdOf({ max_tokens: 1000 }, tokens);
    expect([heldTokens.amount.toString(), heldTokens.unit]).toEqual([String(HELLO_TOKENS + 1000), 'tokens']);
    const job = await harness.createAccount('job_based', { credits: '5', jobPrice: '0.25' });
    const heldJob = await holdOf({ max_tokens: 1000 }, job);
    expect([heldJob.amount.toString(), heldJob.unit]).toEqual(['0.25', 'usd']);
    await expectSettled(harness.database.db, harness.gateway.ledger, tokens.id);
    await expectSettled(harness.database.db, harness.gateway.ledger, job.id);
  });

  it('a gateway fault after the upstream answered (the capture cannot be written) is a 500 that charges nothing and frees the hold', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const db = harness.database.db;
    const fault = await refuseEntriesOf(db, account.id);
    try {
      mock.queue('text');
      const response = await postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 100 });
      expect(response.status).toBe(500);
      expect(((await response.json()) as ErrorBody).error).toMatchObject({ code: 'internal_error', type: 'server_error' });
      expect(mock.requests).toHaveLength(1);
      expect(await fault.attempts()).toBe(1);
    } finally {
      await fault.stop();
    }
    await harness.flush();
    expect(await kindsOf(db, account.id)).toEqual(['grant', 'hold', 'release']);
    expect((await capturedTotal(db, account.id)).isZero()).toBe(true);
    const after = await harness.gateway.ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['1', '1']);
    await expectSettled(db, harness.gateway.ledger, account.id);
  });

  async function reload() {
    const response = await fetch(`${harness.url}/admin/pricing/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(response.status).toBe(200);
  }
});

interface ChargedUsage {
  prompt_tokens: number;
  completion_tokens: number;
  tollgate: Record<string, unknown>;
}

interface ErrorBody {
  error: { message: string; code: string; type: string; param: string | null };
}
