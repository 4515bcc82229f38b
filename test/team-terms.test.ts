import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { cost, d, postChat, RATES, usageRecordOf } from './support/charges.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { capturedTotal, expectSettled } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

const MINI = RATES['gpt-4o-mini'];
const HELLO = [{ role: 'user', content: 'Hello' }];
/** The mock's recorded `text` answer for gpt-4o-mini reports 16 prompt and 363 completion tokens. */
const PROVIDER_COST = cost([16, MINI.input], [363, MINI.output]);

/**
 * What a team account's calls are billed under: its wallet's budget mode and credits, and its own markup when
 * it has one, else its wallet's (as its job price). Over HTTP, against the mock upstream, charges stated exactly.
 */
describe.each(backends())("a team account's terms, on $name", (backend) => {
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

  const admin = (method: 'POST' | 'PATCH', url: string, payload: unknown) =>
    harness.gateway.app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: payload as object });

  async function team(parent: string, terms: Record<string, string | null> = {}): Promise<{ id: string; key: string }> {
    const created = await admin('POST', '/admin/accounts', {
      name: `team-${parent}-${Math.random().toString(36).slice(2)}`,
      mode: 'consumption_usd',
      parent,
      ...terms,
    });
    expect(created.statusCode).toBe(201);
    const body = created.json<{ account: { id: string }; api_key: { key: string } }>();
    return { id: body.account.id, key: body.api_key.key };
  }

  async function charged(key: string): Promise<{ charge: string; markup: string; requestId: string }> {
    mock.queue('text');
    const response = await postChat(harness.url, key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 1000 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { usage: { tollgate: { charge: string; markup: string; provider_cost: string } } };
    expect(body.usage.tollgate.provider_cost).toBe(PROVIDER_COST.toString());
    return { ...body.usage.tollgate, requestId: response.headers.get('x-tollgate-request-id')! };
  }

  it("a team without a markup of its own is charged its wallet's, exactly as the wallet's own key is", async () => {
    const wallet = await harness.createAccount('consumption_usd', { credits: '1' });
    const patched = await admin('PATCH', `/admin/accounts/${wallet.id}`, { markup_percent: '12.5', markup_fixed_fee: '0.001' });
    expect(patched.statusCode).toBe(200);
    const team1 = await team(wallet.id);
    // 0.0002202 + 12.5% of it + 0.001 (before the fix, the team's call was charged the bare 0.0002202).
    const expected = '0.001247725';
    expect(PROVIDER_COST.mul(d('1.125')).add(d('0.001')).toString()).toBe(expected);

    const own = await charged(wallet.key);
    const onTeam = await charged(team1.key);
    expect([own.charge, own.markup]).toEqual([expected, '0.001027525']);
    expect([onTeam.charge, onTeam.markup]).toEqual([expected, '0.001027525']);

    await harness.flush();
    // The wallet paid both; the team's usage record keeps the team.
    expect((await capturedTotal(harness.database.db, wallet.id)).toString()).toBe(d(expected).times(2).toString());
    expect((await harness.gateway.ledger.getAccount(wallet.id)).balance.toString()).toBe(
      d('1').sub(d(expected).times(2)).toString(),
    );
    const record = await usageRecordOf(harness.database.db, onTeam.requestId);
    expect([record.account_id, d(record.charge).toString(), d(record.markup).toString()]).toEqual([
      team1.id,
      expected,
      '0.001027525',
    ]);
    await expectSettled(harness.database.db, harness.gateway.ledger, wallet.id);
  });

  it("a team's own markup wins over its wallet's, even a markup of zero, and an unset part is zero", async () => {
    const wallet = await harness.createAccount('consumption_usd', {
      credits: '1',
      markupPercent: '12.5',
      markupFixedFee: '0.001',
    });
    const zero = await team(wallet.id, { markup_percent: '0' });
    const percentOnly = await team(wallet.id, { markup_percent: '5' });
    const feeOnly = await team(wallet.id, { markup_fixed_fee: '0.0002' });

    expect(await charged(zero.key)).toMatchObject({ charge: PROVIDER_COST.toString(), markup: '0' });
    expect(await charged(percentOnly.key)).toMatchObject({ charge: '0.00023121', markup: '0.00001101' });
    expect(await charged(feeOnly.key)).toMatchObject({ charge: '0.0004202', markup: '0.0002' });

    // Cleared again (null: not set), the team falls back on the wallet's at its next call.
    expect((await admin('PATCH', `/admin/accounts/${zero.id}`, { markup_percent: null })).statusCode).toBe(200);
    expect(await charged(zero.key)).toMatchObject({ charge: '0.001247725' });
  });

  it("a team below a team without a markup of its own uses the wallet's (the root of its chain), as for the job price", async () => {
    const wallet = await harness.createAccount('consumption_usd', {
      credits: '1',
      markupPercent: '12.5',
      markupFixedFee: '0.001',
    });
    const middle = await team(wallet.id, { markup_percent: '50' });
    const nested = await team(middle.id);
    expect(await charged(middle.key)).toMatchObject({ charge: '0.0003303', markup: '0.0001101' });
    expect(await charged(nested.key)).toMatchObject({ charge: '0.001247725', markup: '0.001027525' });
  });

  it("GET /account on a team key shows what the team can spend: its wallet's available, named as the wallet's", async () => {
    const wallet = await harness.createAccount('consumption_usd', { credits: '1' });
    const team1 = await team(wallet.id);
    const expected = PROVIDER_COST.toString();
    expect((await charged(team1.key)).charge).toBe(expected);
    await harness.flush();
    const read = async (key: string) =>
      (await fetch(`${harness.url}/account`, { headers: { authorization: `Bearer ${key}` } })).json() as Promise<{
        account: { id: string; balance: string; available: string; parent_id: string | null };
        wallet: { id: string; name: string; mode: string; unit: string; available: string; shared: boolean };
      }>;
    const left = d('1').sub(PROVIDER_COST).toString();
    const onTeam = await read(team1.key);
    // The team's own row has no credits; what its calls can spend is the wallet's.
    expect(onTeam.account).toMatchObject({ id: team1.id, balance: '0', available: '0', parent_id: wallet.id });
    expect(onTeam.wallet).toEqual({
      id: wallet.id,
      name: (await harness.gateway.ledger.getAccount(wallet.id)).name,
      mode: 'consumption_usd',
      unit: 'usd',
      available: left,
      shared: true,
    });
    const onWallet = await read(wallet.key);
    expect(onWallet.account).toMatchObject({ id: wallet.id, balance: left, available: left });
    expect(onWallet.wallet).toMatchObject({ id: wallet.id, available: left, shared: false });
  });

  it('a call without a key: /v1/messages names x-api-key and the bearer header, chat the bearer header', async () => {
    const messages = await fetch(`${harness.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(messages.status).toBe(401);
    expect(((await messages.json()) as { error: { type: string; message: string } }).error).toMatchObject({
      type: 'authentication_error',
      message: 'missing API key: send it as "x-api-key: <key>" or "Authorization: Bearer <key>"',
    });
    const chat = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: HELLO }),
    });
    expect(chat.status).toBe(401);
    expect(((await chat.json()) as { error: { message: string } }).error.message).toBe(
      'missing API key: send it as "Authorization: Bearer <key>"',
    );
    expect(mock.requests).toHaveLength(0);
  });
});
