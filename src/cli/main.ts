import { Command } from 'commander';
import { registerCatalogCommands } from './catalog-command.js';
import { registerCostCommand } from './cost-command.js';
import { registerLedgerCommands } from './ledger-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerSyncCommand } from './sync-command.js';

/**
 * The `tollgate` command line. Each command lives in its own file and registers itself here; commands
 * call the same services as the HTTP routes, never the HTTP API itself.
 */
export function buildProgram(): Command {
  const program = new Command('tollgate')
    .description('An OpenAI-compatible LLM gateway with an exact price catalog and a credit ledger')
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL; embedded PGlite when unset)')
    .option('--data-dir <dir>', 'embedded PGlite data directory (default: $TOLLGATE_DATA_DIR or ./.tollgate)')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  registerMigrateCommand(program);
  registerCatalogCommands(program);
  registerSyncCommand(program);
  registerServeCommand(program);
  registerCostCommand(program);
  registerLedgerCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
