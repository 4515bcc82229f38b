import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../ledger/api-keys.js';
import { keyJson } from '../ledger/ledger-json.js';
import { EXIT_PROBLEM, formatTable, printJson, withContext } from './context.js';

/** `tollgate keys create|revoke|list`: keys are printed once at creation; only their prefixes are kept. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  keys
    .command('create <account>')
    .description('create an API key for an account (id or name); the key is printed once')
    .option('--admin', 'an admin key (admin routes) instead of a user key (calls)')
    .option('--name <name>', 'a label for listings')
    .option('--json', 'print the result as JSON')
    .action(async (account: string, options: { admin?: boolean; name?: string; json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { Ledger } = await import('../ledger/ledger.js');
        const found = await new Ledger(database.db).getAccount(account);
        const created = await createApiKey(database.db, {
          accountId: found.id,
          scope: options.admin ? 'admin' : 'user',
          ...(options.name !== undefined ? { name: options.name } : {}),
        });
        if (options.json) return printJson({ ...created, scope: options.admin ? 'admin' : 'user', account_id: found.id });
        process.stdout.write(
          `${options.admin ? 'admin' : 'user'} key for ${found.name}: ${created.key}\n` +
            `prefix ${created.prefix} (use it to revoke). This key is shown once and never stored: keep it now.\n`,
        );
      });
    });

  keys
    .command('revoke <prefix>')
    .description('revoke the key with this prefix (other instances stop accepting it within 10 seconds)')
    .option('--json', 'print the result as JSON')
    .action(async (prefix: string, options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const revoked = await revokeApiKey(database.db, prefix);
        if (options.json) printJson({ prefix, revoked });
        else if (revoked) process.stdout.write(`key ${prefix} revoked\n`);
        else process.stderr.write(`error: no live key with prefix ${prefix}\n`);
        return revoked ? undefined : EXIT_PROBLEM;
      });
    });

  keys
    .command('list [account]')
    .description('keys (prefix, scope, last use), of one account or all')
    .option('--json', 'print the result as JSON')
    .action(async (account: string | undefined, options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { Ledger } = await import('../ledger/ledger.js');
        const accountId = account === undefined ? undefined : (await new Ledger(database.db).getAccount(account)).id;
        const list = (await listApiKeys(database.db, accountId)).map(keyJson);
        if (options.json) return printJson(list);
        const rows = list.map((key) => [
          key.prefix,
          key.scope,
          key.account_id ?? '-',
          key.name ?? '',
          key.revoked_at ? `revoked ${key.revoked_at}` : 'live',
          key.last_used_at ?? 'never',
        ]);
        process.stdout.write(`${formatTable([['prefix', 'scope', 'account', 'name', 'status', 'last used'], ...rows])}\n`);
      });
    });
}
