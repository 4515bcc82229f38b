import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

/**
 * A customer's usage, calls and statement under /account: the report API's answers with the account fixed
 * to the caller's, whatever the query asks, equal to what its own ledger entries say.
 */
describe.each(backends())("a customer's own usage on $name", (backend) => {
  let upstream: MockUpstream;
  let gateway: TestGateway;
  let mine: { id: string; key: string };
  let theirs: { id: string; key: string };
  const get = async (url: string, key: string) =>
    gateway.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    upstream = await startMockUpstream();
    gateway = await startTestGateway(backend, { upstreamUrl: upstream.url });
    mine = await gateway.createAccount('consumption_usd', { credits: '10' });
    theirs = await gateway.createAccount('consumption_usd', { credits: '10' });
    for (const [account, calls] of [
      [mine, 2],
      [theirs, 3],
    ] as const) {
      const client = gateway.client(account.key);
      for (let call = 0; call < calls; call++) {
        await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 1000,
        });
      }
    }
    await gateway.flush();
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  const captured = async (accountId: string) => {
    const entries = await gateway.gateway.ledger.entries(accountId, { kinds: ['capture'], limit: 100 });
    return Decimal.sum(entries.map((entry) => entry.amount.neg())).toString();
  };

  it('sums only its own calls, equal to its captures', async () => {
    const summary = (await get('/account/usage/summary?group_by=model', mine.key)).json();
    expect(summary.totals.calls).toBe(2);
    expect(summary.totals.charge).toBe(await captured(mine.id));
    expect(summary.rows.map((row: { model: string }) => row.model)).toEqual(['gpt-4o-mini']);
    // Grouping by account shows one account: the caller's.
    const byAccount = (await get('/account/usage/summary?group_by=account', mine.key)).json();
    expect(byAccount.rows.map((row: { account: string }) => row.account)).toEqual([mine.id]);
  });

  it('cannot be pointed at another account: an account in the query is no filter here', async () => {
    const summary = (await get(`/account/usage/summary?account=${theirs.id}`, mine.key)).json();
    expect(summary.totals.calls).toBe(2);
    const records = (await get(`/account/usage/records?account=${theirs.id}`, mine.key)).json();
    expect(records.data.map((record: { account: string }) => record.account)).toEqual([mine.id, mine.id]);
  });

  it('lists its own calls, each with the capture it produced', async () => {
    const records = (await get('/account/usage/records', theirs.key)).json();
    expect(records.data).toHaveLength(3);
    expect(new Set(records.data.map((record: { account: string }) => record.account))).toEqual(new Set([theirs.id]));
    expect(records.data.every((record: { ledger_entry_id: number | null }) => typeof record.ledger_entry_id === 'number')).toBe(
      true,
    );
  });

  it("answers its own month's statement, which balances with its ledger", async () => {
    const statement = (await get('/account/statement', mine.key)).json();
    expect(statement.account.id).toBe(mine.id);
    expect(statement.charges.total).toBe(await captured(mine.id));
    expect(statement.closing_balance).toBe((await gateway.gateway.ledger.getAccount(mine.id)).balance.toString());
  });
});
