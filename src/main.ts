import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { seedShippedCatalog } from './catalog/shipped-catalog.js';
import { PricingCatalog } from './catalog/snapshot.js';
import type { Config } from './config/config.js';
import { ACCOUNTS_CHANGED_CHANNEL, PRICES_CHANGED_CHANNEL } from './db/channels.js';
import { migrate, openDatabase, type Database } from './db/database.js';
import { IdempotentCalls } from './gateway/idempotent-calls.js';
import { registerLeaseMetrics } from './gateway/lease-metrics.js';
import { GatewayMetrics } from './gateway/metrics.js';
import { CallPipeline } from './gateway/pipeline.js';
import { UsageRecorder } from './gateway/usage-recorder.js';
import { buildApp } from './http/app.js';
import { Authenticator } from './http/auth.js';
import { createApiKey } from './ledger/api-keys.js';
import { CreditLeases } from './ledger/credit-leases.js';
import { Ledger } from './ledger/ledger.js';
import { perCallReservations, type CallReservations } from './ledger/reservations.js';
import { startHoldSweeper } from './ledger/sweeper.js';
import type { Logger } from './logging/logger.js';
import { Decimal } from './money/decimal.js';
import { MarkupRules } from './catalog/markup-rules.js';
import { createProviderRegistry } from './providers/registry.js';
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
  recorder: UsageRecorder;
  firstStart: FirstStartCredentials;
  seeded: { models: number } | undefined;
  close(): Promise<void>;
}

export const VERSION = readVersion();

/**
 * The composition root: the one place that wires configuration, storage, the catalog, the ledger, the
 * providers and the HTTP app together. `tollgate serve`, the end-to-end tests and the benchmarks all
 * start the gateway through here.
 */
export async function startGateway(config: Config, logger: Logger, options: { database?: Database } = {}): Promise<Gateway> {
  const database = options.database ?? (await openDatabase(config.database));
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    await migrate(database.db);
    const seeded = config.seedOnStart ? await seedIfEmpty(database, logger) : undefined;
    const metrics = new GatewayMetrics({ collectDefaults: true });
    const catalog = await PricingCatalog.create({ database, config, logger, onLookup: metrics.onLookup });
    catalog.startAutoReload();
    cleanups.push(() => catalog.stop());
    const markups = await MarkupRules.load(database, config);
    const ledger = new Ledger(database.db, { logger });
    const firstStart = await ensureFirstStartCredentials(database, ledger, config);
    const registry = createProviderRegistry(config);
    cleanups.push(() => registry.close());
    const recorder = new UsageRecorder(database.db, logger);
    cleanups.push(() => recorder.flush());
    let reservations: CallReservations;
    if (config.ledger.holds === 'lease') {
      const leases = new CreditLeases(database.db, { ...config.ledger.lease, logger });
      registerLeaseMetrics(metrics.registry, leases);
      reservations = leases;
    } else reservations = perCallReservations(ledger);
    cleanups.push(() => reservations.close());

    // Every instance on the same database reloads when any of them changes a price (the TTL stays as the backstop).
    const unlisten = await database.listen(PRICES_CHANGED_CHANNEL, () => {
      void Promise.all([catalog.reload(), markups.reload()]).catch((error: unknown) =>
        logger.error({ err: error }, 'price reload after notification failed'),
      );
    });
    cleanups.push(unlisten);
    const sweeper = startHoldSweeper({
      ledger,
      maxAgeSeconds: config.ledger.holdMaxAgeSeconds,
      intervalSeconds: config.ledger.sweepIntervalSeconds,
      logger,
    });
    cleanups.push(() => sweeper.stop());
    const sync = startPriceSync({ config, database, catalog, logger });
    cleanups.push(() => sync.stop());

    const authenticator = new Authenticator(database.db, ledger, config.adminKey);
    // An account changed by an admin on any instance: drop its cached settings and leases here too, so a
    // suspension or new terms apply at the next call everywhere (the cache TTL and lease age are backstops).
    const forgetAccounts = () => {
      authenticator.invalidate();
      return reservations.retireAccount();
    };
    const unlistenAccounts = await database.listen(ACCOUNTS_CHANGED_CHANNEL, () => {
      void forgetAccounts().catch((error: unknown) =>
        logger.warn({ err: error }, 'could not retire credit leases after an account change'),
      );
    });
    cleanups.push(unlistenAccounts);

    const pipeline = new CallPipeline({ config, catalog, markups, reservations, registry, recorder, metrics, logger });
    const app = await buildApp({
      database,
      catalog,
      ledger,
      async onAccountsChanged() {
        await forgetAccounts();
        await database.notify(ACCOUNTS_CHANGED_CHANNEL, 'changed');
      },
      pipeline,
      authenticator,
      idempotency: new IdempotentCalls(database.db, logger),
      metrics,
      logger,
      bodyLimitBytes: config.http.bodyLimitBytes,
      adminPlugins: [sync.registerRoutes],
      version: VERSION,
    });
    let closed = false;
    return {
      app,
      config,
      database,
      catalog,
      ledger,
      reservations,
      recorder,
      firstStart,
      seeded,
      async close() {
        if (closed) return;
        closed = true;
        await app.close();
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

function readVersion(): string {
  try {
    const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return packageJson.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
