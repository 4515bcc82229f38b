import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';

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
  const database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
  await migrate(database.db);
  return database;
}

async function openTestPostgres(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL!;
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // A database name cannot be a bound parameter; `name` is generated above from hex digits only.
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: url.toString() });
  await migrate(database.db);
  return {
    ...database,
    url: url.toString(),
    async close() {
      await database.close();
      const dropper = new pg.Client({ connectionString: adminUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
