import { Command, CommanderError } from 'commander';
import { registerCatalogCommands } from './catalog-command.js';
import { EXIT_OK, EXIT_USAGE } from './context.js';
import { registerCostCommand } from './cost-command.js';
import { registerLedgerCommands } from './ledger-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerSyncCommand } from './sync-command.js';
import { registerUsageCommand } from './usage-command.js';

/**
 * The `tollgate` command line. Each command lives in its own file and registers itself here; commands
 * call the same services as the HTTP routes, never the HTTP API itself. Registering loads no service: each
 * command imports what it needs when it runs (see context.ts), so `tollgate --help` costs little more than
 * starting Node.
 */
export function buildProgram(): Command {
  const program = new Command('tollgate')
    .description('An OpenAI-compatible LLM gateway with an exact price catalog and a credit ledger')
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL; embedded PGlite when unset)')
    .option('--data-dir <dir>', 'embedded PGlite data directory (default: $TOLLGATE_DATA_DIR or ./.tollgate)')
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 refused or not found (the command ran and the answer is no); 2 usage error (fix the command line).',
    )
    // Commander's own errors (unknown command or option, missing argument) become usage errors, exit 2;
    // set before the commands are added, so each inherits it.
    .exitOverride()
    .showHelpAfterError("(add --help for the command's usage)")
    .configureHelp({ sortSubcommands: true });
  registerMigrateCommand(program);
  registerCatalogCommands(program);
  registerSyncCommand(program);
  registerServeCommand(program);
  registerCostCommand(program);
  registerLedgerCommands(program);
  registerUsageCommand(program);
  return program;
}

/** Runs `tollgate` with `argv` (as process.argv: node, script, then the arguments); returns the exit code. */
export async function runCli(argv: string[], program: Command = buildProgram()): Promise<number> {
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help and --version end with code 0; every other complaint of commander's is about the command line.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  return Number(process.exitCode ?? EXIT_OK);
}
