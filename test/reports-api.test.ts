import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

/**
 * The report API over real calls (the demo provider answers, every call is priced and billed): summaries
 * equal the usage records and the ledger's captures, their CSV parses to the same rows, the request log
 * pages through every call with its ledger entry, and a monthly statement balances against the ledger.
 */
describe.each(backends())('report API on $name', (backend) => {
  let harness: TestGateway;
  const accounts: Array<{ id: string; key: string; name: string }> = [];
  const month = new Date().toISOString().slice(0, 7);

  const admin = async (url: string) => {
    const response = await harness.gateway.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    return { status: response.statusCode, headers: response.headers, text: response.body, json: () => response.json() };
  };

  beforeAll(async () => {
    harness = await startTestGateway(backend);
    for (const name of [`reports-a-${Date.now()}`, `reports-b-${Date.now()}`]) {
      accounts.push({ ...(await harness.createAccount('consumption_usd', { credits: '5', name })), name });
    }
    const calls: Array<[number, string, string | undefined]> = [
      [0, 'gpt-4o-mini', 'alice'],
      [0, 'gpt-4o-mini', 'alice'],
      [0, 'claude-sonnet-4-5', 'bob'],
      [0, 'gpt-4o-mini', undefined],
      [1, 'claude-sonnet-4-5', 'carol'],
      [1, 'gemini-2.5-flash', undefined],
    ];
    for (const [index, model, user] of calls) {
      await harness.client(accounts[index]!.key).chat.completions.create({
        model,
        messages: [{ role: 'user', content: `Say hello to ${user ?? 'nobody'}` }],
        max_tokens: 30,
        ...(user ? { user } : {}),
      });
    }
    // The calls' captures reach the ledger after their linger; a refund is checked against what was captured.
    await harness.flush();
    await harness.gateway.ledger.grant(accounts[0]!.id, Decimal.parse('2.5'), { note: 'top-up' });
    await harness.gateway.ledger.refund(accounts[0]!.id, Decimal.parse('0.0001'));
    await harness.gateway.ledger.adjust(accounts[0]!.id, Decimal.parse('-0.0005'), { note: 'correction' });
    await harness.flush();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('a summary by account, model and end user equals the usage records and the ledger captures', async () => {
    const response = await admin(`/admin/usage/summary?group_by=account,model,end_user&from=${month}-01T00:00:00Z`);
    expect(response.status).toBe(200);
    const body = response.json();
    expect(body.group_by).toEqual(['account', 'model', 'end_user']);
    const mine = body.rows.filter((row: { account: string }) => accounts.some((account) => account.id === row.account));
    expect(mine).toHaveLength(5);
    const alice = mine.find((row: { end_user: string | null }) => row.end_user === 'alice');
    expect(alice).toMatchObject({
      account: accounts[0]!.id,
      account_name: accounts[0]!.name,
      model: 'gpt-4o-mini',
      calls: 2,
      errors: 0,
    });
    for (const account of accounts) {
      const rows = mine.filter((row: { account: string }) => row.account === account.id);
      const charged = rows.reduce((sum: Decimal, row: { charge: string }) => sum.add(Decimal.parse(row.charge)), Decimal.ZERO);
      const recorded = await harness.database.db
        .selectFrom('usage_records')
        .select([sql<string>`sum(charge)`.as('charge'), sql<string>`sum(output_text_tokens)`.as('output')])
        .where('account_id', '=', account.id)
        .executeTakeFirstOrThrow();
      const captured = await harness.database.db
        .selectFrom('ledger_entries')
        .select(sql<string>`sum(amount)`.as('amount'))
        .where('account_id', '=', account.id)
        .where('kind', '=', 'capture')
        .executeTakeFirstOrThrow();
      expect(charged.toString()).toBe(Decimal.parse(recorded.charge).toString());
      expect(charged.toString()).toBe(Decimal.parse(captured.amount).neg().toString());
      const output = rows.reduce((sum: number, row: { output_text_tokens: number }) => sum + row.output_text_tokens, 0);
      expect(output).toBe(Number(recorded.output));
    }
    const total = body.rows.reduce((sum: Decimal, row: { charge: string }) => sum.add(Decimal.parse(row.charge)), Decimal.ZERO);
    expect(body.totals.charge).toBe(total.toString());
  });

  it('answers the same rows as CSV, which parses', async () => {
    const query = `group_by=day,model&account=${accounts[0]!.name}`;
    const json = (await admin(`/admin/usage/summary?${query}`)).json();
    const csv = await admin(`/admin/usage/summary?${query}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows = parse(csv.text, { columns: true }) as Array<Record<string, string>>;
    expect(Object.keys(rows[0]!)).toEqual([
      'day',
      'model',
      'calls',
      'errors',
      'input_uncached_tokens',
      'cache_read_tokens',
      'cache_write_tokens',
      'input_audio_tokens',
      'output_text_tokens',
      'reasoning_tokens',
      'output_audio_tokens',
      'provider_cost',
      'markup',
      'charge',
    ]);
    expect(rows).toEqual(
      json.rows.map((row: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(row).map(([key, value]) => [key, String(value ?? '')])),
      ),
    );
    expect(rows.map((row) => row.model).sort()).toEqual(['claude-sonnet-4-5', 'gpt-4o-mini']);
  });

  it('pages through the request log newest first, each call with its breakdown and capture entry', async () => {
    const seen: Array<Record<string, unknown>> = [];
    let cursor: string | null = null;
    do {
      const page = await admin(`/admin/usage/records?account=${accounts[0]!.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      const body = page.json();
      seen.push(...body.data);
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(4);
    const times = seen.map((record) => String(record.created_at));
    expect(times).toEqual([...times].sort().reverse());
    for (const record of seen) {
      const capture = await harness.database.db
        .selectFrom('ledger_entries')
        .select(['id', 'amount'])
        .where('request_id', '=', String(record.request_id))
        .where('kind', '=', 'capture')
        .executeTakeFirstOrThrow();
      expect(record.ledger_entry_id).toBe(Number(capture.id));
      expect(Decimal.parse(capture.amount).neg().toString()).toBe(record.charge);
      expect(record).toMatchObject({ account_name: accounts[0]!.name, status: 'success', pricing_match: 'exact', markup: '0' });
      expect(typeof record.price_version).toBe('number');
      expect(record.usage_anomaly).toBeNull();
      expect((record.breakdown as { lines: unknown[] }).lines.length).toBeGreaterThan(0);
    }
    const alice = (await admin(`/admin/usage/records?end_user=alice&model=gpt-4o-mini`)).json();
    expect(alice.data.map((record: { end_user: string }) => record.end_user)).toEqual(['alice', 'alice']);
  });

  it("a month's statement balances: opening + grants + refunds + adjustments − charges = closing = the balance", async () => {
    const account = accounts[0]!;
    const response = await admin(`/admin/accounts/${account.name}/statement?month=${month}`);
    expect(response.status).toBe(200);
    const statement = response.json();
    const d = Decimal.parse;
    expect(statement.opening_balance).toBe('0');
    expect(statement.grants).toBe('7.5'); // the initial 5 and the top-up
    expect(statement.refunds).toBe('0.0001');
    expect(statement.adjustments).toBe('-0.0005');
    expect(statement.charges.calls).toBe(4);
    expect(statement.charges.by_model.map((row: { model: string }) => row.model).sort()).toEqual([
      'claude-sonnet-4-5',
      'gpt-4o-mini',
    ]);
    const closing = d(statement.opening_balance)
      .add(d(statement.grants))
      .add(d(statement.refunds))
      .add(d(statement.adjustments))
      .sub(d(statement.charges.total));
    expect(statement.closing_balance).toBe(closing.toString());
    expect(statement.closing_balance).toBe((await harness.gateway.ledger.getAccount(account.id)).balance.toString());
    const csv = parse((await admin(`/admin/accounts/${account.id}/statement?month=${month}&format=csv`)).text, {
      columns: true,
    }) as Array<Record<string, string>>;
    expect(csv[0]!.line).toBe('opening_balance');
    expect(csv.at(-1)).toMatchObject({ line: 'closing_balance', amount: statement.closing_balance });
    const summed = csv.slice(0, -1).reduce((sum, row) => sum.add(d(row.amount!)), Decimal.ZERO);
    expect(summed.toString()).toBe(statement.closing_balance);
  });

  it("the month before carries over: last month's closing balance is this month's opening", async () => {
    const account = accounts[1]!;
    // The initial grant, moved to the month before (the ledger is append-only; a test may rewrite time).
    const previous = new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 2, 15));
    await sql`update ledger_entries set created_at = ${previous.toISOString()} where account_id = ${account.id} and kind = 'grant'`.execute(
      harness.database.db,
    );
    const before = (await admin(`/admin/accounts/${account.id}/statement?month=${previous.toISOString().slice(0, 7)}`)).json();
    const now = (await admin(`/admin/accounts/${account.id}/statement?month=${month}`)).json();
    expect(before).toMatchObject({ opening_balance: '0', grants: '5', closing_balance: '5' });
    expect(now.opening_balance).toBe('5');
    expect(now.closing_balance).toBe((await harness.gateway.ledger.getAccount(account.id)).balance.toString());
  });

  it('names what is wrong with a request', async () => {
    const bogus = await admin('/admin/usage/summary?group_by=model,week');
    expect(bogus.status).toBe(400);
    expect(bogus.json().error).toMatchObject({ code: 'invalid_request', param: 'group_by' });
    expect((await admin('/admin/usage/summary?from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z')).json().error.param).toBe(
      'from',
    );
    expect((await admin('/admin/usage/summary?account=nosuch')).status).toBe(404);
    expect((await admin('/admin/usage/records?key=nosuch')).status).toBe(404);
    expect((await admin('/admin/usage/records?cursor=abc')).json().error.param).toBe('cursor');
    expect((await admin(`/admin/accounts/${accounts[0]!.id}/statement?month=2026-13`)).status).toBe(400);
    expect((await admin('/admin/accounts/nosuch/statement')).status).toBe(404);
    const user = await harness.gateway.app.inject({
      method: 'GET',
      url: '/admin/usage/summary',
      headers: { authorization: `Bearer ${accounts[0]!.key}` },
    });
    expect(user.statusCode).toBe(403);
  });

  it('documents the routes in the OpenAPI document', async () => {
    const paths = Object.keys((await admin('/docs/json')).json().paths);
    expect(paths).toEqual(
      expect.arrayContaining(['/admin/usage/summary', '/admin/usage/records', '/admin/accounts/{account}/statement']),
    );
  });
});
