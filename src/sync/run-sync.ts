import { isFormatName, parseSource } from '../catalog/importers/index.js';
import type { ImportedEntry, ImportIssue } from '../catalog/importers/types.js';
import type { Database, Db } from '../db/database.js';
import type { Logger } from '../logging/logger.js';
import type { Decimal } from '../money/decimal.js';
import type { AlertService } from './alerts.js';
import { applyChanges } from './apply.js';
import { diffCatalog, syncLabel, type PlannedChange, type PriceChange, type RateChange, type TierRateChange } from './diff.js';
import { fetchFeed } from './fetch-feed.js';
import { guardChange, validatePrice } from './guards.js';
import { proposedPrice, type HeldBackDecision, type ProposedPrice } from './held-back-changes.js';

/** The feeds a sync reads; each name is also the importer format that parses it. */
export const SYNC_SOURCES = ['openrouter', 'litellm', 'genai-prices', 'portkey'] as const;
export type SyncSource = (typeof SYNC_SOURCES)[number];

export function isSyncSource(name: string): name is SyncSource {
  return (SYNC_SOURCES as readonly string[]).includes(name) && isFormatName(name);
}

/** A sync asked for with an unknown source or without a URL. */
export class SyncRequestError extends Error {
  override name = 'SyncRequestError';
}

export class SyncBusyError extends Error {
  override name = 'SyncBusyError';
  constructor() {
    super('a price sync is already running (on this or another instance); try again when it has finished');
  }
}

export interface SyncRequest {
  source: SyncSource;
  url: string;
  /** False: a dry run that reports the diff and writes no price. */
  execute: boolean;
  /** Create the models the feed prices that the catalog lacks (default: only report them). */
  registerNewModels?: boolean;
  /**
   * After an executed run, alert on the active models still without a price (default true). A scheduled
   * tick over several sources checks once, after the last one, so the operator gets one alert per tick.
   */
  checkCoverage?: boolean;
  /** Also apply the feed's price to models another source priced (an admin PUT, another feed); default false. */
  adoptOtherSources?: boolean;
}

export interface SyncDependencies {
  database: Database;
  logger: Logger;
  alerts: AlertService;
  maxChangeRatio: Decimal;
  timeoutMs: number;
  maxBytes?: number;
  /** Aborts the feed fetch (the gateway is stopping); the run is recorded as failed. */
  signal?: AbortSignal;
  /** Called after an executed run wrote prices (reload the snapshot, notify the other instances). */
  onPricesChanged?: () => Promise<void>;
}

export interface HeldBackChange {
  modelId: string;
  feedId: string;
  reasons: string[];
  rates: RateChange[];
  /**
   * The whole price the feed proposes and the version it would replace, so an operator can approve the
   * change later (POST .../held-back/<index>/approve). Absent for an entry the feed got wrong (no price to apply).
   */
  proposed?: ProposedPrice;
  /** Set once an operator approved or rejected the change. */
  decision?: HeldBackDecision;
  /** The tier rates that differ (a price change held back by the guards; absent for an invalid entry). */
  tierRates?: TierRateChange[];
}

export interface SyncSummary {
  entries: number;
  unchanged: number;
  changed: number;
  applied: number;
  heldBack: number;
  newModels: number;
  registered: number;
  gone: number;
  invalid: number;
  zeroPriced: number;
  otherSource: number;
}

/** One run, as stored in `sync_runs.result` and returned by the CLI and POST /admin/pricing/sync. */
export interface SyncResult {
  runId: number;
  source: string;
  url: string;
  mode: 'dry-run' | 'execute';
  status: 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
  finishedAt: string;
  summary: SyncSummary;
  /** Changes that pass the guards: applied on an executed run, what would be applied on a dry run. */
  changes: Array<PriceChange & { applied: boolean }>;
  heldBack: HeldBackChange[];
  newModels: Array<{ modelId: string; providerId: string; upstreamModel: string; registered: boolean }>;
  gone: string[];
  invalid: ImportIssue[];
  /** Models another source priced, which the feed prices differently: not applied unless adopted. */
  otherSource: Array<PriceChange & { currentSource: string }>;
}

/** The error an interrupted run's row is closed with. */
export const INTERRUPTED_RUN_ERROR = 'interrupted: the process running it stopped before it finished';

/**
 * Closes every `sync_runs` row still 'running' as failed with INTERRUPTED_RUN_ERROR, and returns their ids.
 * Only correct under the sync lock (SYNC_LOCK_KEY): holding it proves no other run is alive, so such a row was
 * left by a process that stopped mid-run (killed, crashed, lost its connection, which released the lock). Its
 * `finished_at` stays null: when it stopped is not known.
 */
export async function closeInterruptedRuns(db: Db): Promise<number[]> {
  const closed = await db
    .updateTable('sync_runs')
    .set({ status: 'failed', error: INTERRUPTED_RUN_ERROR })
    .where('status', '=', 'running')
    .returning('id')
    .execute();
  return closed.map((row) => row.id);
}

/**
 * Fetch, parse, diff, guard and (when executing) apply one feed, recording the run in `sync_runs`. Never
 * throws for a bad feed: a failed fetch, a timeout or a malformed document writes no price and returns a
 * failed run (alerted when executing). Dry runs raise no alerts: the operator is reading the result.
 *
 * The caller holds the sync lock (`database.withAdvisoryLock(SYNC_LOCK_KEY, ...)`, as the scheduler, the admin
 * route and `tollgate catalog sync` do): the run first closes the rows of runs that died mid-way.
 */
export async function runSync(request: SyncRequest, dependencies: SyncDependencies): Promise<SyncResult> {
  const { database, logger, alerts } = dependencies;
  const mode = request.execute ? 'execute' : 'dry-run';
  const interrupted = await closeInterruptedRuns(database.db);
  if (interrupted.length > 0) {
    logger.warn({ runs: interrupted }, `price sync: closed ${interrupted.length} run(s) left running by a stopped process`);
  }
  const started = await database.db
    .insertInto('sync_runs')
    .values({ source: request.source, url: request.url, mode, status: 'running' })
    .returning(['id', 'started_at'])
    .executeTakeFirstOrThrow();
  const result = emptyResult(started.id, request, new Date(started.started_at));
  let pricesWritten = false;
  try {
    const text = await fetchFeed(request.url, {
      timeoutMs: dependencies.timeoutMs,
      maxBytes: dependencies.maxBytes,
      signal: dependencies.signal,
    });
    const parsed = parseSource(text, request.url, request.source);
    if (parsed.entries.length === 0) throw new Error(`${request.url}: the feed lists no valid price`);
    const diff = await diffCatalog(database.db, parsed, request.source);
    const accepted: PlannedChange[] = [];
    const candidates = request.adoptOtherSources ? [...diff.changes, ...diff.otherSource] : diff.changes;
    for (const planned of candidates) {
      const reasons = guardChange(planned.change, planned.price, dependencies.maxChangeRatio);
      if (reasons.length > 0) result.heldBack.push({ ...planned.change, reasons, proposed: proposedPrice(planned) });
      else accepted.push(planned);
    }
    const register = request.registerNewModels ? diff.newModels.filter((entry) => isValidNew(entry, result)) : [];
    for (const issue of parsed.errors) {
      result.heldBack.push({ modelId: issue.model, feedId: issue.model, reasons: [issue.message], rates: [] });
    }
    let applied = { versions: 0, registered: 0 };
    if (request.execute) {
      applied = await applyChanges(database.db, accepted, register, syncLabel(request.source), new Date());
    }
    const registeredIds = new Set(request.execute ? register.map((entry) => entry.modelId) : []);
    result.changes = accepted.map((planned) => ({ ...planned.change, applied: request.execute }));
    result.newModels = diff.newModels.map((entry) => ({
      modelId: entry.modelId,
      providerId: entry.providerId,
      upstreamModel: entry.upstreamModel,
      registered: registeredIds.has(entry.modelId),
    }));
    result.gone = diff.gone;
    result.otherSource = request.adoptOtherSources
      ? []
      : diff.otherSource.map((planned) => ({ ...planned.change, currentSource: planned.currentSource }));
    result.invalid = parsed.errors;
    result.summary = {
      entries: parsed.entries.length,
      unchanged: diff.unchanged,
      changed: accepted.length,
      applied: request.execute ? accepted.length : 0,
      heldBack: result.heldBack.length,
      newModels: diff.newModels.length,
      registered: applied.registered,
      gone: diff.gone.length,
      invalid: parsed.errors.length,
      zeroPriced: diff.zeroPriced.length,
      otherSource: result.otherSource.length,
    };
    result.status = 'succeeded';
    pricesWritten = applied.versions > 0;
  } catch (error) {
    // Nothing was written (the apply is one transaction): the result says only why.
    Object.assign(result, { ...emptyResult(result.runId, request, new Date(result.startedAt)), status: 'failed' });
    result.error = error instanceof Error ? error.message : String(error);
  }
  result.finishedAt = new Date().toISOString();
  await database.db
    .updateTable('sync_runs')
    .set({ status: result.status, finished_at: new Date(result.finishedAt), result: JSON.stringify(result), error: result.error })
    .where('id', '=', result.runId)
    .execute();
  logger.info(
    { run: result.runId, source: request.source, mode, status: result.status, summary: result.summary },
    'price sync finished',
  );
  if (pricesWritten && dependencies.onPricesChanged) {
    // The prices are committed; a failed reload or notify leaves the TTL reload to pick them up.
    await dependencies
      .onPricesChanged()
      .catch((error: unknown) =>
        logger.error({ err: error, run: result.runId }, 'price sync: reloading or notifying the instances failed'),
      );
  }
  if (request.execute) await raiseAlerts(result, alerts, logger, request.checkCoverage ?? true);
  return result;
}

/** A new model's first price passes validation; one that fails is held back, never registered. */
function isValidNew(entry: ImportedEntry, result: SyncResult): boolean {
  const reasons = validatePrice(entry);
  if (reasons.length === 0) return true;
  result.heldBack.push({ modelId: entry.modelId, feedId: entry.upstreamModel, reasons, rates: [] });
  return false;
}

async function raiseAlerts(result: SyncResult, alerts: AlertService, logger: Logger, checkCoverage: boolean): Promise<void> {
  try {
    if (result.status === 'failed') {
      await alerts.raise('sync_failed', `price sync from ${result.source} failed: ${result.error}`, {
        run: result.runId,
        source: result.source,
        url: result.url,
        error: result.error,
      });
      return;
    }
    if (result.heldBack.length > 0) {
      const names = result.heldBack.slice(0, 5).map((held) => held.modelId);
      await alerts.raise(
        'held_back_change',
        `price sync from ${result.source} held back ${result.heldBack.length} changes (${names.join(', ')}` +
          `${result.heldBack.length > names.length ? ', ...' : ''}); confirm them by hand`,
        { run: result.runId, source: result.source, heldBack: result.heldBack },
      );
    }
    if (checkCoverage) await alerts.raiseMissingPrices();
  } catch (error) {
    // The run is recorded; an alert that cannot be stored must not turn it into an error for the caller.
    logger.error({ err: error, run: result.runId }, 'storing the price sync alerts failed');
  }
}

function emptyResult(runId: number, request: SyncRequest, startedAt: Date): SyncResult {
  return {
    runId,
    source: request.source,
    url: request.url,
    mode: request.execute ? 'execute' : 'dry-run',
    status: 'failed',
    error: null,
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    summary: {
      entries: 0,
      unchanged: 0,
      changed: 0,
      applied: 0,
      heldBack: 0,
      newModels: 0,
      registered: 0,
      gone: 0,
      invalid: 0,
      zeroPriced: 0,
      otherSource: 0,
    },
    changes: [],
    heldBack: [],
    newModels: [],
    gone: [],
    invalid: [],
    otherSource: [],
  };
}
