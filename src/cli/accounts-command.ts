import type { Command } from 'commander';
import type { Db } from '../db/database.js';
import type { BudgetMode } from '../db/schema.js';
import { BUDGET_MODES } from '../ledger/accounts.js';
import { accountJson, entryJson } from '../ledger/ledger-json.js';
import { Decimal } from '../money/decimal.js';
import { formatTable, printJson, usageError, withContext } from './context.js';
import { registerStatementCommand } from './statement-command.js';

/** The ledger, loaded when a command runs (it brings the query builder and the settlement code). */
async function openLedger(db: Db) {
  const { Ledger } = await import('../ledger/ledger.js');
  return new Ledger(db);
}

/**
 * `tollgate accounts create|grant|adjust|refund|show|list`: the same ledger calls as the admin routes.
 * Amounts are parsed exactly; a bad amount or mode exits 2 before the database is opened.
 */
export function registerAccountsCommand(program: Command): void {
  const accounts = program.command('accounts').description('manage accounts and their credits');

  accounts
    .command('create')
    .description('create an account with its first API key (printed once) and initial credits')
    .requiredOption('--name <name>', 'unique account name')
    .requiredOption('--mode <mode>', `budget mode: ${BUDGET_MODES.join(', ')}`)
    .option('--credits <amount>', 'initial credits in the account unit (USD, or tokens for consumption_tokens)')
    .option('--job-price <usd>', 'USD debited per successful call (job_based)')
    .option('--markup-percent <percent>', 'markup override for this account, in percent')
    .option('--overdraft-limit <amount>', 'how far below zero a capture may go (default 0)')
    .option('--parent <account>', "a team's parent (id or name): the account draws on its wallet, within its own caps")
    .option('--low-balance-alert <amount>', 'raise an alert when available credits fall below this')
    .option('--json', 'print the result as JSON')
    .action(async (options: CreateOptions, command: Command) => {
      if (!BUDGET_MODES.includes(options.mode as BudgetMode)) {
        return usageError(`--mode must be one of ${BUDGET_MODES.join(', ')}, got ${JSON.stringify(options.mode)}`);
      }
      const credits = parseAmountOption('--credits', options.credits);
      const jobPrice = parseAmountOption('--job-price', options.jobPrice);
      const markupPercent = parseAmountOption('--markup-percent', options.markupPercent, { signed: true });
      const overdraftLimit = parseAmountOption('--overdraft-limit', options.overdraftLimit);
      const lowBalanceAlert = parseAmountOption('--low-balance-alert', options.lowBalanceAlert);
      if ([credits, jobPrice, markupPercent, overdraftLimit, lowBalanceAlert].includes(null)) return;
      await withContext(command, async ({ database }) => {
        const { account, apiKey } = await (
          await openLedger(database.db)
        ).createAccount({
          name: options.name,
          mode: options.mode as BudgetMode,
          ...(credits ? { credits } : {}),
          ...(jobPrice ? { jobPrice } : {}),
          ...(markupPercent ? { markupPercent } : {}),
          ...(overdraftLimit ? { overdraftLimit } : {}),
          ...(lowBalanceAlert ? { lowBalanceAlert } : {}),
          ...(options.parent !== undefined ? { parent: options.parent } : {}),
        });
        if (options.json) return printJson({ account: accountJson(account), api_key: apiKey });
        process.stdout.write(
          (account.parentId
            ? `account ${account.id} (${account.name}, ${account.mode}) created in the team of ${options.parent}: it draws on its parent's wallet\n`
            : `account ${account.id} (${account.name}, ${account.mode}) created with ${account.balance.toString()} ${account.unit}\n`) +
            `API key: ${apiKey.key}\n` +
            'This key is shown once and never stored: keep it now.\n',
        );
      });
    });

  for (const [name, kind, description] of [
    ['grant', 'grant', 'add credits to an account'],
    ['adjust', 'adjust', 'apply a signed correction (refused if it would overdraw)'],
    ['refund', 'refund', 'give credits back to an account'],
  ] as const) {
    accounts
      .command(`${name} <account>`)
      .description(description)
      .requiredOption('--credits <amount>', `amount in the account unit${kind === 'adjust' ? ' (may be negative)' : ''}`)
      .option('--note <text>', 'why, kept on the ledger entry')
      .option('--idempotency-key <key>', 'a repeated key replays instead of applying twice')
      .option('--json', 'print the result as JSON')
      .action(async (account: string, options: OperationOptions, command: Command) => {
        const amount = parseAmountOption('--credits', options.credits, { signed: kind === 'adjust' });
        if (!amount) return;
        await withContext(command, async ({ database }) => {
          const result = await (
            await openLedger(database.db)
          )[kind](account, amount, {
            ...(options.note !== undefined ? { note: options.note } : {}),
            ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
          });
          if (options.json) {
            return printJson({ account: accountJson(result.account), entry: entryJson(result.entry), replayed: result.replayed });
          }
          const { balance, available, unit, name: accountName } = result.account;
          process.stdout.write(
            `${result.replayed ? 'already applied (idempotency key replayed): ' : ''}${kind} ${amount.toString()} ${unit} on ${accountName}; ` +
              `balance ${balance.toString()}, available ${available.toString()}\n`,
          );
        });
      });
  }

  accounts
    .command('show <account>')
    .description('balance, available credits, open holds and recent ledger entries')
    .option('--limit <count>', 'how many recent entries', '20')
    .option('--json', 'print the result as JSON')
    .action(async (account: string, options: { limit: string; json?: boolean }, command: Command) => {
      const limit = Number(options.limit);
      if (!Number.isSafeInteger(limit) || limit < 1)
        return usageError(`--limit must be a positive whole number, got ${options.limit}`);
      await withContext(command, async ({ database }) => {
        const ledger = await openLedger(database.db);
        const found = await ledger.getAccount(account);
        const holds = await ledger.openHolds(found.id);
        const entries = await ledger.entries(found.id, { limit });
        if (options.json) {
          return printJson({
            account: accountJson(found),
            open_holds: { count: holds.count, total: holds.total.toString() },
            entries: entries.map(entryJson),
          });
        }
        const details = accountJson(found);
        process.stdout.write(
          `${formatTable(Object.entries(details).map(([key, value]) => [key, String(value ?? '-')]))}\n` +
            `open_holds        ${holds.count} (${holds.total.toString()} ${found.unit})\n\nrecent entries:\n`,
        );
        const rows = entries.map((entry) => [
          entry.createdAt.toISOString(),
          entry.kind,
          entry.amount.toString(),
          entry.requestId,
          entry.leaseId ?? '',
          entry.note ?? '',
        ]);
        process.stdout.write(`${formatTable([['time', 'kind', 'amount', 'request', 'lease', 'note'], ...rows])}\n`);
      });
    });

  accounts
    .command('list')
    .description('every account with its balance')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const list = await (await openLedger(database.db)).listAccounts();
        if (options.json) return printJson(list.map(accountJson));
        const rows = list.map((account) => [
          account.id,
          account.name,
          account.mode,
          account.status,
          `${account.balance.toString()} ${account.unit}`,
          `${account.available.toString()} ${account.unit}`,
        ]);
        process.stdout.write(`${formatTable([['id', 'name', 'mode', 'status', 'balance', 'available'], ...rows])}\n`);
      });
    });

  registerStatementCommand(accounts);
}

interface CreateOptions {
  name: string;
  mode: string;
  credits?: string;
  jobPrice?: string;
  markupPercent?: string;
  overdraftLimit?: string;
  parent?: string;
  lowBalanceAlert?: string;
  json?: boolean;
}

interface OperationOptions {
  credits: string;
  note?: string;
  idempotencyKey?: string;
  json?: boolean;
}

/**
 * An amount flag parsed exactly; undefined when absent. On a non-numeric or (unless signed) negative value it
 * prints why, sets exit code 2 and returns null.
 */
export function parseAmountOption(
  flag: string,
  text: string | undefined,
  options: { signed?: boolean } = {},
): Decimal | undefined | null {
  if (text === undefined) return undefined;
  let amount: Decimal;
  try {
    amount = Decimal.parse(text);
  } catch {
    usageError(`${flag} must be a decimal number such as 10.50, got ${JSON.stringify(text)}`);
    return null;
  }
  if (!options.signed && amount.isNegative()) {
    usageError(`${flag} must not be negative, got ${text}`);
    return null;
  }
  return amount;
}
