import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { decodeIdCursor, pageSize, toPage, type Page } from '../db/keyset-pages.js';
import type { SyncResult, SyncSummary } from './run-sync.js';

/** One run in the history list: what it did in numbers; its diff is at GET /admin/pricing/sync/runs/<id>. */
export interface SyncRunListing {
  runId: number;
  source: string;
  url: string | null;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  summary: SyncSummary | null;
  /** Held-back changes of this run that no operator has approved or rejected yet. */
  undecided: number;
}

/**
 * Sync runs, newest first, a page at a time. The list reads each run's summary and counts its undecided
 * held-back changes inside the database, so a page never carries the runs' whole diffs (a LiteLLM run's
 * result lists thousands of models). @throws InvalidCursorError
 */
export async function listSyncRuns(
  db: Db,
  options: { limit: number; cursor?: string; source?: string },
): Promise<Page<SyncRunListing>> {
  const limit = pageSize(options.limit);
  let query = db.selectFrom('sync_runs').select([
    'id',
    'source',
    'url',
    'mode',
    'status',
    'error',
    'started_at',
    'finished_at',
    sql<SyncSummary | null>`result->'summary'`.as('summary'),
    sql<number>`(select count(*) from jsonb_array_elements(coalesce(result->'heldBack', '[]'::jsonb)) as held
                   where held->'decision' is null)`.as('undecided'),
  ]);
  if (options.source) query = query.where('source', '=', options.source);
  if (options.cursor !== undefined) query = query.where('id', '<', decodeIdCursor(options.cursor));
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return toPage(
    rows,
    limit,
    (row) => row.id,
    (row) => ({
      runId: row.id,
      source: row.source,
      url: row.url,
      mode: row.mode,
      status: row.status,
      error: row.error,
      startedAt: new Date(row.started_at).toISOString(),
      finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
      summary: row.summary,
      undecided: Number(row.undecided),
    }),
  );
}

/** A run's whole result (its diff, held-back changes and their decisions); for a run without one, its row. */
export async function getSyncRun(db: Db, runId: number): Promise<SyncResult | SyncRunListing | undefined> {
  const row = await db.selectFrom('sync_runs').selectAll().where('id', '=', runId).executeTakeFirst();
  if (!row) return undefined;
  if (row.result) return row.result as SyncResult;
  return {
    runId: row.id,
    source: row.source,
    url: row.url,
    mode: row.mode,
    status: row.status,
    error: row.error,
    startedAt: new Date(row.started_at).toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    summary: null,
    undecided: 0,
  };
}
