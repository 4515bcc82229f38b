import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey, updateApiKey, type KeyChanges } from '../ledger/api-keys.js';
import { keyJson } from '../ledger/ledger-json.js';
import { EXIT_PROBLEM, formatTable, printJson, usageError, withContext } from './context.js';
import { announce } from './limits-command.js';

/** `tollgate keys create|revoke|list`: keys are printed once at creation; only their prefixes are kept. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  keys
    .command('create <account>')
    .description('create an API key for an account (id or name); the key is printed once')
    .option('--admin', 'an admin key (admin routes) instead of a user key (calls)')
    .option('--name <name>', 'a label for listings')
    .option('--models <list>', 'the models the key may call: names or * patterns, comma separated (default: every model)')
    .option('--expires <time>', 'when the key stops working: an ISO time (2026-12-31T23:59:59Z) or a date')
    .option('--json', 'print the result as JSON')
    .action(async (account: string, options: KeyOptions & { admin?: boolean }, command: Command) => {
      const controls = parseKeyControls(options);
      if (!controls) return;
      await withContext(command, async ({ database }) => {
        const { Ledger } = await import('../ledger/ledger.js');
        const found = await new Ledger(database.db).getAccount(account);
        const created = await createApiKey(database.db, {
          accountId: found.id,
          scope: options.admin ? 'admin' : 'user',
          ...(controls.name ? { name: controls.name } : {}),
          ...(controls.allowedModels !== undefined ? { allowedModels: controls.allowedModels } : {}),
          ...(controls.expiresAt !== undefined ? { expiresAt: controls.expiresAt } : {}),
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
    .description('revoke the key with this prefix (every running gateway refuses it from its next call)')
    .option('--json', 'print the result as JSON')
    .action(async (prefix: string, options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const revoked = await revokeApiKey(database.db, prefix);
        // Running gateways cache authenticated keys: the notification makes each forget them at once.
        if (revoked) await announce(database);
        if (options.json) printJson({ prefix, revoked });
        else if (revoked) process.stdout.write(`key ${prefix} revoked\n`);
        else process.stderr.write(`error: no live key with prefix ${prefix}\n`);
        return revoked ? undefined : EXIT_PROBLEM;
      });
    });

  keys
    .command('update <prefix>')
    .description('change a key\'s label, allowed models or expiry ("none" clears one)')
    .option('--name <name>', 'a label for listings')
    .option('--models <list>', 'names or * patterns, comma separated; none: every model')
    .option('--expires <time>', 'an ISO time or a date; none: never')
    .option('--json', 'print the result as JSON')
    .action(async (prefix: string, options: KeyOptions, command: Command) => {
      const changes = parseKeyControls(options);
      if (!changes) return;
      if (Object.keys(changes).length === 0) return usageError('name something to change: --name, --models or --expires');
      await withContext(command, async ({ database }) => {
        const updated = await updateApiKey(database.db, prefix, changes);
        if (!updated) {
          process.stderr.write(`error: no live key with prefix ${prefix}\n`);
          return EXIT_PROBLEM;
        }
        await announce(database);
        const [key] = (await listApiKeys(database.db, undefined, { livePrefix: prefix })).map(keyJson);
        if (options.json) return printJson(key);
        process.stdout.write(
          `key ${prefix} updated: name ${key!.name ?? '-'}, models ${key!.allowed_models?.join(',') ?? 'all'}, expires ${key!.expires_at ?? 'never'}\n`,
        );
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
          key.allowed_models?.join(',') ?? 'all',
          key.expires_at ?? 'never',
        ]);
        process.stdout.write(
          `${formatTable([['prefix', 'scope', 'account', 'name', 'status', 'last used', 'models', 'expires'], ...rows])}\n`,
        );
      });
    });
}

interface KeyOptions {
  name?: string;
  models?: string;
  expires?: string;
  json?: boolean;
}

/** The key controls the flags ask for ("none" clears one); null after a usage error. */
function parseKeyControls(options: KeyOptions): KeyChanges | null {
  const changes: KeyChanges = {};
  if (options.name !== undefined) changes.name = options.name === 'none' ? null : options.name;
  if (options.models !== undefined) {
    const models = options.models.split(',').map((model) => model.trim());
    if (options.models !== 'none' && models.some((model) => model === '')) {
      usageError(`--models must be names or patterns separated by commas, got ${JSON.stringify(options.models)}`);
      return null;
    }
    changes.allowedModels = options.models === 'none' ? null : models;
  }
  if (options.expires !== undefined) {
    if (options.expires === 'none') changes.expiresAt = null;
    else {
      const expiresAt = new Date(options.expires);
      if (Number.isNaN(expiresAt.getTime())) {
        usageError(`--expires must be a time such as 2026-12-31T23:59:59Z, got ${JSON.stringify(options.expires)}`);
        return null;
      }
      changes.expiresAt = expiresAt;
    }
  }
  return changes;
}
