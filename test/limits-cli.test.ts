import { afterAll, describe, expect, it } from 'vitest';
import { registerLedgerCommands } from '../src/cli/ledger-command.js';
import { cliHarness } from './support/cli-harness.js';

/** `tollgate accounts create --parent`, `keys create|update` with controls, and `limits set|show`, in-process on an embedded directory. */
describe('tollgate limits, team accounts and key controls', () => {
  const cli = cliHarness({ prefix: 'tollgate-limits-cli-', register: registerLedgerCommands, command: [] });
  const { run } = cli;
  afterAll(() => cli.remove());

  let keyPrefix = '';

  it('creates a team: a child account on its parent, with no credits of its own', async () => {
    const parent = await run('accounts', 'create', '--name', 'org', '--mode', 'consumption_usd', '--credits', '100', '--json');
    expect(parent.code).toBe(0);
    const child = await run('accounts', 'create', '--name', 'team-a', '--mode', 'consumption_usd', '--parent', 'org', '--json');
    expect(child.code).toBe(0);
    const body = JSON.parse(child.stdout);
    expect(body.account).toMatchObject({ name: 'team-a', parent_id: JSON.parse(parent.stdout).account.id, balance: '0' });
    keyPrefix = body.api_key.prefix;
    const wrongMode = await run('accounts', 'create', '--name', 'team-b', '--mode', 'consumption_tokens', '--parent', 'org');
    expect(wrongMode.code).toBe(1);
    expect(wrongMode.stderr).toContain("has its parent's mode consumption_usd");
    const grant = await run('accounts', 'grant', 'team-a', '--credits', '5');
    expect(grant.code).toBe(1);
    expect(grant.stderr).toContain('draws on the balance of org');
  });

  it('sets and shows a monthly cap in a time zone with rate limits; the next reset is shown', async () => {
    const set = await run(
      'limits',
      'set',
      'team-a',
      '--cap',
      '25.50',
      '--period',
      'month',
      '--timezone',
      'Europe/Berlin',
      '--rpm',
      '60',
      '--json',
    );
    expect(set.code).toBe(0);
    const report = JSON.parse(set.stdout);
    expect(report).toMatchObject({ cap: '25.5', period: 'month', timezone: 'Europe/Berlin', soft: false, rpm: 60, tpm: null });
    expect(report.usage).toMatchObject({ used: '0', remaining: '25.5', unit: 'usd' });
    expect(new Date(report.usage.resets_at).getTime()).toBeGreaterThan(Date.now());
    const shown = await run('limits', 'show', 'team-a');
    expect(shown.stdout).toMatch(/cap\s+25\.5 usd per month/);
    expect(shown.stdout).toMatch(/resets\s+\d{4}-\d\d-\d\dT2[23]:00:00\.000Z/);
    const cleared = JSON.parse((await run('limits', 'set', 'team-a', '--rpm', 'none', '--soft', '--json')).stdout);
    expect(cleared).toMatchObject({ rpm: null, soft: true, cap: '25.5' });
  });

  it('sets limits on a key by its prefix and on an end user as account:end-user', async () => {
    const key = JSON.parse(
      (await run('limits', 'set', keyPrefix, '--cap', '2', '--period', 'day', '--tpm', '1000', '--json')).stdout,
    );
    expect(key.target).toMatchObject({ kind: 'key', key_prefix: keyPrefix });
    const user = JSON.parse(
      (await run('limits', 'set', 'team-a:alice@example.com', '--cap', '1', '--period', 'week', '--json')).stdout,
    );
    expect(user.target).toMatchObject({ kind: 'end_user', end_user: 'alice@example.com' });
  });

  it('refuses bad limits with exit 2 naming the flag, and unknown targets with exit 1', async () => {
    expect(await run('limits', 'set', 'team-a', '--period', 'fortnight')).toMatchObject({ code: 2 });
    expect((await run('limits', 'set', 'team-a', '--rpm', '1.5')).stderr).toContain('--rpm must be a whole number');
    expect((await run('limits', 'set', 'team-a')).code).toBe(2);
    const zone = await run('limits', 'set', 'team-a', '--timezone', 'Mars/Olympus');
    expect(zone.code).toBe(1);
    expect(zone.stderr).toContain('not an IANA time zone');
    const missing = await run('limits', 'show', 'nobody');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no account, key or end user "nobody"');
  });

  it('creates a key limited to some models with an expiry, and updates it', async () => {
    const created = JSON.parse(
      (
        await run(
          'keys',
          'create',
          'team-a',
          '--models',
          'gpt-4o-mini,claude-*',
          '--expires',
          '2030-01-01T00:00:00Z',
          '--name',
          'ci',
          '--json',
        )
      ).stdout,
    );
    const listed = JSON.parse((await run('keys', 'list', 'team-a', '--json')).stdout).find(
      (key: { prefix: string }) => key.prefix === created.prefix,
    );
    expect(listed).toMatchObject({
      name: 'ci',
      allowed_models: ['gpt-4o-mini', 'claude-*'],
      expires_at: '2030-01-01T00:00:00.000Z',
    });
    const updated = JSON.parse(
      (await run('keys', 'update', created.prefix, '--models', 'none', '--expires', 'none', '--json')).stdout,
    );
    expect(updated).toMatchObject({ allowed_models: null, expires_at: null, name: 'ci' });
    expect((await run('keys', 'update', created.prefix, '--expires', 'soon')).code).toBe(2);
    expect((await run('keys', 'update', 'tg_nonexisten', '--name', 'x')).code).toBe(1);
  });
});
