import { Cron } from 'croner';
import type { FastifyInstance } from 'fastify';
import type { PricingCatalog } from '../catalog/snapshot.js';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { PRICES_CHANGED_CHANNEL } from '../db/channels.js';
import type { Logger } from '../logging/logger.js';
import { AlertService } from './alerts.js';
import {
  closeInterruptedRuns,
  INTERRUPTED_RUN_ERROR,
  isSyncSource,
  runSync,
  SyncBusyError,
  SyncRequestError,
  SYNC_SOURCES,
  type SyncResult,
  type SyncSource,
} from './run-sync.js';

export { SyncBusyError, SyncRequestError } from './run-sync.js';
import type { Page } from '../db/keyset-pages.js';
import { decideHeldBack, pendingHeldBack, type HeldBackDecision, type PendingHeldBack } from './held-back-changes.js';
import type { HeldBackChange } from './run-sync.js';
import { getSyncRun, listSyncRuns, type SyncRunListing } from './sync-history.js';
import { registerSyncRoutes } from './sync-routes.js';

/** The advisory lock key every instance takes to run a sync ("tollgate sync" as a number; any fixed value works). */
export const SYNC_LOCK_KEY = 7_105_979;

export interface PriceSyncOptions {
  config: Config;
  database: Database;
  catalog: PricingCatalog;
  logger: Logger;
  /** Waits between webhook delivery attempts (default 1 s, 5 s, 30 s). */
  alertRetryDelaysMs?: number[];
  /** Runs the schedule here (default true); false in all but one of `tollgate serve`'s workers, which still report it. */
  scheduled?: boolean;
}

export interface SourceStatus {
  source: SyncSource;
  url: string | null;
  /** True when the scheduler runs this source (TOLLGATE_SYNC_SOURCES). */
  scheduled: boolean;
  /** The newest run of this source on any instance (they share the database). */
  lastResult: SyncResult | RunWithoutResult | null;
}

/** A run still going, or one whose process died before it finished: its row says what is known. */
export interface RunWithoutResult {
  runId: number;
  source: string;
  url: string | null;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
}

export interface SyncStatus {
  cron: string | null;
  nextRun: string | null;
  running: boolean;
  sources: SourceStatus[];
}

export interface RunNowInput {
  /** Default: the first scheduled source. */
  source?: string;
  /** Default: the source's configured URL. */
  url?: string;
  execute: boolean;
  registerNewModels?: boolean;
  adoptOtherSources?: boolean;
}

export interface PriceSync {
  stop(): Promise<void>;
  registerRoutes: (admin: FastifyInstance) => void;
  /** @throws SyncRequestError for an unknown source or a missing URL; SyncBusyError while another run holds the lock. */
  runNow(input: RunNowInput): Promise<SyncResult>;
  status(): Promise<SyncStatus>;
  /**
   * One scheduled tick (the one due at `scheduledFor`, default now): every scheduled source, executed, once
   * across all instances; undefined when another instance ran it or runs a sync now.
   */
  tick(scheduledFor?: Date): Promise<SyncResult[] | undefined>;
  /** Runs, newest first, a page at a time. @throws InvalidCursorError */
  runs(options: { limit: number; cursor?: string; source?: string }): Promise<Page<SyncRunListing>>;
  run(runId: number): Promise<SyncResult | SyncRunListing | undefined>;
  /** Held-back changes waiting for an operator, newest first, one per model. */
  pendingHeldBack(): Promise<PendingHeldBack[]>;
  /**
   * Approves or rejects a held-back change; an approved price reaches every instance (reload and NOTIFY).
   * @throws HeldBackDecisionError
   */
  decideHeldBack(input: { runId: number; index: number; action: 'approve' | 'reject'; note?: string }): Promise<{
    change: HeldBackChange;
    decision: HeldBackDecision;
  }>;
  readonly alerts: AlertService;
}

/**
 * The price sync of `tollgate serve`: a croner schedule (`TOLLGATE_SYNC_CRON`, "off" to disable) that runs
 * every scheduled source under a PostgreSQL advisory lock, so one instance runs it per tick and runs never
 * overlap; plus the admin routes. Prices an executed run changes reach every instance through NOTIFY.
 * @throws Error when `config.sync.cron` is not a valid cron expression (at boot, with how to fix it).
 */
export function startPriceSync(options: PriceSyncOptions): PriceSync {
  const { config, database, catalog, logger } = options;
  const log = logger.child({ component: 'price-sync' });
  const alerts = new AlertService({
    database,
    logger: log,
    webhookUrl: config.sync.alertWebhookUrl,
    ...(options.alertRetryDelaysMs ? { retryDelaysMs: options.alertRetryDelaysMs } : {}),
  });
  let running: Promise<unknown> | undefined;
  // Aborts a feed fetch under way when the gateway stops, so shutdown never waits for a slow feed's timeout.
  const stopping = new AbortController();

  const dependencies = {
    database,
    logger: log,
    alerts,
    maxChangeRatio: config.sync.maxChangeRatio,
    timeoutMs: config.sync.timeoutMs,
    signal: stopping.signal,
    onPricesChanged: async () => {
      await catalog.reload();
      await database.notify(PRICES_CHANGED_CHANNEL, 'sync');
    },
  };

  /** Runs `work` alone: not while this instance runs one, and only with the lock every instance takes. */
  async function exclusive<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (running) return undefined;
    const attempt = database.withAdvisoryLock(SYNC_LOCK_KEY, work);
    running = attempt;
    try {
      return await attempt;
    } finally {
      running = undefined;
    }
  }

  function resolveRequest(input: RunNowInput): { source: SyncSource; url: string } {
    const source = input.source ?? config.sync.sources[0];
    if (!source) throw new SyncRequestError('name a source: no sync source is configured (TOLLGATE_SYNC_SOURCES)');
    if (!isSyncSource(source)) {
      throw new SyncRequestError(`unknown sync source "${source}"; known sources: ${SYNC_SOURCES.join(', ')}`);
    }
    const url = input.url ?? config.sync.urls[source];
    if (!url) {
      throw new SyncRequestError(
        `no URL for the ${source} feed: pass one, or set TOLLGATE_SYNC_URL_${source.toUpperCase().replace('-', '_')}`,
      );
    }
    return { source, url };
  }

  async function tick(scheduledFor: Date = new Date()): Promise<SyncResult[] | undefined> {
    // Every instance fires the same tick; whoever gets the lock after the first sees its run and skips, however
    // late its timer fired. "This tick's run" is one started at most half the schedule's interval before the
    // tick was due, which tolerates clock skew between instances and the database of up to that much.
    const since = new Date(scheduledFor.getTime() - minimumGapMs());
    return exclusive(async () => {
      const sources = config.sync.sources.filter(isSyncSource);
      if (sources.length === 0) return [];
      // Holding the lock, a run still marked running is a stopped process's: it did not run this tick, so it
      // is closed as interrupted and does not count.
      await closeInterruptedRuns(database.db);
      const ranThisTick = await database.db
        .selectFrom('sync_runs')
        .select('id')
        .where('source', 'in', sources)
        .where('mode', '=', 'execute')
        .where('started_at', '>=', since)
        .where((eb) => eb.or([eb('error', 'is', null), eb('error', '!=', INTERRUPTED_RUN_ERROR)]))
        .limit(1)
        .executeTakeFirst();
      if (ranThisTick) return undefined;
      const results: SyncResult[] = [];
      const runnable = sources.filter((source) => {
        if (config.sync.urls[source]) return true;
        log.warn({ source }, `scheduled sync source ${source} has no URL; skipped`);
        return false;
      });
      for (const [index, source] of runnable.entries()) {
        const request = { source, url: config.sync.urls[source]!, execute: true, checkCoverage: index === runnable.length - 1 };
        results.push(await runSync(request, dependencies));
      }
      return results;
    });
  }

  let cron: Cron | undefined;
  /** The next tick the schedule will fire, as of the last one. */
  let upcoming: Date | null = null;
  /**
   * The tick a firing timer is for: the latest scheduled time not after `now` (the timer may fire late, and a
   * tick skipped while the previous one still ran leaves `upcoming` behind).
   */
  function dueTick(now: Date): Date {
    let latest = upcoming;
    while (latest && cron) {
      const next = cron.nextRun(latest);
      if (!next || next > now) break;
      latest = next;
    }
    upcoming = cron?.nextRun(now) ?? null;
    return latest && latest <= now ? latest : now;
  }
  /** Half the schedule's interval; one second when there is no schedule (a tick run by hand). */
  function minimumGapMs(): number {
    const [next, after] = cron?.nextRuns(2) ?? [];
    return next && after ? Math.max(1, (after.getTime() - next.getTime()) / 2) : 1_000;
  }
  if (config.sync.cron) {
    try {
      cron = new Cron(config.sync.cron, { protect: true, unref: true, paused: options.scheduled === false }, async () => {
        try {
          await tick(dueTick(new Date()));
        } catch (error) {
          log.error({ err: error }, 'scheduled price sync failed');
        }
      });
    } catch (error) {
      throw new Error(
        `TOLLGATE_SYNC_CRON "${config.sync.cron}" is not a valid cron expression ` +
          `(${error instanceof Error ? error.message : String(error)}); use e.g. "0 4 * * *" (daily at 04:00) or "off"`,
      );
    }
    upcoming = cron.nextRun();
  }

  const sync: PriceSync = {
    alerts,
    tick,
    async runNow(input) {
      const request = resolveRequest(input);
      const result = await exclusive(() =>
        runSync(
          {
            ...request,
            execute: input.execute,
            registerNewModels: input.registerNewModels ?? false,
            adoptOtherSources: input.adoptOtherSources ?? false,
          },
          dependencies,
        ),
      );
      if (!result) throw new SyncBusyError();
      return result;
    },
    async status() {
      const sources: SourceStatus[] = [];
      for (const source of SYNC_SOURCES) {
        const last = await database.db
          .selectFrom('sync_runs')
          .select(['id', 'source', 'url', 'mode', 'status', 'started_at', 'result', 'error'])
          .where('source', '=', source)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst();
        sources.push({
          source,
          url: config.sync.urls[source] ?? null,
          scheduled: config.sync.sources.includes(source),
          lastResult: last ? ((last.result as SyncResult | null) ?? runningResult(last)) : null,
        });
      }
      const next = cron?.nextRun() ?? null;
      return {
        cron: config.sync.cron ?? null,
        nextRun: next ? next.toISOString() : null,
        running: running !== undefined,
        sources,
      };
    },
    runs: (options) => listSyncRuns(database.db, options),
    run: (runId) => getSyncRun(database.db, runId),
    pendingHeldBack: () => pendingHeldBack(database),
    async decideHeldBack(input) {
      const { change, decision, pricesChanged } = await decideHeldBack(database, input);
      log.info(
        { run: input.runId, model: change.modelId, action: decision.action, version: decision.version },
        `held-back price change ${decision.action}`,
      );
      if (pricesChanged) {
        // The price is committed; a failed reload or notify leaves the TTL reload to pick it up.
        await dependencies
          .onPricesChanged()
          .catch((error: unknown) => log.error({ err: error }, 'reloading or notifying after an approved change failed'));
      }
      return { change, decision };
    },
    registerRoutes: (admin) => registerSyncRoutes(admin, sync),
    async stop() {
      cron?.stop();
      stopping.abort();
      await running?.catch(() => undefined);
      await alerts.stop();
    },
  };
  return sync;
}

function runningResult(row: {
  id: number;
  source: string;
  url: string | null;
  mode: 'dry-run' | 'execute';
  status: 'running' | 'succeeded' | 'failed';
  started_at: Date;
  error: string | null;
}): RunWithoutResult {
  return {
    runId: row.id,
    source: row.source,
    url: row.url,
    mode: row.mode,
    status: row.status,
    error: row.error,
    startedAt: new Date(row.started_at).toISOString(),
  };
}
