import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerModels } from '../src/catalog/catalog-store.js';
import { PricingCatalog } from '../src/catalog/snapshot.js';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { startPriceSync, type PriceSync } from '../src/sync/sync-service.js';
import { backends, type TestDatabase } from './support/backends.js';
import { startFeedServer, startWebhookReceiver, type FeedServer, type WebhookReceiver } from './support/feed-server.js';
import { until } from './support/wait.js';
import { testJournalDirectory } from './support/journal-directory.js';

const ADMIN_KEY = 'sync-test-admin-key-0123';
const authorization = { authorization: `Bearer ${ADMIN_KEY}` };

describe.each(backends())('price sync service on $name', (backend) => {
  let feeds: FeedServer;
  let database: TestDatabase;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    feeds = await startFeedServer();
  });
  afterAll(async () => {
    await feeds.close();
  });
  beforeEach(async () => {
    database = await backend.open();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await database.close();
  });

  const configWith = (environment: Record<string, string> = {}) =>
    loadConfig({
      TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
      TOLLGATE_SEED_ON_START: 'false',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_SYNC_SOURCES: 'openrouter',
      TOLLGATE_SYNC_URL_OPENROUTER: feeds.url('openrouter-models.json'),
      // A guard only: no test here waits on a feed's timeout (fetch-feed.test.ts and sync-run.test.ts test it).
      TOLLGATE_SYNC_TIMEOUT_MS: '600000',
      ...environment,
    });
  const startSync = async (on: Database, environment: Record<string, string> = {}, retryDelays?: number[]) => {
    const config = configWith(environment);
    const catalog = await PricingCatalog.create({ database: on, config, logger: silentLogger() });
    const sync = startPriceSync({
      config,
      database: on,
      catalog,
      logger: silentLogger(),
      ...(retryDelays ? { alertRetryDelaysMs: retryDelays } : {}),
    });
    cleanups.push(() => sync.stop());
    return sync;
  };
  const runCount = async () =>
    Number(
      (
        await database.db
          .selectFrom('sync_runs')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  describe('admin routes', () => {
    let gateway: Gateway;
    beforeEach(async () => {
      gateway = await startGateway(configWith(), silentLogger(), { database });
      cleanups.push(() => gateway.close());
    });

    it('POST runs a sync, reloads the catalog, and GET shows the last result and the alerts', async () => {
      await registerModels(database.db, [
        { id: 'nosana/unpriced-model', provider: 'nosana', upstream_model: 'unpriced-model', active: true, modality: 'text' },
      ]);
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/admin/pricing/sync',
        headers: authorization,
        payload: { source: 'openrouter', execute: true, register_new_models: true },
      });
      expect(response.statusCode).toBe(200);
      const result = response.json();
      expect(result).toMatchObject({ status: 'succeeded', mode: 'execute', summary: { registered: 5, newModels: 5 } });
      // The snapshot serving calls has the new price at once, without waiting for the TTL.
      expect(gateway.catalog.resolve('openrouter/openai/gpt-4o')?.price.rates.input.toString()).toBe('0.0000025');

      const status = (await gateway.app.inject({ method: 'GET', url: '/admin/pricing/sync', headers: authorization })).json();
      expect(status).toMatchObject({ cron: null, nextRun: null, running: false });
      const openrouter = status.sources.find((source: { source: string }) => source.source === 'openrouter');
      expect(openrouter).toMatchObject({ scheduled: true, lastResult: { runId: result.runId, status: 'succeeded' } });

      const alerts = (await gateway.app.inject({ method: 'GET', url: '/admin/alerts', headers: authorization })).json();
      expect(alerts.data).toHaveLength(1);
      expect(alerts.data[0]).toMatchObject({ kind: 'missing_price', details: { unpriced: ['nosana/unpriced-model'] } });
    });

    it('answers bad requests in the OpenAI error shape, and needs the admin key', async () => {
      const noUrl = await gateway.app.inject({
        method: 'POST',
        url: '/admin/pricing/sync',
        headers: authorization,
        payload: { source: 'portkey' },
      });
      expect(noUrl.statusCode).toBe(400);
      expect(noUrl.json().error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error' });
      expect(noUrl.json().error.message).toContain('TOLLGATE_SYNC_URL_PORTKEY');
      const unknown = await gateway.app.inject({
        method: 'POST',
        url: '/admin/pricing/sync',
        headers: authorization,
        payload: { source: 'x' },
      });
      expect(unknown.statusCode).toBe(400);
      const anonymous = await gateway.app.inject({ method: 'GET', url: '/admin/alerts' });
      expect(anonymous.statusCode).toBe(401);
    });

    it('refuses a second run while one is under way (409) instead of overlapping', async () => {
      const hanging = gateway.app.inject({
        method: 'POST',
        url: '/admin/pricing/sync',
        headers: authorization,
        payload: { source: 'openrouter', url: feeds.url('hang') },
      });
      await waitUntil(async () => (await runCount()) === 1);
      const second = await gateway.app.inject({
        method: 'POST',
        url: '/admin/pricing/sync',
        headers: authorization,
        payload: {},
      });
      expect(second.statusCode).toBe(409);
      expect(second.json().error.message).toContain('already running');
      await until(() => feeds.hangingCount > 0, 'the run to be waiting on the feed');
      feeds.endHanging();
      expect((await hanging).json()).toMatchObject({ status: 'failed' });
      expect(await runCount()).toBe(1);
    });
  });

  it('POSTs alerts to the webhook, retrying a failing one in the background without blocking the sync', async () => {
    // The receiver answers nothing until told: a run that waited for the delivery would never return.
    const receiver: WebhookReceiver = await startWebhookReceiver({ failFirst: 2, holdAnswers: true });
    cleanups.push(() => receiver.close());
    const sync = await startSync(database, { TOLLGATE_ALERT_WEBHOOK_URL: receiver.url }, [10, 10]);
    const result = await sync.runNow({ source: 'openrouter', url: feeds.url('openrouter-malformed.json'), execute: true });
    expect(result.status).toBe('failed');
    // The run returned with its alert stored and not delivered (no call to the webhook has been answered).
    const [stored] = await sync.alerts.list();
    expect(stored).toMatchObject({ kind: 'sync_failed', deliveredAt: null });
    receiver.answer();
    const bodies = await receiver.waitFor(3);
    expect(bodies[2]).toMatchObject({ id: stored!.id, kind: 'sync_failed', message: stored!.message });
    await sync.alerts.idle();
    const [delivered] = await sync.alerts.list();
    expect(delivered!.deliveredAt).not.toBeNull();
  });

  it('a run under the lock shows a run a stopped process left running as failed in the status', async () => {
    // Another instance died while running litellm: its row says 'running' and nothing will ever finish it.
    const stale = await database.db
      .insertInto('sync_runs')
      .values({ source: 'litellm', url: feeds.url('litellm-models.json'), mode: 'execute', status: 'running' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const sync = await startSync(database);
    const litellmStatus = async () => (await sync.status()).sources.find((source) => source.source === 'litellm')?.lastResult;
    expect(await litellmStatus()).toMatchObject({ runId: stale.id, status: 'running' });
    expect((await sync.runNow({ execute: false })).status).toBe('succeeded');
    expect(await litellmStatus()).toEqual({
      runId: stale.id,
      source: 'litellm',
      url: feeds.url('litellm-models.json'),
      mode: 'execute',
      status: 'failed',
      error: 'interrupted: the process running it stopped before it finished',
      startedAt: expect.any(String),
    });
  });

  it('a tick whose run a stopped process left running is run again by the next instance that gets the lock', async () => {
    await database.db
      .insertInto('sync_runs')
      .values({ source: 'openrouter', url: feeds.url('openrouter-models.json'), mode: 'execute', status: 'running' })
      .execute();
    const sync = await startSync(database);
    const results = await sync.tick(new Date());
    expect(results?.map((result) => [result.source, result.status])).toEqual([['openrouter', 'succeeded']]);
    // The same tick again: now it did run, so it is skipped.
    expect(await sync.tick(new Date())).toBeUndefined();
  });

  it('stop() ends a run waiting on a slow feed without waiting for its timeout, recording it as failed', async () => {
    // The feed never finishes and its timeout is far past the test's: only stop() can end this run.
    const sync = await startSync(database, { TOLLGATE_SYNC_URL_OPENROUTER: feeds.url('hang') });
    const pending = sync.runNow({ execute: true });
    await waitUntil(async () => (await runCount()) === 1);
    await sync.stop();
    const result = await pending;
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining('shutting down') });
  });

  it('runs a scheduled tick once across two instances under the advisory lock', async () => {
    const second: Database =
      backend.name === 'postgres' ? await openDatabase({ kind: 'postgres', url: database.url! }) : database;
    if (second !== database) cleanups.push(() => second.close());
    const hang = { TOLLGATE_SYNC_URL_OPENROUTER: feeds.url('hang'), TOLLGATE_SYNC_TIMEOUT_MS: '400' };
    const first = await startSync(database, hang);
    const other = await startSync(second, hang);
    // Both instances fire the tick due at the same moment (what croner gives each), however late they run.
    const due = new Date();
    const [a, b] = await Promise.all([first.tick(due), other.tick(due)]);
    expect([a, b].filter((results) => results !== undefined)).toHaveLength(1);
    expect(await runCount()).toBe(1);
    // After the run, a late firing of the same tick still does not run it again.
    expect(await other.tick(due)).toBeUndefined();
  });

  it('the cron schedule runs every tick exactly once while two instances share the database', async () => {
    const second: Database =
      backend.name === 'postgres' ? await openDatabase({ kind: 'postgres', url: database.url! }) : database;
    if (second !== database) cleanups.push(() => second.close());
    const everySecond = { TOLLGATE_SYNC_CRON: '* * * * * *' };
    const syncs: PriceSync[] = [await startSync(database, everySecond), await startSync(second, everySecond)];
    expect((await syncs[0]!.status()).nextRun).not.toBeNull();
    const succeeded = async () =>
      (await database.db.selectFrom('sync_runs').select('id').where('status', '=', 'succeeded').execute()).length;
    await waitUntil(async () => (await succeeded()) >= 2);
    await Promise.all(syncs.map((sync) => sync.stop()));
    const runs = await database.db.selectFrom('sync_runs').select(['started_at', 'status', 'mode']).orderBy('id').execute();
    const seconds = runs.map((run) => Math.floor(new Date(run.started_at).getTime() / 1000));
    expect(new Set(seconds).size).toBe(runs.length);
    expect(runs.every((run) => run.mode === 'execute')).toBe(true);
    // stop() aborts a run under way (shutdown never waits for a feed): only the last run may have been cut short.
    expect(runs.slice(0, -1).every((run) => run.status === 'succeeded')).toBe(true);
  });
});

function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  return until(condition, 'the sync to get there');
}
