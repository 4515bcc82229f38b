import { afterAll, describe, expect, it } from 'vitest';
import { registerLedgerCommands } from '../src/cli/ledger-command.js';
import { openDatabase } from '../src/db/database.js';
import { authenticateKey } from '../src/ledger/api-keys.js';
import { cliHarness } from './support/cli-harness.js';

/**
 * The ledger commands run in-process against an embedded data directory, as `tollgate` runs them: the
 * database is opened, migrated and closed by each command.
 */
describe('tollgate accounts, keys and ledger commands', () => {
  const cli = cliHarness({ prefix: 'tollgate-ledger-cli-', register: registerLedgerCommands, command: [] });
  const { dataDirectory, run } = cli;
  afterAll(() => cli.remove());

  let accountId = '';

  it('creates an account and prints its id and key once', async () => {
    const created = await run(
      'accounts',
      'create',
      '--name',
      'acme',
      '--mode',
      'consumption_tokens',
      '--credits',
      '5000',
      '--json',
    );
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body.account).toMatchObject({ name: 'acme', unit: 'tokens', balance: '5000' });
    expect(body.api_key.key).toMatch(/^tg_/);
    accountId = body.account.id;
    const human = await run('accounts', 'create', '--name', 'jobs', '--mode', 'job_based', '--job-price', '0.02');
    expect(human.stdout).toMatch(/^account acct_\w+ \(jobs, job_based\) created with 0 usd\nAPI key: tg_\w{32}\n/);
  });

  it('refuses bad amounts and modes with exit 2 and a message naming the flag', async () => {
    const negative = await run('accounts', 'grant', 'acme', '--credits', '-5');
    expect(negative).toMatchObject({ code: 2, stderr: 'error: --credits must not be negative, got -5\n' });
    const text = await run('accounts', 'grant', 'acme', '--credits', 'ten');
    expect(text.code).toBe(2);
    expect(text.stderr).toContain('--credits must be a decimal number');
    const mode = await run('accounts', 'create', '--name', 'x', '--mode', 'usd');
    expect(mode.code).toBe(2);
    const fractionalTokens = await run('accounts', 'grant', 'acme', '--credits', '1.5');
    expect(fractionalTokens.code).toBe(1);
    expect(fractionalTokens.stderr).toContain('token amounts are whole numbers');
  });

  it('grants, shows and lists by name or id', async () => {
    expect((await run('accounts', 'grant', 'acme', '--credits', '250', '--note', 'top-up')).stdout).toBe(
      'grant 250 tokens on acme; balance 5250, available 5250\n',
    );
    const shown = JSON.parse((await run('accounts', 'show', accountId, '--json')).stdout);
    expect(shown.open_holds).toEqual({ count: 0, total: '0' });
    expect(shown.entries.map((entry: { kind: string; amount: string }) => [entry.kind, entry.amount])).toEqual([
      ['grant', '250'],
      ['grant', '5000'],
    ]);
    const listed = JSON.parse((await run('accounts', 'list', '--json')).stdout);
    expect(listed.map((account: { name: string }) => account.name)).toEqual(['acme', 'jobs']);
  });

  it('creates and revokes keys by prefix', async () => {
    const created = JSON.parse((await run('keys', 'create', 'acme', '--admin', '--json')).stdout);
    expect(created.scope).toBe('admin');
    expect((await run('keys', 'revoke', created.prefix)).code).toBe(0);
    const again = await run('keys', 'revoke', created.prefix);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error: no live key');
    const database = await openDatabase({ kind: 'pglite', dataDirectory });
    try {
      expect(await authenticateKey(database.db, created.key)).toBeUndefined();
    } finally {
      await database.close();
    }
  });

  it('ledger verify passes, then exits 1 naming an account whose balance was tampered with', async () => {
    expect(await run('ledger', 'verify')).toMatchObject({ code: 0, stdout: 'ledger verified: 2 accounts match their entries\n' });
    const database = await openDatabase({ kind: 'pglite', dataDirectory });
    try {
      await database.db.updateTable('accounts').set({ balance: '9999' }).where('name', '=', 'acme').execute();
    } finally {
      await database.close();
    }
    const failed = await run('ledger', 'verify');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('1 of 2 accounts differ');
    expect(failed.stdout).toMatch(/acme\s+acct_\w+\s+9999 \(expected 5250\)/);
  });
});
