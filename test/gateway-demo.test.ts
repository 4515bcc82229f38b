import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

/**
 * A fresh install with no upstream key: the demo provider answers, every call is priced from the catalog
 * as the real model and billed. Also the HTTP surface around the calls: auth, validation, models, docs,
 * metrics, health, admin pricing routes.
 */
describe.each(backends())('gateway with the demo provider on $name', (backend) => {
  let harness: TestGateway;
  beforeAll(async () => {
    harness = await startTestGateway(backend);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('answers, reports usage.cost and debits exactly that', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50 }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const body = JSON.parse(text);
    const usage = body.usage;
    // gpt-4o-mini: $0.15 / $0.60 per 1M tokens (fixtures/seed-formats/llm_pricing_current.json)
    const expected = Decimal.parse('1.5e-7').times(usage.prompt_tokens).add(Decimal.parse('6e-7').times(usage.completion_tokens));
    expect(usage.tollgate.charge).toBe(expected.toString());
    // usage.cost is written as the exact decimal literal, not a float's rounding of it.
    expect(text).toContain(`"cost":${expected.toString()}`);
    expect(response.headers.get('x-tollgate-cost')).toBe(expected.toString());
    expect(response.headers.get('x-tollgate-pricing-source')).toBe('database');
    expect(response.headers.get('x-tollgate-pricing-match')).toBe('exact');
    // The demo answered, priced as the real provider's model: the header says who answered.
    expect(response.headers.get('x-tollgate-provider')).toBe('demo');
    await harness.flush();
    const after = await harness.gateway.ledger.getAccount(account.id);
    expect(after.balance.toString()).toBe(Decimal.ONE.sub(expected).toString());
    expect(after.available.eq(after.balance)).toBe(true);
    expect(response.headers.get('x-tollgate-credits-remaining')).toBe(after.available.toString());
  });

  it('streams with the official client, the last chunk carrying usage and cost', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const stream = await harness.client(account.key).chat.completions.create({
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Count to five' }],
      stream: true,
      max_tokens: 40,
    });
    let text = '';
    let usage: Record<string, unknown> | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage as unknown as Record<string, unknown>;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).toBeDefined();
    const charged = Decimal.parse((usage!.tollgate as { charge: string }).charge);
    // claude-sonnet-4-5: $3 / $15 per 1M tokens
    const expected = Decimal.parse('3e-6')
      .times(usage!.prompt_tokens as number)
      .add(Decimal.parse('1.5e-5').times(usage!.completion_tokens as number));
    expect(charged.eq(expected)).toBe(true);
    await harness.flush();
    const after = await harness.gateway.ledger.getAccount(account.id);
    expect(after.balance.eq(Decimal.ONE.sub(expected))).toBe(true);
    const record = await harness.database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    expect(record.stream).toBe(true);
    expect(record.charge).toBe(expected.toString());
    expect(record.pricing_match).toBe('exact');
  });

  it('answers 401 without a key and with a wrong key, in OpenAI error shape', async () => {
    const missing = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(missing.status).toBe(401);
    expect((await json(missing)).error.code).toBe('missing_api_key');
    const wrong = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', authorization: 'Bearer tg_not_a_real_key_at_all' },
    });
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error.type).toBe('authentication_error');
  });

  it('answers 400 naming the field for an invalid request, and charges nothing', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'robot', content: 'hi' }] }),
    });
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body.error.param).toBe('messages[0].role');
    expect(body.error.message).toContain('messages[0].role');
    const malformed = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(malformed.status).toBe(400);
    expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe('1');
  });

  it('lists active models with exact prices', async () => {
    const account = await harness.createAccount('consumption_usd');
    const models = await harness.client(account.key).models.list();
    const mini = models.data.find((model) => model.id === 'gpt-4o-mini') as unknown as { pricing: Record<string, string> };
    expect(mini.pricing.input).toBe('0.00000015');
    expect(mini.pricing.output).toBe('0.0000006');
  });

  it('an account suspended in the ledger is refused at its next lease with 403 account_suspended', async () => {
    const account = await harness.createAccount('consumption_usd');
    const client = harness.client(account.key);
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    // Suspended behind the gateway's back (no admin route, so its account cache still says active); its lease
    // retired, the next call must open a new one, which the ledger's conditional hold refuses.
    await harness.gateway.ledger.setStatus(account.id, 'suspended');
    await harness.gateway.reservations.retireAccount(account.id);
    const error = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('account_suspended');
  });

  it('serves health, metrics and the OpenAPI document', async () => {
    expect((await json(await fetch(`${harness.url}/healthz`))).status).toBe('ok');
    // A call first, so this process holds a credit lease the metrics can show.
    const account = await harness.createAccount('consumption_usd');
    await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    await harness.gateway.reservations.flush();
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toContain('tollgate_requests_total');
    expect(Number(/^tollgate_credit_leases_open (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^tollgate_capture_writes_pending 0$/m);
    expect(metrics).toMatch(/^tollgate_capture_writes_lost_total 0$/m);
    expect(metrics).toMatch(/tollgate_pricing_lookups_total\{source="database",match="exact"\} \d+/);
    const openapi = await json(await fetch(`${harness.url}/docs/json`));
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/v1/chat/completions', '/api/llm/create-and-call', '/admin/pricing/reload']),
    );
  });

  it('keeps admin routes behind the admin key and reloads pricing as the seed did', async () => {
    const account = await harness.createAccount('consumption_usd');
    const asUser = await fetch(`${harness.url}/admin/pricing/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}` },
    });
    expect(asUser.status).toBe(403);
    const reload = await fetch(`${harness.url}/admin/pricing/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(reload.status).toBe(200);
    const body = await json(reload);
    expect(body.status).toBe('reloaded');
    expect(body.models).toBe(37);
  });

  it('reports usage by account, model and time, with exact totals', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1', name: `usage-report-${Date.now()}` });
    const client = harness.client(account.key);
    const charges: Decimal[] = [];
    for (const model of ['gpt-4o-mini', 'gpt-4o-mini', 'claude-sonnet-4-5']) {
      const completion = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hi there' }],
        max_tokens: 20,
      });
      charges.push(Decimal.parse((completion.usage as unknown as { tollgate: { charge: string } }).tollgate.charge));
    }
    await harness.flush();
    const headers = { authorization: `Bearer ${ADMIN_KEY}` };
    const all = await json(await fetch(`${harness.url}/admin/usage?account=${account.id}`, { headers }));
    expect(all.totals.calls).toBe(3);
    expect(all.totals.charge).toBe(Decimal.sum(charges).toString());
    const unknown = await json(await fetch(`${harness.url}/admin/usage?account=no-such-account`, { headers }));
    expect(unknown.error.code).toBe('not_found');
    const mini = await json(await fetch(`${harness.url}/admin/usage?account=${account.id}&model=gpt-4o-mini`, { headers }));
    expect(mini.totals.calls).toBe(2);
    expect(mini.totals.charge).toBe(charges[0]!.add(charges[1]!).toString());
    const future = await json(
      await fetch(
        `${harness.url}/admin/usage?account=${account.id}&from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
        { headers },
      ),
    );
    expect(future.totals.calls).toBe(0);
    const badTime = await fetch(`${harness.url}/admin/usage?from=yesterday`, { headers });
    expect(badTime.status).toBe(400);
    expect((await json(badTime)).error.param).toBe('from');
  });

  it('writes a new price version through the admin route and charges it from then on', async () => {
    const put = await fetch(`${harness.url}/admin/pricing/models/gpt-4.1-nano/price`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ unit: '1m', input: '0.20', output: '0.80' }),
    });
    expect(put.status).toBe(200);
    const model = await json(
      await fetch(`${harness.url}/admin/pricing/models/gpt-4.1-nano`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }),
    );
    expect(model.history).toHaveLength(2);
    expect(model.current.rates.input).toBe('0.0000002');
    const bad = await fetch(`${harness.url}/admin/pricing/models/gpt-4.1-nano/price`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: '-1', output: '1' }),
    });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.param).toBe('input');
    const account = await harness.createAccount('consumption_usd');
    const completion = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
    const usage = completion.usage as unknown as {
      prompt_tokens: number;
      completion_tokens: number;
      tollgate: { charge: string; pricing: { price_version: number } };
    };
    const expected = Decimal.parse('2e-7').times(usage.prompt_tokens).add(Decimal.parse('8e-7').times(usage.completion_tokens));
    expect(usage.tollgate.charge).toBe(expected.toString());
    expect(usage.tollgate.pricing.price_version).toBe(model.current.version);
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions walk arbitrary JSON
async function json(response: Response): Promise<any> {
  return response.json();
}
