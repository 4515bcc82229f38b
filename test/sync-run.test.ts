import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { priceAt, priceHistory, writePriceVersion } from '../src/catalog/catalog-store.js';
import { silentLogger } from '../src/logging/logger.js';
import { Decimal } from '../src/money/decimal.js';
import { AlertService } from '../src/sync/alerts.js';
import { runSync, type SyncDependencies, type SyncRequest } from '../src/sync/run-sync.js';
import { backends, type TestDatabase } from './support/backends.js';
import { startFeedServer, type FeedServer } from './support/feed-server.js';

const GPT_4O = 'openrouter/openai/gpt-4o';
const GPT_4O_MINI = 'openrouter/openai/gpt-4o-mini';
const DEEPSEEK = 'openrouter/deepseek/deepseek-v4-flash-0731';
const CLAUDE_ON_BEDROCK = 'anthropic.claude-sonnet-4-20250514-v1:0';

describe.each(backends())('price sync runs on $name', (backend) => {
  let feeds: FeedServer;
  let database: TestDatabase;
  let dependencies: SyncDependencies;
  let pricesChanged: number;

  beforeAll(async () => {
    feeds = await startFeedServer();
  });
  afterAll(async () => {
    await feeds.close();
  });
  beforeEach(async () => {
    database = await backend.open();
    pricesChanged = 0;
    dependencies = {
      database,
      logger: silentLogger(),
      alerts: new AlertService({ database, logger: silentLogger(), webhookUrl: undefined }),
      maxChangeRatio: Decimal.parse('10'),
      // A guard only; the one test of the timeout sets its own.
      timeoutMs: 600_000,
      onPricesChanged: async () => {
        pricesChanged += 1;
      },
    };
  });
  afterEach(async () => {
    await database.close();
  });

  const openrouter = (file: string, execute: boolean, extra: Partial<SyncRequest> = {}) =>
    runSync({ source: 'openrouter', url: feeds.url(file), execute, ...extra }, dependencies);
  const count = async (table: 'models' | 'model_prices' | 'alerts') =>
    Number(
      (
        await database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  /** Registers the seven-model feed's five priced models, then waits so later versions start strictly after. */
  const registerBase = async () => {
    const result = await openrouter('openrouter-models.json', true, { registerNewModels: true });
    expect(result.summary.registered).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return result;
  };

  it('a dry run reports the new models and writes no model and no price', async () => {
    const result = await openrouter('openrouter-models.json', false, { registerNewModels: true });
    expect(result.status).toBe('succeeded');
    expect(result.mode).toBe('dry-run');
    // 7 models: the free one (all zero) is skipped, the router with price "-1" is a notice, not an entry.
    expect(result.summary).toMatchObject({ entries: 6, newModels: 5, registered: 0, applied: 0, heldBack: 0 });
    expect(result.newModels.map((model) => model.modelId)).toContain(GPT_4O);
    expect(await count('models')).toBe(0);
    expect(await count('model_prices')).toBe(0);
    expect(pricesChanged).toBe(0);
    const run = await database.db.selectFrom('sync_runs').selectAll().executeTakeFirstOrThrow();
    expect(run).toMatchObject({ source: 'openrouter', mode: 'dry-run', status: 'succeeded' });
  });

  it('registers new models only when asked, with their exact feed prices', async () => {
    const reported = await openrouter('openrouter-models.json', true);
    expect(reported.summary).toMatchObject({ newModels: 5, registered: 0 });
    expect(await count('models')).toBe(0);
    await registerBase();
    const price = await priceAt(database.db, GPT_4O);
    expect(price?.rates.input.toString()).toBe('0.0000025');
    expect(price?.rates.output.toString()).toBe('0.00001');
    expect(price?.rates.cacheRead?.toString()).toBe('0.00000125');
    expect(price?.source).toBe('sync:openrouter');
    // qwen3.7-flash's long-context overrides: from 32,000 and from 256,000 prompt tokens on.
    const qwen = await priceAt(database.db, 'openrouter/qwen/qwen3.7-flash');
    expect(qwen?.tiers.map((tier) => [tier.aboveInputTokens, tier.rates.input?.toString()])).toEqual([
      [31_999, '0.0000001'],
      [255_999, '0.0000002'],
    ]);
    expect(pricesChanged).toBe(1);
  });

  it('applies a doubled price as a new version and keeps the old one for earlier times', async () => {
    await registerBase();
    const before = new Date();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await openrouter('openrouter-price-doubled.json', true);
    expect(result.status).toBe('succeeded');
    expect(result.summary).toMatchObject({ changed: 1, applied: 1, heldBack: 0, unchanged: 4 });
    expect(result.changes[0]).toMatchObject({ modelId: GPT_4O, applied: true, firstPrice: false });
    expect(result.changes[0]!.rates).toEqual([
      { rate: 'input', old: '0.0000025', new: '0.000005', ratio: '2.0000' },
      { rate: 'output', old: '0.00001', new: '0.00002', ratio: '2.0000' },
      { rate: 'cache_read', old: '0.00000125', new: '0.0000025', ratio: '2.0000' },
    ]);
    expect((await priceAt(database.db, GPT_4O))?.rates.input.toString()).toBe('0.000005');
    expect((await priceAt(database.db, GPT_4O, before))?.rates.input.toString()).toBe('0.0000025');
    const history = await priceHistory(database.db, GPT_4O);
    expect(history).toHaveLength(2);
    expect(history[0]!.effectiveUntil?.getTime()).toBe(history[1]!.effectiveFrom?.getTime());
    expect(pricesChanged).toBe(2);
    // Running the same feed again changes nothing.
    const again = await openrouter('openrouter-price-doubled.json', true);
    expect(again.summary).toMatchObject({ changed: 0, unchanged: 5 });
    expect(await count('model_prices')).toBe(6);
  });

  it('holds back a 1000x unit mistake and alerts, leaving the price as it was', async () => {
    await registerBase();
    const result = await openrouter('openrouter-unit-mistake.json', true);
    expect(result.status).toBe('succeeded');
    expect(result.summary).toMatchObject({ changed: 0, applied: 0, heldBack: 1 });
    expect(result.heldBack[0]!.modelId).toBe(GPT_4O_MINI);
    expect(result.heldBack[0]!.reasons[0]).toBe('input changes 1000.0000x (0.00000015 to 0.00015 USD), beyond the 10x limit');
    expect((await priceAt(database.db, GPT_4O_MINI))?.rates.input.toString()).toBe('0.00000015');
    expect(await count('model_prices')).toBe(5);
    const alerts = await dependencies.alerts.list({ kind: 'held_back_change' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.message).toContain(GPT_4O_MINI);
  });

  it('reports a model gone from the feed without touching its price', async () => {
    await registerBase();
    const result = await openrouter('openrouter-model-removed.json', true);
    expect(result.summary).toMatchObject({ gone: 1, changed: 0, unchanged: 4 });
    expect(result.gone).toEqual([DEEPSEEK]);
    expect((await priceAt(database.db, DEEPSEEK))?.rates.input.toString()).toBe('0.00000014');
  });

  it("keeps a price another source set (an admin's), unless the run adopts it", async () => {
    await registerBase();
    const adminRates = { input: Decimal.parse('0.000003'), output: Decimal.parse('0.000012') };
    await writePriceVersion(database.db, GPT_4O, { rates: adminRates, tiers: [] }, 'admin', new Date());
    await new Promise((resolve) => setTimeout(resolve, 5));
    const kept = await openrouter('openrouter-price-doubled.json', true);
    expect(kept.summary).toMatchObject({ changed: 0, applied: 0, otherSource: 1 });
    expect(kept.otherSource[0]).toMatchObject({ modelId: GPT_4O, currentSource: 'admin' });
    expect(kept.otherSource[0]!.rates[0]).toEqual({ rate: 'input', old: '0.000003', new: '0.000005', ratio: '1.6667' });
    expect((await priceAt(database.db, GPT_4O))?.source).toBe('admin');
    const adopted = await openrouter('openrouter-price-doubled.json', true, { adoptOtherSources: true });
    expect(adopted.summary).toMatchObject({ applied: 1, otherSource: 0 });
    const price = await priceAt(database.db, GPT_4O);
    expect([price?.source, price?.rates.input.toString()]).toEqual(['sync:openrouter', '0.000005']);
  });

  it.each([
    ['malformed JSON', 'openrouter-malformed.json', 'malformed JSON'],
    // The hanging feed never finishes by itself (before the test's own timeout): only the fetch timeout ends it.
    ['a hanging response', 'hang', 'no complete response within 300 ms'],
    ['an HTTP error', 'status/503', 'HTTP 503'],
  ])('%s changes nothing and records a failed run', async (_name, file, message) => {
    await registerBase();
    if (file === 'hang') dependencies.timeoutMs = 300;
    const result = await openrouter(file, true);
    expect(result.status).toBe('failed');
    expect(result.error).toContain(message);
    expect(result.summary.applied).toBe(0);
    expect(await count('model_prices')).toBe(5);
    const run = await database.db.selectFrom('sync_runs').selectAll().where('id', '=', result.runId).executeTakeFirstOrThrow();
    expect(run.status).toBe('failed');
    expect(run.error).toContain(message);
    expect(run.finished_at).not.toBeNull();
    const alerts = await dependencies.alerts.list({ kind: 'sync_failed' });
    expect(alerts[0]!.message).toContain(message);
  });

  it("closes a run a stopped process left 'running' as interrupted, and leaves finished runs alone", async () => {
    const finished = await openrouter('openrouter-models.json', false);
    // What a process killed mid-run leaves behind: the row it inserted first, never finished.
    const stale = await database.db
      .insertInto('sync_runs')
      .values({ source: 'litellm', url: feeds.url('litellm-models.json'), mode: 'execute', status: 'running' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const result = await openrouter('openrouter-models.json', false);
    expect(result.status).toBe('succeeded');
    const rows = await database.db.selectFrom('sync_runs').selectAll().orderBy('id').execute();
    expect(rows.map((row) => [row.id, row.status])).toEqual([
      [finished.runId, 'succeeded'],
      [stale.id, 'failed'],
      [result.runId, 'succeeded'],
    ]);
    const closed = rows[1]!;
    expect(closed.error).toBe('interrupted: the process running it stopped before it finished');
    expect([closed.finished_at, closed.result]).toEqual([null, null]);
    expect(rows[0]!.error).toBeNull();
  });

  it('holds back a 100x change of a long-context tier rate alone, leaving the tier as it was', async () => {
    const litellm = (file: string) =>
      runSync({ source: 'litellm', url: feeds.url(file), execute: true, registerNewModels: true }, dependencies);
    expect((await litellm('litellm-models.json')).status).toBe('succeeded');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await litellm('litellm-tier-unit-mistake.json');
    expect(result.status).toBe('succeeded');
    const held = result.heldBack.find((change) => change.modelId === CLAUDE_ON_BEDROCK);
    expect(held?.tierRates).toEqual([
      { aboveInputTokens: 200_000, rates: [{ rate: 'input', old: '0.000006', new: '0.0006', ratio: '100.0000' }] },
    ]);
    expect(held?.reasons).toEqual([
      'tier above 200000 tokens: input changes 100.0000x (0.000006 to 0.0006 USD), beyond the 10x limit',
    ]);
    expect(result.summary.applied).toBe(0);
    expect((await priceAt(database.db, CLAUDE_ON_BEDROCK))?.tiers[0]?.rates.input?.toString()).toBe('0.000006');
    const alerts = await dependencies.alerts.list({ kind: 'held_back_change' });
    expect(alerts[0]?.message).toContain(CLAUDE_ON_BEDROCK);
  });

  it('holds back a LiteLLM entry with per-1M prices in its per-token fields (litellm#38167)', async () => {
    const result = await runSync(
      { source: 'litellm', url: feeds.url('litellm-models.json'), execute: true, registerNewModels: true },
      dependencies,
    );
    expect(result.status).toBe('succeeded');
    expect(result.summary.registered).toBe(3);
    const held = result.heldBack.find((change) => change.modelId === 'wandb/deepseek-ai/DeepSeek-R1-0528');
    expect(held?.reasons[0]).toContain('input is 0.135 USD per token ($135000 per 1M)');
    expect(await priceAt(database.db, 'wandb/deepseek-ai/DeepSeek-R1-0528')).toBeUndefined();
    const claude = await priceAt(database.db, 'anthropic.claude-sonnet-4-20250514-v1:0');
    expect(claude?.rates.input.toString()).toBe('0.000003');
    expect(claude?.tiers[0]?.rates.input?.toString()).toBe('0.000006');
  });
});
