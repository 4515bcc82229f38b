import type { CompiledQuery, Compilable, QueryResult } from 'kysely';
import type { Db } from './database.js';

/**
 * The statements the batch writers run over and over with the same text (the usage batch, the capture
 * batch's reads and insert). On PostgreSQL each runs as a named prepared statement, once per connection: an
 * unnamed statement is parsed, analysed and planned at every execution, which for the usage batch (an insert
 * with eight rollup upserts) took 2 ms a batch, about a third of its time at the batch sizes of a quiet
 * gateway. The name is kept per text; texts come only from code (never from input), so the set is bounded.
 * PGlite runs them as any statement.
 *
 * TOLLGATE_PREPARED_STATEMENTS=off turns it off, for a connection pooler in transaction mode that cannot
 * keep a session's prepared statements (PgBouncer before 1.21, or with max_prepared_statements = 0).
 */
const names = new Map<string, string>();

/** Marks a compiled statement's text as one to prepare; returns the same query. */
export function prepared<Row>(query: CompiledQuery<Row>): CompiledQuery<Row> {
  if (!names.has(query.sql)) names.set(query.sql, `tollgate_${names.size + 1}`);
  return query;
}

/** Runs a query builder's statement as a prepared one (see `prepared`). */
export function executePrepared<Row>(db: Db, query: Compilable<Row>): Promise<QueryResult<Row>> {
  return db.executeQuery(prepared(query.compile()));
}

/** The name a statement text is prepared under, if it is one to prepare. */
export function preparedName(text: string): string | undefined {
  return names.get(text);
}
