import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliHarness } from '../../test/support/cli-harness.js';
import { registerCostCommand } from './cost-command.js';

/** `tollgate cost ...` on a data directory of its own. */
const cli = cliHarness({ prefix: 'tollgate-cost-', register: registerCostCommand, command: ['cost'] });
const run = cli.run;

beforeAll(() =>
  cli.prepare(async (database) => {
    await database.db.insertInto('providers').values({ id: 'openai', name: 'OpenAI' }).execute();
    await database.db
      .insertInto('models')
      .values({
        id: 'gpt-4o',
        provider_id: 'openai',
        upstream_model: 'gpt-4o',
        active: true,
        modality: 'text',
        context_window: null,
        max_output_tokens: null,
      })
      .execute();
    await database.db
      .insertInto('model_prices')
      .values({
        model_id: 'gpt-4o',
        effective_from: '2025-01-01T00:00:00Z',
        input: '0.0000025',
        output: '0.00001',
        cache_read: '0.00000125',
        tiers: '[]',
        source: 'test',
      })
      .execute();
    await database.db
      .insertInto('markup_rules')
      .values({ scope: 'provider', target: 'openai', percent: '10', fixed_fee: null })
      .execute();
    await database.db
      .insertInto('accounts')
      .values([
        {
          id: 'acct_1',
          name: 'acme',
          budget_mode: 'consumption_usd',
          balance: '10',
          available: '10',
          job_price: null,
          markup_percent: '20',
          markup_fixed_fee: '0.001',
          status: 'active',
          overdraft_limit: '0',
        },
        {
          id: 'acct_2',
          name: 'tokens-co',
          budget_mode: 'consumption_tokens',
          balance: '1000000',
          available: '1000000',
          job_price: null,
          markup_percent: null,
          markup_fixed_fee: null,
          status: 'active',
          overdraft_limit: '0',
        },
      ])
      .execute();
    // A team account of acme's, with no credits, markup or job price of its own (created as --parent acme).
    await database.db
      .insertInto('accounts')
      .values({
        id: 'acct_3',
        name: 'acme-research',
        budget_mode: 'consumption_usd',
        balance: '0',
        available: '0',
        job_price: null,
        markup_percent: null,
        markup_fixed_fee: null,
        status: 'active',
        overdraft_limit: '0',
        parent_id: 'acct_1',
      })
      .execute();
  }),
);

afterAll(() => cli.remove());

describe('tollgate cost', () => {
  it('prints the resolution and the breakdown, with the provider markup', async () => {
    const { stdout, code } = await run(
      'gpt-4o-2024-11-20',
      '--input',
      '1000',
      '--output',
      '500',
      '--cached',
      '200',
      '--reasoning',
      '100',
    );
    expect(code).toBe(0);
    expect(stdout).toContain('gpt-4o-2024-11-20 -> gpt-4o (match snapshot, source database, price version 1)');
    expect(stdout).toMatch(/reasoning\s+100\s+0\.00001\s+0\.001\s+no own rate: priced at output/);
    expect(stdout).toContain('provider cost  0.00725');
    expect(stdout).toContain('markup         0.000725 (10% + 0 per call, provider:openai)');
    expect(stdout).toContain('charge         0.007975 USD');
  });

  it("applies the account's own markup and budget mode, as JSON with exact strings", async () => {
    const { stdout, code } = await run(
      'gpt-4o',
      '--input',
      '1000',
      '--output',
      '500',
      '--cached',
      '200',
      '--account',
      'acme',
      '--json',
    );
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.resolution).toEqual({
      modelId: 'gpt-4o',
      providerId: 'openai',
      source: 'database',
      match: 'exact',
      rule: null,
      priceVersion: 1,
      priceSource: 'test',
    });
    expect(result.breakdown.providerCost).toBe('0.00725');
    expect(result.breakdown.markup).toEqual({ percent: '20', fixedFee: '0.001', amount: '0.00245', rule: 'account:acct_1' });
    expect(result.debit).toEqual({ amount: '0.0097', unit: 'usd', account: { id: 'acct_1', name: 'acme' } });
    const tokens = JSON.parse(
      (await run('gpt-4o', '--input', '1000', '--output', '500', '--account', 'acct_2', '--json')).stdout,
    );
    expect(tokens.debit).toEqual({ amount: '1500', unit: 'tokens', account: { id: 'acct_2', name: 'tokens-co' } });
  });

  it("prices a team account's call as the gateway bills it: its wallet's markup, debited from the wallet", async () => {
    const args = ['gpt-4o', '--input', '1000', '--output', '500', '--cached', '200', '--account', 'acme-research'];
    const result = JSON.parse((await run(...args, '--json')).stdout);
    // Not the provider rule's 10%: acme's own 20% + 0.001, as on acme's own key.
    expect(result.breakdown.markup).toEqual({ percent: '20', fixedFee: '0.001', amount: '0.00245', rule: 'account:acct_3' });
    expect(result.breakdown.charge).toBe('0.0097');
    expect(result.account).toEqual({
      id: 'acct_3',
      name: 'acme-research',
      budgetMode: 'consumption_usd',
      wallet: { id: 'acct_1', name: 'acme' },
      markupFrom: { id: 'acct_1', name: 'acme' },
    });
    expect(result.debit).toEqual({ amount: '0.0097', unit: 'usd', account: { id: 'acct_1', name: 'acme' } });
    const { stdout, code } = await run(...args);
    expect(code).toBe(0);
    expect(stdout).toContain("markup         0.00245 (20% + 0.001 per call, account:acct_3, acme's (its wallet))");
    expect(stdout).toContain('debit          0.0097 usd from acme (consumption_usd, the wallet of team account acme-research)');
    expect(stdout).not.toContain('from acme-research');
  });

  it.each([
    [['--input', '-5', '--output', '1'], '--input must be a whole number of tokens'],
    [['--input', '1.5', '--output', '1'], '--input must be a whole number of tokens'],
    [['--input', '10', '--output', 'x'], '--output must be a whole number of tokens'],
    [['--input', '10', '--output', '1', '--cached', '11'], '--cached (11) plus --cache-write (0) exceed --input (10)'],
    [['--input', '10', '--output', '1', '--reasoning', '2'], '--reasoning (2) exceeds --output (1)'],
    [['--output', '1'], '--input and --output are required'],
  ])('refuses %j with exit 2', async (args, message) => {
    const { stderr, code } = await run('gpt-4o', ...args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('answers an unknown account with exit 1 (not found), as `accounts grant nobody` does', async () => {
    const { stderr, code } = await run('gpt-4o', '--input', '1', '--output', '1', '--account', 'nobody');
    expect(code).toBe(1);
    expect(stderr).toContain('no account with id or name "nobody"');
  });
});
