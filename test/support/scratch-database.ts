import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';

export interface ScratchDatabase extends Database {
  /** The URL of the scratch database (to open a second instance on it). */
  url: string;
}

/**
 * A fresh, migrated PostgreSQL database of its own on the server `adminUrl` points at, named `<prefix>_<12 hex
 * digits>`; `close()` closes it and drops it (with force: a connection left open does not keep it). For the
 * suites (test/support/backends.ts) and the benchmarks, so many can run at once on one server.
 */
export async function openScratchPostgres(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix)) throw new Error(`scratch database prefix ${JSON.stringify(prefix)}: use [a-z0-9_]`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // A database name cannot be a bound parameter; `name` is a checked prefix and hex digits only.
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
