import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { seedShippedCatalog } from './catalog/shipped-catalog.js';
import { PricingCatalog } from './catalog/snapshot.js';
import type { Config } from './config/config.js';
import { ACCOUNTS_CHANGED_CHANNEL, PRICES_CHANGED_CHANNEL } from './db/channels.js';
import { migrate, openDatabase, type Database } from './db/database.js';
import { IdempotentCalls } from './gateway/idempotent-calls.js';
import { registerLeaseMetrics } from './gateway/lease-metrics.js';
import { GatewayMetrics } from './gateway/metrics.js';
import { CallPipeline, type GatewayServices } from './gateway/pipeline.js';
import { CallLimits } from './gateway/call-limits.js';
import { capAlerts, lowBalanceAlerts } from './gateway/limit-alerts.js';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './gateway/rate-limits.js';
import { CapReservations } from './ledger/cap-reservations.js';
import { UsageRecorder } from './gateway/usage-recorder.js';
import { WriteThread } from './gateway/write-thread.js';
import { buildApp } from './http/app.js';
import { startMetricsServer } from './http/metrics-server.js';
import { Authenticator } from './http/auth.js';
import { createApiKey } from './ledger/api-keys.js';
import { CaptureJournal } from './ledger/capture-journal.js';
import { CreditLeases } from './ledger/credit-leases.js';
import { GatewayInstance } from './ledger/gateway-instance.js';
import { replayLeftJournals } from './ledger/journal-replay.js';
import { Ledger } from './ledger/ledger.js';
import { perCallReservations, type CallReservations } from './ledger/reservations.js';
import { startHoldSweeper } from './ledger/sweeper.js';
import type { Logger } from './logging/logger.js';
import { Decimal } from './money/decimal.js';
import { MarkupRules } from './catalog/markup-rules.js';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.js';
import type { AlertService } from './sync/alerts.js';
import { startPriceSync } from './sync/sync-service.js';

/** Credentials made on a first start, shown once (the database keeps only their hashes). */
export interface FirstStartCredentials {
  demoAccount?: { id: string; name: string; key: string; credits: string };
  adminKey?: string;
}

export interface Gateway {
  app: FastifyInstance;
  config: Config;
  database: Database;
  catalog: PricingCatalog;
  ledger: Ledger;
  /** How calls reserve and settle credits; `flush()` makes every settled call's capture durable. */
  reservations: CallReservations;
  /** Caps, rate limits and key controls on the call path; `returnUnused()` gives back this process's cap leases. */
  limits: CallLimits;
  recorder: UsageRecorder;
  metrics: GatewayMetrics;
  /** Which upstreams calls can reach: the startup banner names them. */
  providers: { live: string[]; demo: 'always' | 'standing-in' | 'off' };
  firstStart: FirstStartCredentials;
  seeded: { models: number } | undefined;
  /** Where `/metrics` is served when it has an address of its own (TOLLGATE_METRICS_ADDRESS). */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export const VERSION = readVersion();

/** What `prepareDatabase` did: the seed and the credentials of a first start, for the startup banner. */
export interface Prepared {
  seeded: { models: number } | undefined;
  firstStart: FirstStartCredentials;
}

export interface StartOptions {
  /** A database opened by the caller (it stays open after `close()`). */
  database?: Database;
  /** The database was already migrated, seeded and given its first credentials (by `tollgate serve`'s primary process). */
  prepared?: Prepared;
  /** Runs the hold sweeper and the price sync schedule (default true; one worker of several does). */
  background?: boolean;
  /** Serves TOLLGATE_METRICS_ADDRESS from this process (default true; with workers the primary serves it). */
  metricsServer?: boolean;
  /** What `/metrics` answers instead of this process's own registry (every worker's, aggregated). */
  renderMetrics?: () => Promise<{ contentType: string; body: string }>;
  /** What caps and rate limits take as now (tests run them on a controlled clock). */
  clock?: () => number;
  /** Where rate limits are counted, instead of this process's memory (the workers of one serve: the primary's). */
  rateLimiter?: RateLimiter;
}

/**
 * Once per database, before any process serves: migrations, the shipped catalog when it is empty, and a
 * fresh install's demo account and admin key.
 */
export async function prepareDatabase(database: Database, config: Config, logger: Logger): Promise<Prepared> {
  await migrate(database.db);
  const seeded = config.seedOnStart ? await seedIfEmpty(database, logger) : undefined;
  const firstStart = await ensureFirstStartCredentials(database, new Ledger(database.db, { logger }), config);
  return { seeded, firstStart };
}

/**
 * The composition root: the one place that wires configuration, storage, the catalog, the ledger, the
 * providers and the HTTP app together. `tollgate serve`, the end-to-end tests and the benchmarks all
 * start the gateway through here.
 */
export async function startGateway(config: Config, logger: Logger, options: StartOptions = {}): Promise<Gateway> {
  // A CLI command run beside this server reaches an embedded database through a socket it shares (src/db/pglite-socket-server.ts).
  const database = options.database ?? (await openDatabase(config.database, { logger, share: true }));
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const { seeded, firstStart } = options.prepared ?? (await prepareDatabase(database, config, logger));
    const background = options.background ?? true;
    const metrics = new GatewayMetrics({
      collectDefaults: true,
      ...(options.renderMetrics ? { render: options.renderMetrics } : {}),
    });
    const catalog = await PricingCatalog.create({ database, config, logger, onLookup: metrics.onLookup });
    catalog.startAutoReload();
    cleanups.push(() => catalog.stop());
    const markups = await MarkupRules.load(database, config);
    const ledger = new Ledger(database.db, { logger });
    const registry = createProviderRegistry(config);
    cleanups.push(() => registry.close());

    // This process's identity for the ledger: its holds and leases name it, its heartbeat keeps them its own.
    const instance = await GatewayInstance.register(database.db, { silenceMs: config.ledger.instanceSilenceMs, logger });
    cleanups.push(() => instance.stop());
    // The capture journal sits beside the database it belongs to (none for an in-memory database).
    const journalDirectory =
      database.identity && config.ledger.journal !== 'off'
        ? path.join(config.ledger.journalDirectory, database.identity)
        : undefined;
    const journal = journalDirectory
      ? new CaptureJournal(journalDirectory, instance.id, { sync: config.ledger.journal === 'fsync' ? 'fsync' : 'write', logger })
      : undefined;
    cleanups.push(() => journal?.close());
    // On PostgreSQL the batch writes may run on a thread of their own (closed after the writers that use it):
    // by default when the machine has a core no serving process uses.
    const threadWanted =
      config.ledger.writeThread === 'on' ||
      (config.ledger.writeThread === 'auto' && availableParallelism() > (config.workers ?? availableParallelism()));
    const writeThread =
      database.kind === 'postgres' && database.url && threadWanted
        ? new WriteThread(database.url, database.db, logger)
        : undefined;
    cleanups.push(() => writeThread?.close());
    const recorder = new UsageRecorder(database.db, logger, {
      lingerMs: config.ledger.writeLingerMs,
      ...(journal ? { journal } : {}),
      ...(writeThread ? { writeRecords: (records) => writeThread.usageRecords(records) } : {}),
    });
    cleanups.push(() => recorder.close());
    // What dead processes left is written, and their credits released, before this one serves a call.
    await replayLeftJournals({
      db: database.db,
      directory: journalDirectory,
      instanceId: instance.id,
      silenceMs: config.ledger.instanceSilenceMs,
      writeUsage: (rows) => recorder.replay(rows as Parameters<UsageRecorder['replay']>[0]),
      soleOwner: database.kind === 'pglite',
      logger,
    });
    let reservations: CallReservations;
    if (config.ledger.holds === 'lease') {
      const leases = new CreditLeases(database.db, {
        ...config.ledger.lease,
        writeLingerMs: config.ledger.writeLingerMs,
        logger,
        instance,
        ...(journal ? { journal } : {}),
        ...(writeThread ? { writeCaptures: (records) => writeThread.captures(records) } : {}),
        databaseReachable: () => database.health.isReachable,
      });
      registerLeaseMetrics(metrics.registry, leases);
      reservations = leases;
    } else reservations = perCallReservations(ledger, { ownerId: instance.id });
    cleanups.push(() => reservations.close());

    // Every instance on the same database reloads when any of them changes a price (the TTL stays as the
    // backstop), and after its notification connection was lost, since a change may have gone unheard.
    const reloadPrices = () => {
      void Promise.all([catalog.reload(), markups.reload()]).catch((error: unknown) =>
        logger.error({ err: error }, 'price reload after notification failed'),
      );
    };
    const unlisten = await database.listen(PRICES_CHANGED_CHANNEL, reloadPrices, reloadPrices);
    cleanups.push(unlisten);
    if (background) {
      const sweeper = startHoldSweeper({
        ledger,
        maxAgeSeconds: config.ledger.holdMaxAgeSeconds,
        intervalSeconds: config.ledger.sweepIntervalSeconds,
        instance,
        logger,
      });
      cleanups.push(() => sweeper.stop());
    }
    // Every process serves the sync's admin routes; only a background one runs its schedule.
    const sync = startPriceSync({ config, database, catalog, logger, scheduled: background });
    cleanups.push(() => sync.stop());

    // Caps are reserved like credits: in leases of the same size and idle time, or per call with per-call holds.
    const raiseLimitAlert = (kind: 'budget_threshold' | 'low_balance', message: string, details: unknown) =>
      sync.alerts.raise(kind, message, details);
    const caps = new CapReservations(database.db, {
      callsPerLease: config.ledger.holds === 'lease' ? config.ledger.lease.callsPerLease : 1,
      idleMs: config.ledger.lease.idleMs,
      maxAgeMs: config.ledger.lease.maxAgeMs,
      ...(options.clock ? { now: options.clock } : {}),
      onUsage: capAlerts(database.db, raiseLimitAlert, config.limits.alertThresholds, logger),
      logger,
    });
    const rates: RateLimiter = config.limits.redisUrl
      ? await redisRateLimiter(config.limits.redisUrl)
      : (options.rateLimiter ?? new MemoryRateLimiter());
    const limits = new CallLimits(database.db, caps, rates, options.clock);
    cleanups.push(() => limits.close());

    const authenticator = new Authenticator(database.db, ledger, config.adminKey, config.limits.endUserHeader);
    // An account changed by an admin on any instance: drop its cached settings and leases here too, so a
    // suspension or new terms apply at the next call everywhere (the cache TTL and lease age are backstops).
    const forgetAccounts = () => {
      authenticator.invalidate();
      limits.invalidate();
      return reservations.retireAccount();
    };
    const forgetAccountsNow = () => {
      void forgetAccounts().catch((error: unknown) =>
        logger.warn({ err: error }, 'could not retire credit leases after an account change'),
      );
    };
    const unlistenAccounts = await database.listen(ACCOUNTS_CHANGED_CHANNEL, forgetAccountsNow, forgetAccountsNow);
    cleanups.push(unlistenAccounts);

    const pipeline = new CallPipeline({
      config,
      catalog,
      markups,
      reservations,
      registry,
      recorder,
      metrics,
      logger,
      limits,
      onCreditsLeft: lowBalanceAlerts(database.db, raiseLimitAlert, logger),
      onAnomaly: anomalyAlerts(sync.alerts, logger),
    });
    const app = await buildApp({
      database,
      catalog,
      ledger,
      async onAccountsChanged() {
        await forgetAccounts();
        await database.notify(ACCOUNTS_CHANGED_CHANNEL, 'changed');
      },
      pipeline,
      settledCaptures: reservations,
      authenticator,
      idempotency: new IdempotentCalls(database.db, logger, {
        instanceId: instance.id,
        expiry: { silenceMs: config.ledger.instanceSilenceMs, unownedSeconds: config.ledger.idempotencyClaimSeconds },
      }),
      metrics,
      logger,
      http: config.http,
      metricsAccess:
        config.metrics.port !== undefined
          ? { kind: 'elsewhere' }
          : config.metrics.key
            ? { kind: 'key', key: config.metrics.key }
            : { kind: 'open' },
      console: config.console,
      adminPlugins: [sync.registerRoutes],
      version: VERSION,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    const metricsServer =
      config.metrics.port !== undefined && options.metricsServer !== false
        ? await startMetricsServer(metrics, { host: config.metrics.host ?? '127.0.0.1', port: config.metrics.port })
        : undefined;
    if (metricsServer) cleanups.push(() => metricsServer.close());
    let closed = false;
    return {
      app,
      config,
      database,
      catalog,
      ledger,
      reservations,
      limits,
      recorder,
      metrics,
      providers: liveProviders(registry, config),
      firstStart,
      seeded,
      metricsUrl: metricsServer?.url,
      async close() {
        if (closed) return;
        closed = true;
        // A call in flight keeps its connection: closed right after its answer (Node reads the keep-alive
        // timeout when a response finishes), not held open until the idle timeout while shutdown waits.
        app.server.keepAliveTimeout = 1;
        await app.close();
        // A stream whose client left as the server closed may still be settling: its capture must reach the writers
        // before they close.
        if (!(await pipeline.drained(SETTLE_AT_SHUTDOWN_MS))) {
          logger.error('calls still unsettled at shutdown; the sweeper releases their holds');
        }
        for (const cleanup of cleanups.reverse()) await cleanup();
        if (!options.database) await database.close();
      },
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    if (!options.database) await database.close().catch(() => undefined);
    throw error;
  }
}

/** The shared rate limiter: connects before the gateway serves, so a wrong REDIS_URL stops the start with its reason. */
async function redisRateLimiter(url: string): Promise<RedisRateLimiter> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  await redis.connect();
  return new RedisRateLimiter(redis);
}

/** How long shutdown waits for calls whose connections are gone to settle (each is a few database writes at most). */
const SETTLE_AT_SHUTDOWN_MS = 30_000;

/** How often one provider and model may raise a usage anomaly alert (every anomalous call is still counted and recorded). */
const ANOMALY_ALERT_INTERVAL_MS = 10 * 60_000;

/** Alerts for calls whose upstream reported impossible usage, at most one per provider and model per interval. */
function anomalyAlerts(alerts: AlertService, logger: Logger): NonNullable<GatewayServices['onAnomaly']> {
  const lastAlert = new Map<string, number>();
  return (call, anomaly) => {
    const key = `${call.route.providerId}\u0000${call.resolution.modelId ?? call.intent.model}`;
    const now = Date.now();
    if (now - (lastAlert.get(key) ?? -Infinity) < ANOMALY_ALERT_INTERVAL_MS) return;
    if (lastAlert.size > 10_000) lastAlert.clear();
    lastAlert.set(key, now);
    void alerts
      .raise('usage_anomaly', `${call.route.providerId} reported usage beyond what a call could produce`, {
        provider: call.route.providerId,
        model: call.resolution.modelId ?? null,
        requestId: call.requestId,
        reasons: anomaly.reasons,
        policy: anomaly.policy,
        reportedCharge: anomaly.reported?.charge.toString() ?? null,
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not raise a usage anomaly alert'));
  };
}

async function seedIfEmpty(database: Database, logger: Logger): Promise<{ models: number } | undefined> {
  const existing = await database.db.selectFrom('model_prices').select('id').limit(1).executeTakeFirst();
  if (existing) return undefined;
  logger.info('empty price catalog: seeding it from the files shipped with tollgate (data/catalog)');
  const report = await seedShippedCatalog(database.db);
  logger.info({ priced: report.coverage.priced, active: report.coverage.active }, 'price catalog seeded');
  return { models: report.coverage.priced };
}

/** A fresh install gets a demo account with $10 of credits and, without TOLLGATE_ADMIN_KEY, an admin key. */
async function ensureFirstStartCredentials(database: Database, ledger: Ledger, config: Config): Promise<FirstStartCredentials> {
  const firstStart: FirstStartCredentials = {};
  const anyAccount = await database.db.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
  if (!anyAccount) {
    const credits = Decimal.parse('10');
    const created = await ledger.createAccount({ name: 'demo', mode: 'consumption_usd', credits });
    firstStart.demoAccount = {
      id: created.account.id,
      name: created.account.name,
      key: created.apiKey.key,
      credits: credits.toString(),
    };
  }
  if (!config.adminKey) {
    const anyAdmin = await database.db
      .selectFrom('api_keys')
      .select('id')
      .where('scope', '=', 'admin')
      .where('revoked_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    if (!anyAdmin)
      firstStart.adminKey = (await createApiKey(database.db, { accountId: null, scope: 'admin', name: 'first admin key' })).key;
  }
  return firstStart;
}

/**
 * The upstreams with credentials, and whether the demo answers: always (`TOLLGATE_DEMO=on`), standing in for
 * every provider because none has a key (`auto`, the routing rule of gateway/routing.ts), or not at all.
 */
export function liveProviders(registry: ProviderRegistry, config: Config): Gateway['providers'] {
  const aliases = new Set(registry.ids().filter((id) => registry.adapterFor(id)?.id !== id));
  const live = registry.ids().filter((id) => id !== 'demo' && !aliases.has(id) && registry.hasCredentials(id));
  const demo = config.demo === 'on' ? 'always' : config.demo === 'auto' && live.length === 0 ? 'standing-in' : 'off';
  return { live, demo };
}

function readVersion(): string {
  try {
    const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return packageJson.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
