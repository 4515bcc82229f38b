import type { Command } from 'commander';
import { verificationJson } from '../ledger/ledger-json.js';
import { registerAccountsCommand } from './accounts-command.js';
import { EXIT_PROBLEM, formatTable, printJson, withContext } from './context.js';
import { registerKeysCommand } from './keys-command.js';
import { registerLimitsCommand } from './limits-command.js';

/** Registers every ledger command: `accounts ...`, `keys ...`, `limits ...` and `ledger verify`. */
export function registerLedgerCommands(program: Command): void {
  registerAccountsCommand(program);
  registerKeysCommand(program);
  registerLimitsCommand(program);
  registerLedgerCommand(program);
}

/** `tollgate ledger verify`: exit 1 naming every account whose projections differ from its entries. */
function registerLedgerCommand(program: Command): void {
  const ledger = program.command('ledger').description('check the credit ledger');

  ledger
    .command('verify')
    .description('for every account: balance = Σ entries and available = balance − open holds')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { Ledger } = await import('../ledger/ledger.js');
        const result = await new Ledger(database.db).verify();
        const differing = result.accounts.filter((account) => !account.ok);
        if (options.json) printJson({ ok: result.ok, accounts: result.accounts.map(verificationJson) });
        else if (result.ok) process.stdout.write(`ledger verified: ${result.accounts.length} accounts match their entries\n`);
        else {
          const rows = differing.map((account) => [
            account.name,
            account.id,
            `${account.balance.toString()} (expected ${account.expectedBalance.toString()})`,
            `${account.available.toString()} (expected ${account.expectedAvailable.toString()})`,
          ]);
          process.stdout.write(
            `${differing.length} of ${result.accounts.length} accounts differ from their ledger entries:\n` +
              `${formatTable([['name', 'id', 'balance', 'available'], ...rows])}\n`,
          );
        }
        return result.ok ? undefined : EXIT_PROBLEM;
      });
    });
}
