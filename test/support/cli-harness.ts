import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { vi } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';

export interface CliRun {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * One `tollgate` command run in process against a PGlite data directory of its own (a fresh temporary
 * directory): what a user gets from `tollgate --data-dir <dir> <command> ...`, with stdout, stderr and the
 * exit code captured. The command opens and closes the database itself on every run, as the CLI does.
 */
export interface CliHarness {
  readonly dataDirectory: string;
  /** Migrates the directory's database, lets `fill` write into it, and closes it again. */
  prepare(fill?: (database: Database) => Promise<void>): Promise<void>;
  /** Runs the command with `args` after its own words (`cost`, `catalog sync`; none for a group of commands). */
  run(...args: string[]): Promise<CliRun>;
  /** Deletes the data directory. */
  remove(): void;
}

export function cliHarness(options: {
  /** The temporary directory's name prefix, e.g. `tollgate-cost-`. */
  prefix: string;
  /** Adds the command to the program, e.g. `registerCostCommand`. */
  register: (program: Command) => void;
  /** The words that name the command, e.g. `['catalog', 'sync']`. */
  command: string[];
}): CliHarness {
  const dataDirectory = mkdtempSync(path.join(tmpdir(), options.prefix));
  return {
    dataDirectory,
    async prepare(fill) {
      const database = await openDatabase({ kind: 'pglite', dataDirectory });
      try {
        await migrate(database.db);
        await fill?.(database);
      } finally {
        await database.close();
      }
    },
    async run(...args) {
      // The global options of src/cli/main.ts, so a command reads them as it does there.
      const program = new Command('tollgate').option('--database-url <url>').option('--data-dir <dir>').exitOverride();
      options.register(program);
      let stdout = '';
      let stderr = '';
      let code = 0;
      const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
      const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
      process.exitCode = undefined;
      try {
        await program.parseAsync(['--data-dir', dataDirectory, ...options.command, ...args], { from: 'user' });
      } finally {
        out.mockRestore();
        err.mockRestore();
        // Reset even when the command threw, so the exit code never leaks into the next run or test.
        code = Number(process.exitCode ?? 0);
        process.exitCode = undefined;
      }
      return { stdout, stderr, code };
    },
    remove() {
      rmSync(dataDirectory, { recursive: true, force: true });
    },
  };
}
