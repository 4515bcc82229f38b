import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { promptTokens, textTokens } from './support/charges.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { entriesOf, expectSettled } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

const d = (text: string) => Decimal.parse(text);

interface ChatAnswer {
  choices: Array<{ message: { content: string } }>;
  usage: {
    cost: number;
    tollgate: {
      charge: string;
      debit: string;
      shortfall?: string;
      estimated?: boolean;
      usage_anomaly?: { reasons: string[]; policy: string; reported_charge?: string; reported_debit?: string };
    };
  };
}

/**
 * A response tells the truth about the money: the debit it reports is what the ledger captured, a shortfall
 * is reported, and usage an upstream reports beyond what the call could produce is not billed blindly.
 */
describe.each(backends())('truthful charges on $name', (backend) => {
  let mock: MockUpstream;
  beforeAll(async () => {
    mock = await startMockUpstream();
  });
  afterAll(async () => {
    await mock.close();
  });
  beforeEach(() => mock.reset());

  async function call(harness: TestGateway, key: string, maxTokens = 5) {
    mock.queue('inflated-usage');
    const response = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens }),
    });
    expect(response.status).toBe(200);
    return { headers: response.headers, body: (await response.json()) as ChatAnswer };
  }

  describe('with a durable hold per call (the hold is in the ledger)', () => {
    let harness: TestGateway;
    beforeAll(async () => {
      harness = await startTestGateway(backend, { upstreamUrl: mock.url, env: { TOLLGATE_HOLDS: 'per_call' } });
    });
    afterAll(async () => {
      await harness?.close();
    });

    it('10^12 output tokens on a call with max_tokens 5 is charged the worst case held, recorded whole, and alerted', async () => {
      const account = await harness.createAccount('consumption_usd', { credits: '10' });
      mock.inflatedUsage = { prompt_tokens: 16, completion_tokens: 1e12, total_tokens: 1e12 + 16 };
      const { headers, body } = await call(harness, account.key);
      await harness.flush();
      const entries = await entriesOf(harness.database.db, account.id);
      const hold = entries.find((entry) => entry.kind === 'hold')!;
      const capture = entries.find((entry) => entry.kind === 'capture')!;
      // Capped at the worst case held, not the $600,000 the usage would cost.
      expect(d(capture.amount).neg().toString()).toBe(d(hold.amount).toString());
      expect(body.usage.tollgate.debit).toBe(d(hold.amount).toString());
      expect(body.usage.tollgate.charge).toBe(d(hold.amount).toString());
      expect(body.usage.tollgate.usage_anomaly).toMatchObject({
        policy: 'cap',
        reasons: [expect.stringMatching(/1000000000000 output tokens: more than any model writes/)],
        reported_charge: d('6e-7').times(1e12).add(d('1.5e-7').times(16)).toString(),
      });
      expect(headers.get('x-tollgate-usage-anomaly')).toBe('capped');
      expect(headers.get('x-tollgate-debit')).toBe(`${d(hold.amount).toString()} usd`);
      const record = await harness.database.db
        .selectFrom('usage_records')
        .select(['output_text_tokens', 'usage_anomaly', 'charge', 'debit'])
        .where('account_id', '=', account.id)
        .executeTakeFirstOrThrow();
      expect(record.output_text_tokens).toBe(1e12);
      expect(record.usage_anomaly).toMatchObject({ policy: 'cap' });
      expect(record.debit).toBe(d(hold.amount).toString());
      const alerts = await fetch(`${harness.url}/admin/alerts`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then(
        (response) => response.json() as Promise<{ data: Array<{ kind: string; details: { requestId: string } }> }>,
      );
      expect(alerts.data.some((alert) => alert.kind === 'usage_anomaly')).toBe(true);
      await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
    });

    it('cache hits beyond the prompt they are part of: an anomaly, charged at most the worst case held, recorded as reported', async () => {
      const account = await harness.createAccount('consumption_usd', { credits: '10' });
      mock.inflatedUsage = {
        prompt_tokens: 16,
        completion_tokens: 5,
        total_tokens: 21,
        prompt_tokens_details: { cached_tokens: 40 },
      };
      const { headers, body } = await call(harness, account.key);
      // As reported: 40 cache reads at gpt-4o-mini's cache rate and 5 output tokens, more than the worst case held.
      const reported = d('7.5e-8').times(40).add(d('6e-7').times(5));
      const reason = 'cached (40), cache-write (0) and audio (0) tokens exceed the 16 prompt tokens they are part of';
      await harness.flush();
      const entries = await entriesOf(harness.database.db, account.id);
      const held = d(entries.find((entry) => entry.kind === 'hold')!.amount);
      expect(held.lt(reported)).toBe(true);
      expect(body.usage.tollgate.charge).toBe(held.toString());
      expect(body.usage.tollgate.usage_anomaly).toEqual({
        policy: 'cap',
        reasons: [reason],
        reported_charge: reported.toString(),
        reported_debit: reported.toString(),
      });
      expect(headers.get('x-tollgate-usage-anomaly')).toBe('capped');
      expect(
        d(entries.find((entry) => entry.kind === 'capture')!.amount)
          .neg()
          .toString(),
      ).toBe(held.toString());
      const record = await harness.database.db
        .selectFrom('usage_records')
        .select(['input_uncached_tokens', 'cache_read_tokens', 'usage_anomaly', 'charge'])
        .where('account_id', '=', account.id)
        .executeTakeFirstOrThrow();
      expect(record).toMatchObject({ input_uncached_tokens: 0, cache_read_tokens: 40, charge: held.toString() });
      expect(record.usage_anomaly).toMatchObject({ policy: 'cap', reasons: [reason] });
      await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
    });

    it('usage with a count that is not a count (a negative, a string) is not billed as zero: the call is counted locally', async () => {
      for (const bad of [-50, '363']) {
        const account = await harness.createAccount('consumption_usd', { credits: '10' });
        mock.inflatedUsage = { prompt_tokens: 16, completion_tokens: bad, total_tokens: 21 };
        const { body } = await call(harness, account.key, 1000);
        const answer = body.choices[0]!.message.content;
        // The prompt estimate and the answer's text counted with o200k, marked estimated.
        const output = textTokens(answer);
        expect(output).toBeGreaterThan(100);
        const expected = d('1.5e-7')
          .times(promptTokens([{ role: 'user', content: 'hi' }]))
          .add(d('6e-7').times(output));
        expect(body.usage.tollgate).toMatchObject({ charge: expected.toString(), estimated: true });
        await harness.flush();
        const record = await harness.database.db
          .selectFrom('usage_records')
          .select(['output_text_tokens', 'usage_estimated', 'charge'])
          .where('account_id', '=', account.id)
          .executeTakeFirstOrThrow();
        expect(record).toMatchObject({ output_text_tokens: output, usage_estimated: true, charge: expected.toString() });
      }
    });

    it('usage within what the call could produce is charged in full, past the hold if need be', async () => {
      const account = await harness.createAccount('consumption_usd', { credits: '10' });
      // 5,000 prompt tokens where the estimate was a handful: more than held, not an anomaly.
      mock.inflatedUsage = { prompt_tokens: 5_000, completion_tokens: 5, total_tokens: 5_005 };
      const { body } = await call(harness, account.key);
      const expected = d('1.5e-7').times(5_000).add(d('6e-7').times(5));
      expect(body.usage.tollgate.usage_anomaly).toBeUndefined();
      expect(body.usage.tollgate.debit).toBe(expected.toString());
      await harness.flush();
      const capture = (await entriesOf(harness.database.db, account.id)).find((entry) => entry.kind === 'capture')!;
      expect(d(capture.amount).neg().toString()).toBe(expected.toString());
    });
  });

  describe('with credit leases, charging anomalies as reported', () => {
    let harness: TestGateway;
    beforeAll(async () => {
      harness = await startTestGateway(backend, { upstreamUrl: mock.url, env: { TOLLGATE_USAGE_ANOMALY_POLICY: 'charge' } });
    });
    afterAll(async () => {
      await harness?.close();
    });

    it('a charge the account cannot cover reports the debit the ledger took and the shortfall, field and header', async () => {
      const account = await harness.createAccount('consumption_usd', { credits: '1' });
      mock.inflatedUsage = { prompt_tokens: 16, completion_tokens: 1e12, total_tokens: 1e12 + 16 };
      const { headers, body } = await call(harness, account.key);
      const charge = d('6e-7').times(1e12).add(d('1.5e-7').times(16));
      expect(body.usage.tollgate.charge).toBe(charge.toString());
      // The account had $1 and no overdraft: the ledger took the $1, not the $600,000.
      expect(body.usage.tollgate.debit).toBe('1');
      expect(body.usage.tollgate.shortfall).toBe(charge.sub(d('1')).toString());
      expect(headers.get('x-tollgate-debit')).toBe('1 usd');
      expect(headers.get('x-tollgate-shortfall')).toBe(`${charge.sub(d('1')).toString()} usd`);
      expect(body.usage.tollgate.usage_anomaly).toMatchObject({ policy: 'charge' });
      await harness.flush();
      const entries = await entriesOf(harness.database.db, account.id);
      const capture = entries.find((entry) => entry.kind === 'capture')!;
      expect(capture.amount).toBe('-1');
      expect((await harness.gateway.ledger.getAccount(account.id)).balance.toString()).toBe('0');
      const metrics = await fetch(`${harness.url}/metrics`).then((response) => response.text());
      expect(metrics).toMatch(/tollgate_shortfall_calls_total\{unit="usd"\} 1/);
      // The call was told its shortfall: no capture settled for less than the call reported.
      expect(metrics).toMatch(/tollgate_capture_discrepancies_total 0\n/);
      await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
    });
  });
});
