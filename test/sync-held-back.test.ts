import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { priceAt, priceHistory, writePriceVersion } from '../src/catalog/catalog-store.js';
import { silentLogger } from '../src/logging/logger.js';
import { Decimal } from '../src/money/decimal.js';
import { AlertService } from '../src/sync/alerts.js';
import { decideHeldBack, HeldBackDecisionError, pendingHeldBack } from '../src/sync/held-back-changes.js';
import { runSync, type SyncDependencies, type SyncResult } from '../src/sync/run-sync.js';
import { getSyncRun, listSyncRuns } from '../src/sync/sync-history.js';
import { backends, type TestDatabase } from './support/backends.js';
import { startFeedServer, type FeedServer } from './support/feed-server.js';

const GPT_4O_MINI = 'openrouter/openai/gpt-4o-mini';

/**
 * A change the sync held back (a 1000x unit mistake in the feed) waits for an operator: approving it writes
 * exactly the feed's price as a new version, rejecting it writes nothing, either is recorded once, and an
 * approval judged against a price that has since changed is refused.
 */
describe.each(backends())('held-back sync changes on $name', (backend) => {
  let feeds: FeedServer;
  let database: TestDatabase;
  let dependencies: SyncDependencies;

  beforeAll(async () => {
    feeds = await startFeedServer();
  });
  afterAll(async () => {
    await feeds.close();
  });
  beforeEach(async () => {
    database = await backend.open();
    dependencies = {
      database,
      logger: silentLogger(),
      alerts: new AlertService({ database, logger: silentLogger(), webhookUrl: undefined }),
      maxChangeRatio: Decimal.parse('10'),
      // Generous: the feed is on loopback, but a busy machine can stall any fetch for seconds.
      timeoutMs: 60_000,
    };
    const base = await runSync(
      { source: 'openrouter', url: feeds.url('openrouter-models.json'), execute: true, registerNewModels: true },
      dependencies,
    );
    expect([base.status, base.error]).toEqual(['succeeded', null]);
  });
  afterEach(async () => {
    await database.close();
  });

  const holdBackUnitMistake = async (execute = true): Promise<SyncResult> => {
    const result = await runSync({ source: 'openrouter', url: feeds.url('openrouter-unit-mistake.json'), execute }, dependencies);
    expect([result.status, result.error]).toEqual(['succeeded', null]);
    expect(result.summary.heldBack).toBe(1);
    return result;
  };
  const refusal = async (work: Promise<unknown>) => {
    const error = await work.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(HeldBackDecisionError);
    return error as HeldBackDecisionError;
  };

  it('keeps the whole proposed price with the change, and lists it as pending', async () => {
    const before = await priceAt(database.db, GPT_4O_MINI);
    const result = await holdBackUnitMistake();
    expect(result.heldBack[0]!.proposed).toMatchObject({
      rates: { input: '0.00015', output: '0.0006' },
      replacesVersion: before!.version,
    });
    const pending = await pendingHeldBack(database);
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({
      runId: result.runId,
      index: 0,
      source: 'openrouter',
      approvable: true,
      change: { modelId: GPT_4O_MINI },
    });
    const runs = await listSyncRuns(database.db, { limit: 10 });
    expect(runs.data.map((run) => [run.runId, run.undecided, run.summary?.heldBack])).toEqual([
      [result.runId, 1, 1],
      [result.runId - 1, 0, 0],
    ]);
  });

  it('approving writes the proposed price as a new version labelled as the feed, once', async () => {
    const result = await holdBackUnitMistake();
    const decided = await decideHeldBack(database, {
      runId: result.runId,
      index: 0,
      action: 'approve',
      note: 'confirmed with the provider',
    });
    expect(decided.pricesChanged).toBe(true);
    const current = await priceAt(database.db, GPT_4O_MINI);
    expect(current?.version).toBe(decided.decision.version);
    expect(current?.rates.input.toString()).toBe('0.00015');
    expect(current?.rates.output.toString()).toBe('0.0006');
    expect(current?.source).toBe('sync:openrouter');
    expect(await priceHistory(database.db, GPT_4O_MINI)).toHaveLength(2);
    const stored = (await getSyncRun(database.db, result.runId)) as SyncResult;
    expect(stored.heldBack[0]!.decision).toMatchObject({
      action: 'approved',
      note: 'confirmed with the provider',
      version: current?.version,
    });
    expect(await pendingHeldBack(database)).toEqual([]);
    expect((await listSyncRuns(database.db, { limit: 1 })).data[0]!.undecided).toBe(0);
    const again = await refusal(decideHeldBack(database, { runId: result.runId, index: 0, action: 'reject' }));
    expect([again.status, again.message]).toEqual([409, `${GPT_4O_MINI}: this change was already approved`]);
    // The next run of the same feed finds the price already in force: nothing left to hold back.
    const next = await runSync(
      { source: 'openrouter', url: feeds.url('openrouter-unit-mistake.json'), execute: true },
      dependencies,
    );
    expect(next.summary).toMatchObject({ heldBack: 0, changed: 0 });
  });

  it('rejecting writes no price and records the decision', async () => {
    const result = await holdBackUnitMistake();
    const decided = await decideHeldBack(database, { runId: result.runId, index: 0, action: 'reject' });
    expect(decided).toMatchObject({ pricesChanged: false, decision: { action: 'rejected', version: null } });
    expect((await priceAt(database.db, GPT_4O_MINI))?.rates.input.toString()).toBe('0.00000015');
    expect(await pendingHeldBack(database)).toEqual([]);
  });

  it('lists only the newest proposal per model: a feed that repeats itself is decided once', async () => {
    await holdBackUnitMistake();
    const second = await holdBackUnitMistake();
    expect((await pendingHeldBack(database)).map((item) => item.runId)).toEqual([second.runId]);
  });

  it('refuses an approval once the price has changed since the run', async () => {
    const result = await holdBackUnitMistake();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const price = { rates: { input: Decimal.parse('0.0000002'), output: Decimal.parse('0.0000008') }, tiers: [] };
    await writePriceVersion(database.db, GPT_4O_MINI, price, 'admin', new Date());
    const stale = await refusal(decideHeldBack(database, { runId: result.runId, index: 0, action: 'approve' }));
    expect(stale.status).toBe(409);
    expect(stale.message).toContain('its price changed since this run');
    expect((await priceAt(database.db, GPT_4O_MINI))?.rates.input.toString()).toBe('0.0000002');
  });

  it('answers 404 for an unknown run or change, and 409 for a dry run', async () => {
    expect((await refusal(decideHeldBack(database, { runId: 9_999, index: 0, action: 'approve' }))).status).toBe(404);
    const dry = await holdBackUnitMistake(false);
    expect((await refusal(decideHeldBack(database, { runId: dry.runId, index: 5, action: 'approve' }))).status).toBe(404);
    const dryRefusal = await refusal(decideHeldBack(database, { runId: dry.runId, index: 0, action: 'approve' }));
    expect([dryRefusal.status, dryRefusal.message]).toEqual([
      409,
      `sync run ${dry.runId} was a dry run: run the sync with execute to act on its changes`,
    ]);
    expect(await pendingHeldBack(database)).toEqual([]);
  });

  it('pages through runs newest first', async () => {
    await holdBackUnitMistake(false);
    await holdBackUnitMistake(false);
    const first = await listSyncRuns(database.db, { limit: 2 });
    const second = await listSyncRuns(database.db, { limit: 2, cursor: first.nextCursor! });
    const ids = [...first.data, ...second.data].map((run) => run.runId);
    expect(ids).toHaveLength(3);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(second.nextCursor).toBeNull();
  });
});
