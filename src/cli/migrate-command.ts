import type { Command } from 'commander';
import { printJson, withContext } from './context.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (serve also does this at startup)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(
        command,
        async ({ database, config }) => {
          const { migrate } = await import('../db/database.js');
          const applied = await migrate(database.db);
          const target = config.database.kind === 'postgres' ? 'PostgreSQL' : `PGlite in ${config.database.dataDirectory}`;
          if (options.json) printJson({ database: config.database.kind, applied, status: 'up-to-date' });
          else
            process.stdout.write(
              `migrations applied on ${target}; schema is up to date${applied.length ? ` (${applied.join(', ')})` : ''}\n`,
            );
        },
        { migrate: false },
      );
    });
}
