import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { cost, expectBilledOnce } from './support/billing-checks.js';
import { eventsIn, postChat, usageRecordOf } from './support/charges.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { capturedTotal, expectSettled } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

// fixtures/genai-prices/advisor-models.json (genai-prices' data.json), USD per token: claude-sonnet-5 at its
// price from 2026-09-01 ($3 / $15 per 1M; the one the importer takes today), claude-opus-4-8 at $5 / $25 per 1M.
const SONNET_5 = { input: '0.000003', output: '0.000015' };
const OPUS_4_8 = { input: '0.000005', output: '0.000025' };
// The recorded advisor call (mock scenario `advisor`): claude-sonnet-5 read 2,390 and wrote 121 over its two
// steps; the claude-opus-4-8 advisor it consulted read 2,518 and wrote 22, outside those counts.
const EXECUTOR = cost([2390, SONNET_5.input], [121, SONNET_5.output]);
const ADVISOR = cost([2518, OPUS_4_8.input], [22, OPUS_4_8.output]);

interface TollgateBlock {
  charge: string;
  provider_cost: string;
  debit: string;
  debit_unit: string;
  pricing: { model: string; match: string; price_version: number; other_models?: unknown[] };
}

/**
 * Anthropic's advisor tool end to end: the model called (the executor) consults another model server-side, whose
 * steps Anthropic lists in `usage.iterations` (type `advisor_message`, with their model) outside the top-level
 * counts and bills at that model's rates. Each route that reads Anthropic's usage (Messages passed through, JSON and
 * stream; chat translated, JSON and stream) charges those steps at the advisor's own price version, found as the
 * call's own model is; the charge is checked exactly in the response, the ledger and the usage record.
 */
describe.each(backends())("Anthropic's advisor steps billed at the advisor's price, on $name", (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  let versions: { executor: number; advisor: number };
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, {
      upstreamUrl: mock.url,
      seedFiles: ['fixtures/genai-prices/advisor-models.json'],
    });
    const versionOf = async (modelId: string) =>
      Number(
        (
          await harness.database.db
            .selectFrom('model_prices')
            .select('id')
            .where('model_id', '=', modelId)
            .where('effective_until', 'is', null)
            .executeTakeFirstOrThrow()
        ).id,
      );
    versions = {
      executor: await versionOf('anthropic/claude-sonnet-5'),
      advisor: await versionOf('anthropic/claude-opus-4-8'),
    };
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  const anthropic = (key: string) => new Anthropic({ baseURL: harness.url, apiKey: key, maxRetries: 0 });

  /** The call's usage record: the executor's own token columns and price version, the advisor's lines in the breakdown. */
  async function expectRecorded(requestId: string, charge: Decimal): Promise<void> {
    const record = await usageRecordOf(harness.database.db, requestId);
    expect(record).toMatchObject({
      model_id: 'anthropic/claude-sonnet-5',
      input_uncached_tokens: 2390,
      output_text_tokens: 121,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      price_version: versions.executor,
      status: 'success',
    });
    expect(Decimal.parse(record.provider_cost).toString()).toBe(EXECUTOR.add(ADVISOR).toString());
    expect(Decimal.parse(record.charge).toString()).toBe(charge.toString());
    const breakdown = record.breakdown as {
      lines: Array<{ component: string; units: number; rate: string; amount: string; model?: string }>;
      otherModels: Array<Record<string, unknown>>;
      providerCost: string;
    };
    expect(breakdown.lines.map((line) => [line.component, line.units, line.rate, line.amount, line.model ?? null])).toEqual([
      ['input', 2390, '0.000003', '0.00717', null],
      ['output', 121, '0.000015', '0.001815', null],
      ['input', 2518, '0.000005', '0.01259', 'claude-opus-4-8'],
      ['output', 22, '0.000025', '0.00055', 'claude-opus-4-8'],
    ]);
    expect(breakdown.otherModels).toEqual([
      {
        model: 'claude-opus-4-8',
        modelId: 'anthropic/claude-opus-4-8',
        providerId: 'anthropic',
        source: 'database',
        match: 'prefix',
        priceVersion: versions.advisor,
        cost: '0.01314',
      },
    ]);
    // The provider's usage as it reported it, advisor step and all.
    expect((record.provider_usage as { iterations: unknown[] }).iterations).toHaveLength(3);
  }

  function expectPricing(tollgate: TollgateBlock): void {
    expect(tollgate.pricing).toMatchObject({
      model: 'anthropic/claude-sonnet-5',
      match: 'prefix',
      price_version: versions.executor,
      other_models: [
        {
          model: 'claude-opus-4-8',
          priced_as: 'anthropic/claude-opus-4-8',
          source: 'database',
          match: 'prefix',
          price_version: versions.advisor,
          tier: null,
          provider_cost: ADVISOR.toString(),
        },
      ],
    });
  }

  it('Messages passed through, JSON: 0.008985 for the executor plus 0.01314 for the advisor', async () => {
    expect([EXECUTOR.toString(), ADVISOR.toString()]).toEqual(['0.008985', '0.01314']);
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    mock.queue('advisor');
    const response = await anthropic(account.key)
      .messages.create({ model: 'claude-sonnet-5', max_tokens: 1000, messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse();
    expect(mock.requests[0]).toMatchObject({ api: 'anthropic', body: { model: 'claude-sonnet-5' } });
    const usage = response.data.usage as unknown as { input_tokens: number; output_tokens: number; tollgate: TollgateBlock };
    // The executor's counts as Anthropic reported them; the advisor's steps are in the charge.
    expect([usage.input_tokens, usage.output_tokens]).toEqual([2390, 121]);
    const charge = EXECUTOR.add(ADVISOR);
    expect(usage.tollgate.provider_cost).toBe('0.022125');
    expectPricing(usage.tollgate);
    expect(response.response.headers.get('x-tollgate-cost')).toBe('0.022125');
    await expectBilledOnce(harness, account, '5', usage.tollgate.charge, charge);
    await expectRecorded(response.response.headers.get('x-tollgate-request-id')!, charge);
  });

  it("Messages passed through, streamed: message_delta's usage lists the advisor step, and the charge has it", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5', markupPercent: '20' });
    mock.queue('advisor');
    const stream = anthropic(account.key).messages.stream({
      model: 'claude-sonnet-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    let charged: TollgateBlock | undefined;
    for await (const event of stream) {
      if (event.type === 'message_delta') charged = (event.usage as unknown as { tollgate: TollgateBlock }).tollgate;
    }
    const requestId = (await stream.withResponse()).response.headers.get('x-tollgate-request-id')!;
    // The account's 20% markup is on the whole provider cost, the advisor's steps included: 0.022125 x 1.2.
    const charge = EXECUTOR.add(ADVISOR).mul(Decimal.parse('1.2'));
    expect(charge.toString()).toBe('0.02655');
    expect(charged!.provider_cost).toBe('0.022125');
    expectPricing(charged!);
    await expectBilledOnce(harness, account, '5', charged!.charge, charge);
    await expectRecorded(requestId, charge);
  });

  it('chat translated to Anthropic, JSON and streamed: the same charge', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    const charge = EXECUTOR.add(ADVISOR);
    mock.queue('advisor', 'advisor');
    const json = await postChat(harness.url, account.key, {
      model: 'claude-sonnet-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(json.status).toBe(200);
    const body = (await json.json()) as { usage: { prompt_tokens: number; completion_tokens: number; tollgate: TollgateBlock } };
    expect([body.usage.prompt_tokens, body.usage.completion_tokens]).toEqual([2390, 121]);
    expect(body.usage.tollgate.charge).toBe(charge.toString());
    expectPricing(body.usage.tollgate);
    const streamed = await postChat(harness.url, account.key, {
      model: 'claude-sonnet-5',
      max_tokens: 1000,
      stream: true,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const events = eventsIn(await streamed.text());
    const final = events.at(-1) as { usage: { tollgate: TollgateBlock } };
    expect(final.usage.tollgate.charge).toBe(charge.toString());
    expectPricing(final.usage.tollgate);
    expect(mock.requests.map((request) => [request.api, request.stream])).toEqual([
      ['anthropic', false],
      ['anthropic', true],
    ]);
    await harness.flush();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(charge.add(charge).toString());
    expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe(
      Decimal.parse('5').sub(charge).sub(charge).toString(),
    );
    await expectRecorded(json.headers.get('x-tollgate-request-id')!, charge);
    await expectRecorded(streamed.headers.get('x-tollgate-request-id')!, charge);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it("a token-mode account is debited the advisor's tokens too: 2,390 + 121 + 2,518 + 22", async () => {
    const account = await harness.createAccount('consumption_tokens', { credits: '100000' });
    mock.queue('advisor');
    const response = await postChat(harness.url, account.key, {
      model: 'claude-sonnet-5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const body = (await response.json()) as { usage: { tollgate: TollgateBlock } };
    expect([body.usage.tollgate.debit, body.usage.tollgate.debit_unit]).toEqual(['5051', 'tokens']);
    await harness.flush();
    expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe('5051');
    expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe(String(100000 - 5051));
    const record = await usageRecordOf(harness.database.db, response.headers.get('x-tollgate-request-id')!);
    expect([record.debit_unit, Decimal.parse(record.debit).toString()]).toEqual(['tokens', '5051']);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });
});
