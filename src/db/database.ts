import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { acquireDataDirectoryLock, type DataDirectoryLock } from './data-directory-lock.js';
import * as initial from './migrations/001-initial.js';
import * as creditLeases from './migrations/002-credit-leases.js';
import { openPGlite, PGliteDialect } from './pglite-dialect.js';
import type { Schema } from './schema.js';

export type Db = Kysely<Schema>;

export type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDirectory: string | undefined }; // undefined: in memory (tests)

/**
 * An open database: the Kysely handle, plus the two PostgreSQL features the service uses beyond queries,
 * notifications (every instance reloads prices when one changes them) and a session-wide advisory lock
 * (one instance runs the scheduled sync).
 */
export interface Database {
  readonly kind: DatabaseTarget['kind'];
  readonly db: Db;
  /** Subscribes to a notification channel; returns the unsubscribe function. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** Runs `work` only if this process gets the advisory lock `key`; returns undefined when another holds it. */
  withAdvisoryLock<T>(key: number, work: () => Promise<T>): Promise<T | undefined>;
  close(): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '001-initial': initial,
  '002-credit-leases': creditLeases,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/** Applies every pending migration; returns the names applied. @throws the migration's error, after rollback. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

/**
 * Opens the database the target names.
 * @throws DataDirectoryLockedError when another process holds the PGlite data directory.
 */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  return target.kind === 'postgres' ? openPostgres(target.url) : openEmbedded(target.dataDirectory);
}

function openPostgres(url: string): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: 20,
    // Same value parsing as PGlite (see pglite-dialect.ts): NUMERIC stays exact text, INT8 becomes a number.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === pg.types.builtins.INT8) return (text: string) => Number(text);
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', () => {
    // An idle client's connection dropped; the pool replaces it. Queries report their own errors.
  });
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  const listeners: pg.Client[] = [];
  return {
    kind: 'postgres',
    db,
    async listen(channel, onMessage) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined);
      await client.connect();
      client.on('notification', (message) => {
        if (message.channel === channel) onMessage(message.payload ?? '');
      });
      await client.query(`listen ${quoteIdentifier(channel)}`);
      listeners.push(client);
      return async () => {
        listeners.splice(listeners.indexOf(client), 1);
        await client.end().catch(() => undefined);
      };
    },
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
    },
    async withAdvisoryLock(key, work) {
      const client = await pool.connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [key]);
        if (!rows[0]?.locked) return undefined;
        try {
          return await work();
        } finally {
          await client.query('select pg_advisory_unlock($1)', [key]);
        }
      } finally {
        client.release();
      }
    },
    async close() {
      await Promise.all(listeners.splice(0).map((client) => client.end().catch(() => undefined)));
      await db.destroy();
    },
  };
}

async function openEmbedded(dataDirectory: string | undefined): Promise<Database> {
  let lock: DataDirectoryLock | undefined;
  if (dataDirectory) {
    mkdirSync(dataDirectory, { recursive: true });
    lock = acquireDataDirectoryLock(dataDirectory);
  }
  let pglite: PGlite;
  try {
    pglite = await openPGlite(dataDirectory ? path.join(dataDirectory, 'pgdata') : undefined);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite) });
  const unsubscribers: Array<() => Promise<void>> = [];
  let lockHeld = false;
  return {
    kind: 'pglite',
    db,
    async listen(channel, onMessage) {
      const unsubscribe = await pglite.listen(channel, onMessage);
      unsubscribers.push(unsubscribe);
      return unsubscribe;
    },
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
    },
    // One process owns a PGlite directory (the data-directory lock), so the lock only keeps this
    // process from running the same job twice at once.
    async withAdvisoryLock(_key, work) {
      if (lockHeld) return undefined;
      lockHeld = true;
      try {
        return await work();
      } finally {
        lockHeld = false;
      }
    },
    async close() {
      for (const unsubscribe of unsubscribers.splice(0)) await unsubscribe().catch(() => undefined);
      await db.destroy();
      await pglite.close();
      lock?.release();
    },
  };
}

function quoteIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid channel name ${JSON.stringify(name)}`);
  return `"${name}"`;
}
