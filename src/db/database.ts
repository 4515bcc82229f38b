import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { silentLogger, type Logger } from '../logging/logger.js';
import { acquireDataDirectoryLock, DataDirectoryLockedError, type DataDirectoryLock } from './data-directory-lock.js';
import { DatabaseHealth } from './database-health.js';
import * as initial from './migrations/001-initial.js';
import * as creditLeases from './migrations/002-credit-leases.js';
import * as faultTolerance from './migrations/003-fault-tolerance.js';
import { NotificationListener } from './notification-listener.js';
import * as audioAndImageRates from './migrations/005-audio-and-image-rates.js';
import * as usageReports from './migrations/006-usage-reports.js';
import * as declaredNamesAndWindows from './migrations/007-declared-names-and-windows.js';
import * as limits from './migrations/008-limits.js';
import * as consoleSessions from './migrations/010-console-sessions.js';
import * as usageRollupFunction from './migrations/011-usage-rollup-function.js';
import * as providerUsage from './migrations/012-provider-usage.js';
import type { PGliteSocketServer } from './pglite-socket-server.js';
import type { Schema } from './schema.js';

export type Db = Kysely<Schema>;

export type DatabaseTarget = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDirectory: string | undefined }; // undefined: in memory (tests)

/**
 * An open database: the Kysely handle, plus the two PostgreSQL features the service uses beyond queries,
 * notifications (every instance reloads prices when one changes them) and a session-wide advisory lock
 * (one instance runs the scheduled sync), and what the gateway knows of its reachability.
 */
export interface Database {
  readonly kind: DatabaseTarget['kind'];
  /** For PGlite: how this process reaches it (its own, or the running server's over the data directory's socket). */
  readonly access?: 'own' | 'shared by serve';
  readonly db: Db;
  /**
   * A name for this database that is safe in a file name (`postgres-<host>-<port>-<database>`, `pglite`), so
   * files kept beside it (the capture journal) are never replayed into another database; undefined for an
   * in-memory database, which does not outlive its process.
   */
  readonly identity: string | undefined;
  /** PostgreSQL: the connection string it was opened with (for connections of another thread; never logged). */
  readonly url?: string;
  /** Reachability as seen by the queries made (and, while unreachable, a probe); drives 503s and /readyz. */
  readonly health: DatabaseHealth;
  /**
   * Subscribes to a notification channel; returns the unsubscribe function. `onGap` runs after a lost
   * notification connection is back (what was sent meanwhile was missed).
   */
  listen(channel: string, onMessage: (payload: string) => void, onGap?: () => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** Runs `work` only if this process gets the advisory lock `key`; returns undefined when another holds it. */
  withAdvisoryLock<T>(key: number, work: () => Promise<T>): Promise<T | undefined>;
  close(): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '001-initial': initial,
  '002-credit-leases': creditLeases,
  '003-fault-tolerance': faultTolerance,
  '005-audio-and-image-rates': audioAndImageRates,
  '006-usage-reports': usageReports,
  '007-declared-names-and-windows': declaredNamesAndWindows,
  '008-limits': limits,
  '010-console-sessions': consoleSessions,
  '011-usage-rollup-function': usageRollupFunction,
  '012-provider-usage': providerUsage,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/** Applies every pending migration; returns the names applied. @throws the migration's error, after rollback. */
export async function migrate(db: Db): Promise<string[]> {
  // Migrations are numbered by the change that brought them and may land out of order (008 before 007):
  // each is independent of the ones numbered near it, so a pending one runs whatever came after it.
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName);
}

export interface OpenOptions {
  logger?: Logger;
  /** PGlite: let CLI commands in through a socket in the data directory while this process runs (`serve`). */
  share?: boolean;
  /** PGlite: when a running `serve` holds the data directory, connect to it through its socket. */
  join?: boolean;
  /**
   * PGlite in memory: use this open instance instead of starting one, and hand it to `giveBack` on close
   * instead of closing it (tests lend one instance to suite after suite: starting PGlite is most of a small
   * suite's time).
   */
  lent?: { pglite: PGlite; giveBack(pglite: PGlite): Promise<void> };
}

/**
 * Opens the database the target names.
 * @throws DataDirectoryLockedError when another process holds the PGlite data directory (and, with `join`,
 *   does not share it: another command, not a `serve`).
 */
export async function openDatabase(target: DatabaseTarget, options: OpenOptions = {}): Promise<Database> {
  const logger = options.logger ?? silentLogger();
  return target.kind === 'postgres' ? openPostgres(target.url, logger) : openEmbedded(target.dataDirectory, logger, options);
}

/**
 * A pool of `max` connections to PostgreSQL at `url` and its Kysely handle, with the service's value parsing
 * (NUMERIC stays exact text, INT8 becomes a number, as on PGlite: see pglite-dialect.ts). `onError` hears
 * every connection error no query reports (an idle connection dropped, one checked out dying meanwhile).
 */
export function postgresKysely(url: string, options: { max: number; onError(error: Error): void }): { pool: pg.Pool; db: Db } {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    // A call must not wait forever on a database that does not answer: past this, it gets a 503.
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === pg.types.builtins.INT8) return (text: string) => Number(text);
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's connection dropped; the pool replaces it. Queries report their own errors.
  pool.on('error', options.onError);
  // A client checked out by Kysely (a transaction, a query in flight) has no listener of the pool's: its
  // connection dying ("Connection terminated unexpectedly") would be an unhandled 'error' event and end the
  // process. The query in flight gets the error as its own; this only keeps the event handled.
  pool.on('connect', (client) => {
    client.on('error', options.onError);
  });
  const db = new Kysely<Schema>({
    dialect: new PostgresDialect({ pool }),
    log(event) {
      if (event.level === 'error') options.onError(event.error as Error);
    },
  });
  return { pool, db };
}

function openPostgres(url: string, logger: Logger, options: { max?: number; access?: Database['access'] } = {}): Database {
  // The probe runs only while the database is unreachable, long after the pool exists.
  const health: DatabaseHealth = new DatabaseHealth(
    async () => {
      await pool.query('select 1');
    },
    { logger },
  );
  const { pool, db } = postgresKysely(url, { max: options.max ?? 20, onError: (error) => health.observe(error) });
  const listener = new NotificationListener(url, {
    logger,
    onState: (connected, detail) =>
      health.setNotifications(connected ? { ok: true } : { ok: false, detail: `reconnecting: ${detail ?? 'lost'}` }),
  });
  return {
    kind: options.access ? 'pglite' : 'postgres',
    ...(options.access ? { access: options.access } : {}),
    db,
    url,
    identity: postgresIdentity(url),
    health,
    listen(channel, onMessage, onGap) {
      return listener.subscribe(channel, { onMessage, ...(onGap ? { onGap } : {}) });
    },
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
    },
    async withAdvisoryLock(key, work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [key]);
        if (!rows[0]?.locked) return undefined;
        try {
          return await work();
        } finally {
          // A session lock ends with its session: a connection that cannot unlock is dropped, not reused.
          await client.query('select pg_advisory_unlock($1)', [key]).catch((error: Error) => (broken = error));
        }
      } finally {
        client.release(broken);
      }
    },
    async close() {
      health.close();
      await listener.close();
      await db.destroy();
    },
  };
}

async function openEmbedded(dataDirectory: string | undefined, logger: Logger, options: OpenOptions): Promise<Database> {
  let lock: DataDirectoryLock | undefined;
  if (dataDirectory) {
    mkdirSync(dataDirectory, { recursive: true });
    try {
      lock = acquireDataDirectoryLock(dataDirectory);
    } catch (error) {
      if (options.join && error instanceof DataDirectoryLockedError) return joinRunningServer(dataDirectory, error, logger);
      throw error;
    }
  }
  // Loaded here, not at the top: the WebAssembly build is the heaviest module of the CLI, and a command that
  // reaches the database through a running server's socket never needs it.
  const { openPGlite, PGliteDialect, SessionLock } = await import('./pglite-dialect.js');
  const lent = dataDirectory ? undefined : options.lent;
  let pglite: PGlite;
  try {
    pglite = lent?.pglite ?? (await openPGlite(dataDirectory ? path.join(dataDirectory, 'pgdata') : undefined));
  } catch (error) {
    lock?.release();
    throw error;
  }
  const session = new SessionLock();
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite, session) });
  let socketServer: PGliteSocketServer | undefined;
  if (options.share && dataDirectory) {
    const { startPGliteSocketServer } = await import('./pglite-socket-server.js');
    try {
      socketServer = await startPGliteSocketServer(pglite, session, dataDirectory);
    } catch (error) {
      // A Unix socket's path is limited to about 107 bytes (a deep data directory), or the platform has none:
      // the server runs all the same, and commands on the directory say it is in use, as before.
      logger.warn({ err: error, dataDirectory }, 'cannot share the embedded database with tollgate commands through a socket');
    }
  }
  const unsubscribers: Array<() => Promise<void>> = [];
  let lockHeld = false;
  // In-process: reachable for as long as this process is; the health object keeps one shape for both.
  const health = new DatabaseHealth(
    async () => {
      await pglite.query('select 1');
    },
    { logger },
  );
  return {
    kind: 'pglite',
    access: 'own',
    db,
    identity: dataDirectory ? 'pglite' : undefined,
    health,
    // In-process notifications are never lost, so there is no gap to report.
    async listen(channel, onMessage) {
      // Under the session lock: a CLI's transaction over the socket must not swallow the LISTEN.
      const unsubscribe = await session.run(() => pglite.listen(channel, onMessage));
      const unlisten = () => session.run(() => unsubscribe());
      unsubscribers.push(unlisten);
      return unlisten;
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
      health.close();
      await socketServer?.close();
      for (const unsubscribe of unsubscribers.splice(0)) await unsubscribe().catch(() => undefined);
      await db.destroy();
      if (lent) await lent.giveBack(pglite);
      else await pglite.close();
      lock?.release();
    },
  };
}

/** The name of a PostgreSQL database's capture journal subdirectory: its host, port and database name. */
export function postgresIdentity(url: string): string {
  const parsed = new URL(url);
  const name = `postgres-${parsed.hostname || 'localhost'}-${parsed.port || '5432'}-${decodeURIComponent(parsed.pathname.slice(1)) || 'postgres'}`;
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** How long a command waits for a `serve` that holds the data directory to open its socket (it may be starting). */
const JOIN_WAIT_MS = 30_000;

/**
 * The running server's database, through the socket it shares in the data directory: the same PostgreSQL
 * driver as for a server, one connection (PGlite has one session; the server lends it to a connection
 * between its idle moments).
 * @throws the lock error when the holder shares no socket (another command, or a server that stopped).
 */
async function joinRunningServer(dataDirectory: string, locked: DataDirectoryLockedError, logger: Logger): Promise<Database> {
  const { socketPath } = await import('./pglite-socket-server.js');
  const file = socketPath(dataDirectory);
  const isServer = /\bserve\b/.test(locked.ownerCommand);
  for (let waited = 0; !existsSync(file) && isServer && waited < JOIN_WAIT_MS; waited += 100) await sleep(100);
  if (!existsSync(file)) throw locked;
  // pg reads a host that is a directory as the directory of a Unix socket named .s.PGSQL.<port>.
  const url = `postgres://postgres@${encodeURIComponent(path.dirname(file))}:5432/postgres`;
  const database = openPostgres(url, logger, { max: 1, access: 'shared by serve' });
  try {
    await sql`select 1`.execute(database.db);
  } catch (error) {
    await database.close();
    throw new Error(
      `could not reach the running tollgate server (pid ${locked.ownerPid}) through ${file}: ${(error as Error).message}`,
    );
  }
  return database;
}
