import type { Command } from 'commander';
import { ConfigError, loadConfig, type Config, type ConfigOverrides } from '../config/config.js';
import { DataDirectoryLockedError } from '../db/data-directory-lock.js';
import { migrate, openDatabase, type Database } from '../db/database.js';
import { createLogger, type Logger } from '../logging/logger.js';

/** Exit codes every command uses: 0 success, 1 the command ran and found a problem, 2 bad usage or setup. */
export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

export interface CommandContext {
  config: Config;
  database: Database;
  logger: Logger;
}

/** Global options every command accepts (set on the root program). */
export interface GlobalOptions {
  databaseUrl?: string;
  dataDir?: string;
}

/** The root program's global options, from any subcommand. */
export function globalOptions(command: Command): GlobalOptions {
  let root: Command = command;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

export function configFromCommand(command: Command, extra: ConfigOverrides = {}): Config {
  const options = globalOptions(command);
  return loadConfig(process.env, {
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.dataDir ? { dataDirectory: options.dataDir } : {}),
    ...extra,
  });
}

/**
 * Runs a command body with configuration loaded, the database open and migrated, and everything closed
 * afterwards. Setup failures (bad configuration, a data directory in use by `serve`) print one clear line
 * and exit 2.
 */
export async function withContext(
  command: Command,
  body: (context: CommandContext) => Promise<number | void>,
  options: { migrate?: boolean } = {},
): Promise<void> {
  let config: Config;
  try {
    config = configFromCommand(command);
  } catch (error) {
    return fail(error);
  }
  const logger = createLogger(process.env.TOLLGATE_LOG_LEVEL ?? 'warn');
  let database: Database;
  try {
    database = await openDatabase(
      config.database.kind === 'postgres' ? config.database : { kind: 'pglite', dataDirectory: config.database.dataDirectory },
    );
    if (options.migrate !== false) await migrate(database.db);
  } catch (error) {
    return fail(error);
  }
  try {
    const code = await body({ config, database, logger });
    process.exitCode = code ?? EXIT_OK;
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT_PROBLEM;
  } finally {
    await database.close();
  }
}

function fail(error: unknown): void {
  if (error instanceof ConfigError || error instanceof DataDirectoryLockedError) {
    process.stderr.write(`error: ${error.message}\n`);
  } else {
    process.stderr.write(`error: could not open the database: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = EXIT_USAGE;
}

/** Writes a value as pretty JSON on stdout (Decimals serialise as exact strings). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns for human output. */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  '))
    .join('\n');
}
