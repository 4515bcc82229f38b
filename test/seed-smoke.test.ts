import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetMode } from '../src/db/schema.js';
import { Decimal } from '../src/money/decimal.js';
import { backends } from './support/backends.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { expectSettled } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

/**
 * The seed system's smoke checklist (shared/seeds/003): call gpt-4o-mini, claude-sonnet-4-5 and an unknown
 * model through the seed's route `POST /api/llm/create-and-call`, and verify the credit deduction in each
 * of the three budget modes. Token counts are those of the recorded responses the mock replays.
 */
const CALLS = [
  // model, recorded prompt and completion tokens, USD per input and output token
  { model: 'gpt-4o-mini', scenario: 'text', prompt: 16, completion: 363, input: '1.5e-7', output: '6e-7' },
  { model: 'claude-sonnet-4-5', scenario: 'text', prompt: 12, completion: 29, input: '3e-6', output: '1.5e-5' },
  // Unknown: the default price of $1 / $2 per 1M tokens.
  { model: 'some-unknown-model', scenario: 'text', prompt: 16, completion: 363, input: '1e-6', output: '2e-6' },
];
const JOB_PRICE = '0.05';

describe.each(backends())('the seed smoke checklist on $name', (backend) => {
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

  const expectedDebit: Record<BudgetMode, Decimal> = {
    consumption_usd: Decimal.sum(
      CALLS.map((call) => Decimal.parse(call.input).times(call.prompt).add(Decimal.parse(call.output).times(call.completion))),
    ),
    consumption_tokens: Decimal.of(CALLS.reduce((total, call) => total + call.prompt + call.completion, 0)),
    job_based: Decimal.parse(JOB_PRICE).times(CALLS.length),
  };

  it.each(['consumption_usd', 'consumption_tokens', 'job_based'] as const)(
    '%s: every call answers and the deduction is exact',
    async (mode) => {
      const credits = mode === 'consumption_tokens' ? '100000' : '10';
      const account = await harness.createAccount(mode, { credits, ...(mode === 'job_based' ? { jobPrice: JOB_PRICE } : {}) });
      for (const call of CALLS) {
        mock.queue(call.scenario);
        const response = await fetch(`${harness.url}/api/llm/create-and-call`, {
          method: 'POST',
          headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: call.model, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 500 }),
        });
        expect(response.status, `${call.model} answered ${response.status}`).toBe(200);
        const body = (await response.json()) as {
          choices: Array<{ message: { content: string } }>;
          usage: { prompt_tokens: number; completion_tokens: number };
        };
        expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
        expect([body.usage.prompt_tokens, body.usage.completion_tokens]).toEqual([call.prompt, call.completion]);
      }
      await harness.flush();
      const after = await harness.gateway.ledger.getAccount(account.id);
      expect(after.balance.toString()).toBe(Decimal.parse(credits).sub(expectedDebit[mode]).toString());
      await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
    },
  );
});
