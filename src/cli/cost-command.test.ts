import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrate, openDatabase } from '../db/database.js';
import { registerCostCommand } from './cost-command.js';

const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-cost-'));

beforeAll(async () => {
  const database = await openDatabase({ kind: 'pglite', dataDirectory });
  await migrate(database.db);
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
  await database.close();
});

afterAll(() => rmSync(dataDirectory, { recursive: true, force: true }));

/** Runs `tollgate cost ...` in process; returns stdout, stderr and the exit code. */
async function run(...args: string[]) {
  const program = new Command('tollgate').option('--data-dir <dir>').exitOverride();
  registerCostCommand(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  try {
    await program.parseAsync(['--data-dir', dataDirectory, 'cost', ...args], { from: 'user' });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = process.exitCode ?? 0;
  process.exitCode = undefined;
  return { stdout, stderr, code };
}

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
      priceVersion: 1,
      priceSource: 'test',
    });
    expect(result.breakdown.providerCost).toBe('0.00725');
    expect(result.breakdown.markup).toEqual({ percent: '20', fixedFee: '0.001', amount: '0.00245', rule: 'account:acct_1' });
    expect(result.debit).toEqual({ amount: '0.0097', unit: 'usd' });
    const tokens = JSON.parse(
      (await run('gpt-4o', '--input', '1000', '--output', '500', '--account', 'acct_2', '--json')).stdout,
    );
    expect(tokens.debit).toEqual({ amount: '1500', unit: 'tokens' });
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

  it('refuses an unknown account with exit 2', async () => {
    const { stderr, code } = await run('gpt-4o', '--input', '1', '--output', '1', '--account', 'nobody');
    expect(code).toBe(2);
    expect(stderr).toContain('no account with id or name "nobody"');
  });
});
