import { Kysely } from 'kysely';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';
import { openPGlite, PGliteDialect } from '../../src/db/pglite-dialect.js';
import { openScratchPostgres } from './scratch-database.js';

/**
 * The storage backends a suite runs on: embedded PGlite always, PostgreSQL when TEST_DATABASE_URL is set
 * (CI sets it). Use with `describe.each(backends())`. Each `open()` gives a fresh, migrated database:
 * an in-memory PGlite, or a new PostgreSQL database created for the suite and dropped by `close()`.
 */
export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<TestDatabase>;
}

export interface TestDatabase extends Database {
  /** For PostgreSQL, the URL of this suite's own database (to open a second instance on it). */
  url?: string;
}

export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'pglite', open: openTestPGlite }];
  if (process.env.TEST_DATABASE_URL) list.push({ name: 'postgres', open: openTestPostgres });
  return list;
}

export function postgresBackend(): Backend | undefined {
  return backends().find((backend) => backend.name === 'postgres');
}

async function openTestPGlite(): Promise<TestDatabase> {
  const database = await openDatabase({ kind: 'pglite', dataDirectory: undefined }, { loadDataDir: await migratedTemplate() });
  // Already migrated: this only checks that there is nothing left to run.
  await migrate(database.db);
  return database;
}

let template: Promise<Blob> | undefined;

/**
 * One migrated, empty PGlite cluster per test process, dumped, that every PGlite a suite opens starts from:
 * loading it takes about half the time of creating a cluster and migrating it, once per database a suite
 * opens (and per mutant under mutation testing).
 */
function migratedTemplate(): Promise<Blob> {
  template ??= (async () => {
    const pglite = await openPGlite(undefined);
    const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) });
    try {
      await migrate(db as never);
      return await pglite.dumpDataDir('none');
    } finally {
      await db.destroy();
      await pglite.close();
    }
  })();
  return template;
}

function openTestPostgres(): Promise<TestDatabase> {
  return openScratchPostgres(process.env.TEST_DATABASE_URL!, 'tollgate_test');
}
