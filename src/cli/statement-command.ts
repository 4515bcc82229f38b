import { Decimal } from '../money/decimal.js';
import type { Command } from 'commander';
import { formatTable, printJson, usageError, withContext } from './context.js';

/**
 * `tollgate accounts statement <account> --month YYYY-MM [--csv | --json]`: the same statement as
 * GET /admin/accounts/<account>/statement (src/reports/account-statement.ts), from the ledger.
 */
export function registerStatementCommand(accounts: Command): void {
  accounts
    .command('statement <account>')
    .description("a month's statement: opening balance, grants, refunds, adjustments, charges by model, closing balance")
    .option('--month <month>', 'YYYY-MM, UTC (default: this month)')
    .option('--csv', 'print CSV (one line per movement)')
    .option('--json', 'print the result as JSON')
    .action(async (account: string, options: { month?: string; csv?: boolean; json?: boolean }, command: Command) => {
      if (options.csv && options.json) return usageError('choose one of --csv and --json');
      if (options.month !== undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(options.month)) {
        return usageError(`--month is written YYYY-MM, e.g. 2026-11; got ${JSON.stringify(options.month)}`);
      }
      await withContext(command, async ({ database }) => {
        const { accountStatement, statementCsv, statementJson } = await import('../reports/account-statement.js');
        const month = options.month ?? new Date().toISOString().slice(0, 7);
        const statement = await accountStatement(database.db, account, month);
        if (options.csv) return void process.stdout.write(statementCsv(statement));
        const json = statementJson(statement);
        if (options.json) return printJson(json);
        const unit = json.unit;
        const lines = [
          `statement of ${json.account.name} (${json.account.id}) for ${json.month}, in ${unit}`,
          '',
          formatTable([
            ['opening balance', json.opening_balance],
            ['grants', json.grants],
            ['refunds', json.refunds],
            ['adjustments', json.adjustments],
            // Charges reduce the balance (shown negative), and no charges are 0, not -0.
            ['charges', Decimal.parse(json.charges.total).isZero() ? '0' : `-${json.charges.total}`],
            ['closing balance', json.closing_balance],
          ]),
        ];
        if (json.entries.length > 0) {
          lines.push('', 'credits and corrections:');
          lines.push(
            formatTable([
              ['time', 'kind', 'amount', 'entry', 'note'],
              ...json.entries.map((entry) => [entry.created_at, entry.kind, entry.amount, String(entry.id), entry.note ?? '']),
            ]),
          );
        }
        if (json.charges.by_model.length > 0) {
          lines.push('', `charges by model (${json.charges.calls} calls):`);
          lines.push(
            formatTable([
              ['model', 'calls', 'amount'],
              ...json.charges.by_model.map((row) => [row.model, String(row.calls), row.amount]),
            ]),
          );
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
}
