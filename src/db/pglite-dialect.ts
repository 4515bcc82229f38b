import { PGlite, types } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/**
 * PGlite's one session, handed to one user at a time: this process's queries (a transaction from BEGIN to
 * COMMIT) and, when `serve` shares the database, a CLI's connection over the socket (src/db/pglite-socket-server.ts)
 * from its first message until it is idle again. Whoever holds it has the session to itself, so two
 * transactions never interleave on it.
 */
export class SessionLock {
  private tail: Promise<void> = Promise.resolve();

  /** Waits for the session; call the returned function to hand it on. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const previous = this.tail;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/**
 * A Kysely dialect over embedded PGlite. PGlite is one connection in one process, so the driver hands
 * that connection to one user at a time (the session lock): a transaction holds it from BEGIN to COMMIT and
 * every other query waits its turn, which keeps transactions from interleaving.
 */
export class PGliteDialect implements Dialect {
  constructor(
    private readonly pglite: PGlite,
    private readonly lock: SessionLock = new SessionLock(),
  ) {}

  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite, this.lock);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

/**
 * Opens PGlite with the same value parsing as our `pg` pool: NUMERIC as exact text, INT8 as a number
 * (ids and counts stay far below 2^53). `loadDataDir`: a dump of a data directory to start from (tests).
 */
export async function openPGlite(dataDirectory: string | undefined, loadDataDir?: Blob): Promise<PGlite> {
  return PGlite.create(dataDirectory ?? 'memory://', {
    ...(loadDataDir ? { loadDataDir } : {}),
    parsers: { [types.NUMERIC]: (text: string) => text, [types.INT8]: (text: string) => Number(text) },
  });
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;

  constructor(
    private readonly pglite: PGlite,
    private readonly lock: SessionLock,
  ) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.connection.release = await this.lock.acquire();
    return this.connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await connection.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release?.();
  }

  async destroy(): Promise<void> {
    // The owner of the PGlite instance closes it (see database.ts), after Kysely is done with it.
  }
}

class PGliteConnection implements DatabaseConnection {
  release: (() => void) | undefined;
  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    const affected = result.affectedRows;
    return {
      rows: result.rows,
      ...(affected !== undefined ? { numAffectedRows: BigInt(affected) } : {}),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not stream query results; page with limit/offset instead');
  }
}
