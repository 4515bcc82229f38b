import type { Command } from 'commander';
import type { Config, ConfigOverrides } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logging/logger.js';

/**
 * Exit codes, one rule for every command (the README states it):
 *   0  done;
 *   1  refused or not found: the command ran and the answer is no (no such account, model or key, the ledger
 *      refused, a check found a problem, the database could not be reached);
 *   2  usage error: the command line or the configuration is wrong (unknown command or option, a malformed
 *      value, a missing argument); fix the invocation.
 *
 * This module loads nothing heavy: the services a command needs are imported when it runs, so `--help` and
 * the commands that never open the database start in a fraction of the time.
 */
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

export async function configFromCommand(command: Command, extra: ConfigOverrides = {}): Promise<Config> {
  const { loadConfig } = await import('../config/config.js');
  const options = globalOptions(command);
  return loadConfig(process.env, {
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.dataDir ? { dataDirectory: options.dataDir } : {}),
    ...extra,
  });
}

/**
 * Runs a command body with configuration loaded, the database open and migrated, and everything closed
 * afterwards. On the embedded database while `tollgate serve` runs on the same data directory, the command
 * reaches it through the socket the server shares there (src/db/pglite-socket-server.ts).
 *
 * Exits 2 for bad configuration; 1 when the database cannot be opened (another command holds the data
 * directory, PostgreSQL is down) and for the errors the body throws, after the one line that says why: a
 * GatewayError invalid_request (a malformed report parameter) is a usage error and exits 2.
 */
export async function withContext(
  command: Command,
  body: (context: CommandContext) => Promise<number | void>,
  options: { migrate?: boolean } = {},
): Promise<void> {
  let config: Config;
  try {
    config = await configFromCommand(command);
  } catch (error) {
    return fail(error, EXIT_USAGE);
  }
  const { migrate, openDatabase } = await import('../db/database.js');
  const { createTerminalLogger } = await import('./terminal-log.js');
  const logger = createTerminalLogger(process.env.TOLLGATE_LOG_LEVEL ?? 'warn');
  let database: Database;
  try {
    database = await openDatabase(
      config.database.kind === 'postgres' ? config.database : { kind: 'pglite', dataDirectory: config.database.dataDirectory },
      { join: true, logger },
    );
    if (options.migrate !== false) await migrate(database.db);
  } catch (error) {
    return fail(error, EXIT_PROBLEM, 'could not open the database: ');
  }
  try {
    const code = await body({ config, database, logger });
    process.exitCode = code ?? EXIT_OK;
  } catch (error) {
    const { GatewayError } = await import('../gateway/errors.js');
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof GatewayError && error.code === 'invalid_request' ? EXIT_USAGE : EXIT_PROBLEM;
  } finally {
    await database.close();
  }
}

/** Prints why, on one line, and sets the exit code. Known errors (configuration, a locked directory) say it all. */
async function fail(error: unknown, code: number, context = ''): Promise<void> {
  const [{ ConfigError }, { DataDirectoryLockedError }] = await Promise.all([
    import('../config/config.js'),
    import('../db/data-directory-lock.js'),
  ]);
  const known = error instanceof ConfigError || error instanceof DataDirectoryLockedError;
  process.stderr.write(`error: ${known ? '' : context}${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = code;
}

/** Prints a usage problem found before any work (a malformed flag) and sets exit code 2. */
export function usageError(message: string): void {
  process.stderr.write(`error: ${message}\n`);
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

/**
 * An `--at` option: an ISO 8601 time (`2026-01-26T12:00:00Z`); undefined when absent.
 * @throws RangeError naming the option when the text is not such a time.
 */
export function readTime(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const time = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time.getTime())) {
    throw new RangeError(`--at needs an ISO 8601 time such as 2026-01-26T12:00:00Z, got "${text}"`);
  }
  return time;
}
